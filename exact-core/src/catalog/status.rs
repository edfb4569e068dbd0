//! The administration status of a catalog (superusers only): how many users, teams, sets,
//! images (by pixel state) and annotations (live, marked deleted, in the trash) it holds, and the images whose upload failed, most
//! recent first, with the reason. One pass over the records; annotations are counted per image
//! from the maintained counts (from the spatial grid while those are not built).

use super::{AnnotationQuery, Catalog};
use crate::ids::{ImageId, ImageSetId};
use crate::model::{Image, ImageSet, PixelState, Team, User};
use crate::permissions::Actor;
use crate::store::Index;
use crate::time::Timestamp;
use crate::{Error, Result};

/// How many failed uploads [`Catalog::status`] lists at most.
pub const RECENT_FAILURES: usize = 20;

/// An image whose pixels could not be made servable.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedImage {
    /// The image.
    pub id: ImageId,
    /// Its set.
    pub image_set: ImageSetId,
    /// Its name.
    pub name: String,
    /// When it was uploaded.
    pub time: Timestamp,
    /// Why it failed.
    pub reason: String,
}

/// Counts of what a catalog holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogStatus {
    /// Users (active or not).
    pub users: usize,
    /// Users that may log in.
    pub active_users: usize,
    /// Teams.
    pub teams: usize,
    /// Image sets.
    pub image_sets: usize,
    /// Images ready to serve.
    pub images_ready: usize,
    /// Images still being converted.
    pub images_converting: usize,
    /// Images that failed.
    pub images_failed: usize,
    /// Live annotations.
    pub annotations: usize,
    /// Annotations marked deleted but still listed (`PATCH deleted=true`).
    pub annotations_deleted: usize,
    /// Annotations in the trash (EXACT's DELETE; restorable).
    pub annotations_trashed: usize,
    /// The most recent failed images (at most [`RECENT_FAILURES`]), newest first.
    pub recent_failures: Vec<FailedImage>,
}

impl Catalog {
    /// The catalog's counts and recent failures; only superusers may read them.
    pub fn status(&self, actor: &Actor) -> Result<CatalogStatus> {
        if !actor.superuser {
            return Err(Error::denied("only superusers may read the server status"));
        }
        let users: Vec<User> = self.all()?;
        let images: Vec<Image> = self.all()?;
        let mut s = CatalogStatus {
            users: users.len(),
            active_users: users.iter().filter(|u| u.is_active).count(),
            teams: self.all::<Team>()?.len(),
            image_sets: self.all::<ImageSet>()?.len(),
            ..CatalogStatus::default()
        };
        let everything = AnnotationQuery::everything();
        for i in &images {
            match i.state {
                PixelState::Ready => s.images_ready += 1,
                PixelState::Converting => s.images_converting += 1,
                PixelState::Failed => s.images_failed += 1,
            }
            if let Some(by_type) = self.annotation_counts(i.id)? {
                for c in by_type.values() {
                    s.annotations += c.matching(Some(false)) as usize;
                    s.annotations_deleted += c.matching(Some(true)) as usize;
                }
                continue;
            }
            self.grid_visit(i.id, &everything, &mut |a| {
                if a.deleted {
                    s.annotations_deleted += 1;
                } else {
                    s.annotations += 1;
                }
            })?;
        }
        self.store
            .index_visit(Index::Trash, &[], &[0xFF; 9], &mut |_, _, _| {
                s.annotations_trashed += 1;
                true
            })?;
        let mut failed: Vec<&Image> = images
            .iter()
            .filter(|i| i.state == PixelState::Failed)
            .collect();
        failed.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.0.cmp(&a.id.0)));
        s.recent_failures = failed
            .into_iter()
            .take(RECENT_FAILURES)
            .map(|i| FailedImage {
                id: i.id,
                image_set: i.image_set,
                name: i.name.clone(),
                time: i.time,
                reason: i.state_detail.clone(),
            })
            .collect();
        Ok(s)
    }
}
