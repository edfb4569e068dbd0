//! Set versions: named snapshots of every annotation of some image sets (deleted ones
//! included), and their diff against the live annotations — for reproducible ML datasets.

use super::{Catalog, Tx, check_name};
use crate::ids::{AnnotationId, AnnotationVersionId, ImageId, ImageSetId, SetVersionId};
use crate::keys::Key;
use crate::model::{Annotation, AnnotationVersion, CollaborationType, Image, ImageSet, SetVersion};
use crate::permissions::{Actor, SetRights};
use crate::store::{Index, Kind};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};

use super::query::AnnotationQuery;

/// How a live annotation differs from its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChange {
    /// Created after the snapshot.
    Added,
    /// Vector, type, image or deleted flag changed since the snapshot.
    Changed,
    /// In the snapshot, no longer in the versioned sets.
    Removed,
}

/// One difference between a snapshot and the live annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionDiff {
    /// The annotation.
    pub annotation: AnnotationId,
    /// What changed.
    pub change: VersionChange,
    /// Its state in the snapshot.
    pub snapshot: Option<AnnotationVersion>,
    /// Its live state.
    pub live: Option<Annotation>,
}

/// Set version use cases.
pub struct Versions<'a>(pub(crate) &'a Catalog);

impl Versions<'_> {
    /// Snapshots every annotation of `sets` (the actor must be able to edit each) under a new,
    /// unique `name`, in one atomic batch.
    pub fn create(&self, actor: &Actor, name: &str, sets: &[ImageSetId]) -> Result<SetVersion> {
        check_name("name", name, 1, 100)?;
        let c = self.0;
        let mut sets = sets.to_vec();
        sets.sort();
        sets.dedup();
        for &s in &sets {
            let (_, rights) = c.readable_set(actor, s)?;
            if !rights.edit_set {
                return Err(Error::denied(format!("no rights to snapshot {s}")));
            }
        }
        let live = self.live(&sets)?;
        let mut tx = Tx::default();
        let version = tx.insert(
            c,
            SetVersion {
                id: SetVersionId(0),
                name: name.to_owned(),
                imagesets: sets,
                time: c.now(),
                file: None,
                creator: Some(actor.user),
            },
        )?;
        let first = c
            .store
            .allocate_ids(Kind::AnnotationVersion, live.len() as u64)?;
        for (i, a) in live.values().enumerate() {
            tx.push_new(
                &snapshot_of(AnnotationVersionId(first + i as u64), version.id, a),
                Vec::new(),
            );
        }
        tx.commit(c)?;
        Ok(version)
    }

    /// A version whose sets the actor may all read.
    pub fn get(&self, actor: &Actor, id: SetVersionId) -> Result<SetVersion> {
        let v: SetVersion = self.0.load(id.0)?;
        if v.imagesets
            .iter()
            .all(|s| self.0.readable_set(actor, *s).is_ok())
        {
            Ok(v)
        } else {
            Err(Error::not_found(id))
        }
    }

    /// Every version the actor may read, by id.
    pub fn list(&self, actor: &Actor) -> Result<Vec<SetVersion>> {
        Ok(self
            .0
            .all::<SetVersion>()?
            .into_iter()
            .filter(|v| {
                v.imagesets
                    .iter()
                    .all(|s| self.0.readable_set(actor, *s).is_ok())
            })
            .collect())
    }

    /// The snapshot's annotation states the actor may see, by annotation id: in a
    /// competitive set a member sees only their own, as in the live set.
    pub fn annotations(&self, actor: &Actor, id: SetVersionId) -> Result<Vec<AnnotationVersion>> {
        let version = self.get(actor, id)?;
        let mut snaps: Vec<AnnotationVersion> = self.0.by_index(
            Index::AnnotationVersionByVersion,
            &Key::new().u64(id.0).build(),
        )?;
        let seen = self.seer(actor, &version)?;
        if !seen.everything() {
            let mut keep = Vec::with_capacity(snaps.len());
            for snap in snaps {
                // Creators never change, so the live annotation tells whose the snapshot is.
                if let Some(a) = self.0.find_annotation(snap.annotation)?
                    && seen.sees(&a)
                {
                    keep.push(snap);
                }
            }
            snaps = keep;
        }
        Ok(snaps)
    }

    /// Who sees what in the sets of `version`: per image, the set and the actor's rights.
    fn seer<'a>(&self, actor: &'a Actor, version: &SetVersion) -> Result<Seer<'a>> {
        let mut sets = HashMap::new();
        for s in &version.imagesets {
            let (set, rights) = self.0.readable_set(actor, *s)?;
            sets.insert(set.id, (set, rights));
        }
        let mut images = HashMap::new();
        for s in &version.imagesets {
            for image in self
                .0
                .by_index::<Image>(Index::ImageBySet, &Key::new().u64(s.0).build())?
            {
                images.insert(image.id, image.image_set);
            }
        }
        Ok(Seer {
            actor,
            sets,
            images,
        })
    }

    /// What changed in the versioned sets since the snapshot, by annotation id (of the
    /// annotations the actor may see).
    pub fn diff(&self, actor: &Actor, id: SetVersionId) -> Result<Vec<VersionDiff>> {
        let version = self.get(actor, id)?;
        let mut live = self.live(&version.imagesets)?;
        let seen = self.seer(actor, &version)?;
        live.retain(|_, a| seen.sees(a));
        let mut out = Vec::new();
        for snap in self.annotations(actor, id)? {
            let now = live.remove(&snap.annotation);
            let change = match &now {
                None => Some(VersionChange::Removed),
                Some(a) if snapshot_of(snap.id, snap.version, a) != snap => {
                    Some(VersionChange::Changed)
                }
                Some(_) => None,
            };
            if let Some(change) = change {
                out.push(VersionDiff {
                    annotation: snap.annotation,
                    change,
                    snapshot: Some(snap),
                    live: now,
                });
            }
        }
        out.extend(live.into_values().map(|a| VersionDiff {
            annotation: a.id,
            change: VersionChange::Added,
            snapshot: None,
            live: Some(a),
        }));
        out.sort_by_key(|d| d.annotation);
        Ok(out)
    }

    fn live(&self, sets: &[ImageSetId]) -> Result<BTreeMap<AnnotationId, Annotation>> {
        let c = self.0;
        let all = AnnotationQuery {
            deleted: None,
            ..Default::default()
        };
        let mut out = BTreeMap::new();
        for &s in sets {
            for image in c.by_index::<Image>(Index::ImageBySet, &Key::new().u64(s.0).build())? {
                out.extend(c.grid_scan(image.id, &all)?.into_iter().map(|a| (a.id, a)));
            }
        }
        Ok(out)
    }
}

/// Decides which annotations of a version's sets an actor sees.
struct Seer<'a> {
    actor: &'a Actor,
    sets: HashMap<ImageSetId, (ImageSet, SetRights)>,
    images: HashMap<ImageId, ImageSetId>,
}

impl Seer<'_> {
    /// Whether the actor sees every annotation of every set (no filtering needed).
    fn everything(&self) -> bool {
        self.sets.values().all(|(set, rights)| {
            rights.see_all || set.collaboration_type != CollaborationType::Competitive
        })
    }

    fn sees(&self, a: &Annotation) -> bool {
        self.images
            .get(&a.image)
            .and_then(|s| self.sets.get(s))
            .is_some_and(|(set, rights)| self.actor.sees(set, rights, a))
    }
}

fn snapshot_of(
    id: AnnotationVersionId,
    version: SetVersionId,
    a: &Annotation,
) -> AnnotationVersion {
    AnnotationVersion {
        id,
        version,
        annotation: a.id,
        image: a.image,
        annotation_type: a.annotation_type,
        deleted: a.deleted,
        vector: a.vector.clone(),
    }
}
