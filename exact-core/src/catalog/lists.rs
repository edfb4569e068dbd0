//! List use cases that span many images — verifications and the open/close log — scoped
//! once: the actor's visible images (and, for verifications, their visible annotations, one
//! scan per image) are worked out first, then the records are read in one pass. Composing
//! them from per-annotation calls costs a permission check and a lookup per annotation.

use super::query::AnnotationQuery;
use super::{LogImageActions, Verifications};
use crate::Result;
use crate::ids::{AnnotationId, ImageId};
use crate::model::{LogImageAction, Verification};
use crate::permissions::Actor;
use std::collections::HashSet;

impl Verifications<'_> {
    /// The verdicts the actor may see, by id: on one annotation, on the annotations of one
    /// image, or on every annotation of every image they can read.
    pub fn list(
        &self,
        actor: &Actor,
        annotation: Option<AnnotationId>,
        image: Option<ImageId>,
    ) -> Result<Vec<Verification>> {
        if let Some(a) = annotation {
            return self.of_annotation(actor, a);
        }
        let images = match image {
            Some(i) => vec![i],
            None => self.0.images().list(actor)?.iter().map(|i| i.id).collect(),
        };
        let all = AnnotationQuery {
            deleted: None,
            ..Default::default()
        };
        let mut visible = HashSet::new();
        for image in images {
            self.0.annotations().query_each(actor, image, &all, |a| {
                visible.insert(a.id);
            })?;
        }
        let mut out: Vec<Verification> = self
            .0
            .all::<Verification>()?
            .into_iter()
            .filter(|v| visible.contains(&v.annotation))
            .collect();
        out.sort_by_key(|v| v.id);
        Ok(out)
    }
}

impl LogImageActions<'_> {
    /// The open/close log the actor may read, by id: of one image, or of every image they can
    /// read.
    pub fn list(&self, actor: &Actor, image: Option<ImageId>) -> Result<Vec<LogImageAction>> {
        if let Some(i) = image {
            return self.of_image(actor, i);
        }
        let visible: HashSet<ImageId> = self.0.images().list(actor)?.iter().map(|i| i.id).collect();
        let mut out: Vec<LogImageAction> = self
            .0
            .all::<LogImageAction>()?
            .into_iter()
            .filter(|l| visible.contains(&l.image))
            .collect();
        out.sort_by_key(|l| l.id);
        Ok(out)
    }
}
