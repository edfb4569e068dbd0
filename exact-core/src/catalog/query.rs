//! Viewport queries: one image's annotations whose bbox intersects a rectangle, read from the
//! spatial grid ([`crate::grid`]) whose entries carry the whole annotation, then filtered.

use super::annotations::Annotations;
use crate::codec::AnnotationHeader;
use crate::geometry::BBox;
use crate::ids::{AnnotationTypeId, AnnotationVersionId, ImageId, MediaFileId, UserId};
use crate::keys::Key;
use crate::model::{
    Annotation, AnnotationMediaFile, AnnotationVersion, Image, SetVersion, Verification,
};
use crate::permissions::Actor;
use crate::store::{Index, Kind};
use crate::time::Timestamp;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// What EXACT's annotation serializer derives per annotation, for one requester.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationExtras {
    /// The requester gave this annotation a positive verification.
    pub verified_by_user: bool,
    /// Its media files.
    pub uploaded_media_files: Vec<MediaFileId>,
    /// Its snapshots in set versions.
    pub annotationversion_set: Vec<AnnotationVersionId>,
}

/// Filters of a viewport query. The default returns every live annotation of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationQuery {
    /// Only annotations whose bbox intersects this rectangle (edges touching count); `None`
    /// returns all, including those without geometry.
    pub viewport: Option<BBox>,
    /// Only these types.
    pub annotation_types: Option<Vec<AnnotationTypeId>>,
    /// `Some(false)` (the default): live ones; `Some(true)`: deleted ones; `None`: both.
    pub deleted: Option<bool>,
    /// Only those created by this user.
    pub user: Option<UserId>,
    /// Only those with `last_edit_time >= t` (polling for others' edits).
    pub edited_since: Option<Timestamp>,
}

impl Default for AnnotationQuery {
    fn default() -> Self {
        AnnotationQuery {
            viewport: None,
            annotation_types: None,
            deleted: Some(false),
            user: None,
            edited_since: None,
        }
    }
}

impl AnnotationQuery {
    /// Every annotation, deleted ones included.
    pub fn everything() -> Self {
        AnnotationQuery {
            deleted: None,
            ..Default::default()
        }
    }

    /// Live annotations intersecting `viewport`.
    pub fn viewport(viewport: BBox) -> Self {
        AnnotationQuery {
            viewport: Some(viewport),
            ..Default::default()
        }
    }

    /// Whether an annotation with header `h` passes the filters that read no more than its
    /// header (all but the viewport).
    pub fn matches_header(&self, h: &AnnotationHeader) -> bool {
        !(self
            .annotation_types
            .as_ref()
            .is_some_and(|ts| !ts.contains(&h.annotation_type))
            || self.deleted.is_some_and(|d| d != h.deleted)
            || self.user.is_some_and(|u| h.user != Some(u))
            || self.edited_since.is_some_and(|t| h.last_edit_time < t))
    }

    /// Whether `a` passes every filter (the reference semantics of a query).
    pub fn matches(&self, a: &Annotation) -> bool {
        if let Some(v) = &self.viewport {
            match a.vector.as_ref().and_then(|v| v.bbox()) {
                Some(b) if b.intersects(v) => {}
                _ => return false,
            }
        }
        self.matches_header(&AnnotationHeader {
            annotation_type: a.annotation_type,
            user: a.user,
            last_edit_time: a.last_edit_time,
            deleted: a.deleted,
        })
    }
}

/// `query` with its viewport checked (finite sides) and clamped to the image with a margin of
/// one image size on each side (annotations may overhang the slide's edge). With image sides
/// bounded ([`crate::limits::MAX_IMAGE_SIDE`]) this bounds the cells a query walks, whatever
/// rectangle a client sends.
pub(super) fn bounded(query: &AnnotationQuery, image: &Image) -> Result<AnnotationQuery> {
    let Some(v) = &query.viewport else {
        return Ok(query.clone());
    };
    for (side, c) in [
        ("min_x", v.min_x),
        ("min_y", v.min_y),
        ("max_x", v.max_x),
        ("max_y", v.max_y),
    ] {
        if !c.is_finite() {
            return Err(Error::invalid(
                format!("viewport.{side}"),
                format!("{c} is not a finite coordinate"),
            ));
        }
    }
    let (w, h) = (image.width.max(1) as f64, image.height.max(1) as f64);
    let mut q = query.clone();
    q.viewport = Some(BBox::new(
        v.min_x.clamp(-w, 2.0 * w),
        v.min_y.clamp(-h, 2.0 * h),
        v.max_x.clamp(-w, 2.0 * w),
        v.max_y.clamp(-h, 2.0 * h),
    ));
    Ok(q)
}

