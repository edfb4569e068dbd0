//! Viewport queries: one image's annotations whose bbox intersects a rectangle, read from the
//! spatial grid ([`crate::grid`]) whose entries carry the whole annotation, then filtered.

use super::annotations::Annotations;
use crate::Result;
use crate::geometry::BBox;
use crate::ids::{AnnotationTypeId, ImageId, UserId};
use crate::model::Annotation;
use crate::permissions::Actor;
use crate::time::Timestamp;

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
    /// Live annotations intersecting `viewport`.
    pub fn viewport(viewport: BBox) -> Self {
        AnnotationQuery {
            viewport: Some(viewport),
            ..Default::default()
        }
    }

    /// Whether `a` passes every filter (the reference semantics of a query).
    pub fn matches(&self, a: &Annotation) -> bool {
        if let Some(v) = &self.viewport {
            match a.vector.as_ref().and_then(|v| v.bbox()) {
                Some(b) if b.intersects(v) => {}
                _ => return false,
            }
        }
        if self
            .annotation_types
            .as_ref()
            .is_some_and(|ts| !ts.contains(&a.annotation_type))
        {
            return false;
        }
        if self.deleted.is_some_and(|d| d != a.deleted) {
            return false;
        }
        if self.user.is_some_and(|u| a.user != Some(u)) {
            return false;
        }
        if self.edited_since.is_some_and(|t| a.last_edit_time < t) {
            return false;
        }
        true
    }
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
        let (_, set, rights) = c.readable_image(actor, image)?;
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
        let (_, set, rights) = c.readable_image(actor, image)?;
        c.grid_visit(image, query, &mut |a| {
            if actor.sees(&set, &rights, &a) {
                f(a);
            }
        })
    }

    /// How many annotations of `image` match `query` for the actor.
    pub fn count(&self, actor: &Actor, image: ImageId, query: &AnnotationQuery) -> Result<usize> {
        self.query(actor, image, query).map(|v| v.len())
    }
}