impl Annotations<'_> {
    /// The annotations of `image` the actor may see that match `query`, by id.
    pub fn query(
        &self,
        actor: &Actor,
        image: ImageId,
        query: &AnnotationQuery,
    ) -> Result<Vec<Annotation>> {
        let c = self.0;
        let (img, set, rights) = c.readable_image(actor, image)?;
        let query = &bounded(query, &img)?;
        let mut out = c.grid_scan(image, query)?;
        out.retain(|a| actor.sees(&set, &rights, a));
        Ok(out)
    }

    /// Like [`Annotations::query`], but streaming: each match the actor may see goes to `f` as
    /// it is decoded, in storage order (grid cell by cell, not by id), and nothing is
    /// collected. For bulk readers that build their own layout (the Python wheel's columns).
    pub fn query_each(
        &self,
        actor: &Actor,
        image: ImageId,
        query: &AnnotationQuery,
        mut f: impl FnMut(Annotation),
    ) -> Result<()> {
        let c = self.0;
        let (img, set, rights) = c.readable_image(actor, image)?;
        let query = &bounded(query, &img)?;
        c.grid_visit(image, query, &mut |a| {
            if actor.sees(&set, &rights, &a) {
                f(a);
            }
        })
    }

    /// How many annotations of `image` match `query` for the actor.
    pub fn count(&self, actor: &Actor, image: ImageId, query: &AnnotationQuery) -> Result<usize> {
        Ok(self.count_by_type(actor, image, query)?.values().sum())
    }

    /// How many annotations of `image` match `query` for the actor, per type (types without
    /// any are absent). Without a viewport, creator or edit-time filter, for an actor who sees
    /// every annotation of the set, this reads the maintained counts (a few small entries).
    /// Otherwise it reads only each record's head (type, creator, edit time, deleted) and,
    /// with a viewport, decodes only those whose integer bounds straddle its edge: counting a
    /// million costs a fraction of listing them.
    pub fn count_by_type(
        &self,
        actor: &Actor,
        image: ImageId,
        query: &AnnotationQuery,
    ) -> Result<BTreeMap<AnnotationTypeId, usize>> {
        let c = self.0;
        let (img, set, rights) = c.readable_image(actor, image)?;
        if let Some(n) = c.counted_by_type(actor, &set, &rights, image, query)? {
            return Ok(n);
        }
        let query = &bounded(query, &img)?;
        let mut seen: Vec<(u64, AnnotationTypeId)> = Vec::new();
        c.grid_heads(image, query, &mut |id, h| {
            if actor.sees_created_by(&set, &rights, h.user) {
                seen.push((id, h.annotation_type));
            }
        })?;
        // An annotation moving between cells during the scan may be met in both.
        seen.sort_unstable_by_key(|s| s.0);
        seen.dedup_by_key(|s| s.0);
        let mut out = BTreeMap::new();
        for (_, t) in seen {
            *out.entry(t).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// The derived fields of `annotations` (as a query returned them), in the same order.
    /// Each annotation's image must be readable and the annotation visible to the actor.
    /// Costs two index lookups per annotation plus one pass over the versions of its sets.
    pub fn extras(
        &self,
        actor: &Actor,
        annotations: &[Annotation],
    ) -> Result<Vec<AnnotationExtras>> {
        let c = self.0;
        let mut images = HashMap::new();
        for a in annotations {
            let (set, rights) = match images.entry(a.image) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let (_, set, rights) = c.readable_image(actor, a.image)?;
                    e.insert((set, rights))
                }
            };
            if !actor.sees(set, rights, a) {
                return Err(Error::not_found(a.id));
            }
        }
        let sets: Vec<_> = images.values().map(|(s, _)| s.id).collect();
        let mut snapshots: HashMap<_, Vec<AnnotationVersionId>> = HashMap::new();
        for v in c.all::<SetVersion>()? {
            if !v.imagesets.iter().any(|s| sets.contains(s)) {
                continue;
            }
            for snap in c.by_index::<AnnotationVersion>(
                Index::AnnotationVersionByVersion,
                &Key::new().u64(v.id.0).build(),
            )? {
                snapshots.entry(snap.annotation).or_default().push(snap.id);
            }
        }
        // Most stores hold no verification or media file at all: then no per-annotation lookup.
        let any = |kind| -> Result<bool> { Ok(!c.store().scan(kind, 0, 1)?.is_empty()) };
        let (verifications, media) = (any(Kind::Verification)?, any(Kind::MediaFile)?);
        let mut out = Vec::with_capacity(annotations.len());
        for a in annotations {
            let mine = if verifications {
                c.by_index::<Verification>(
                    Index::VerificationPair,
                    &Key::new().u64(a.id.0).u64(actor.user.0).build(),
                )?
            } else {
                Vec::new()
            };
            let files = if media {
                c.by_index::<AnnotationMediaFile>(
                    Index::MediaFileName,
                    &Key::new().u64(a.id.0).build(),
                )?
            } else {
                Vec::new()
            };
            let mut versions = snapshots.remove(&a.id).unwrap_or_default();
            versions.sort();
            out.push(AnnotationExtras {
                verified_by_user: mine.iter().any(|v| v.verified),
                uploaded_media_files: files.iter().map(|m| m.id).collect(),
                annotationversion_set: versions,
            });
        }
        Ok(out)
    }
}
