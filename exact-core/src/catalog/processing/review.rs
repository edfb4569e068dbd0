//! The review queue: model proposals, lowest score first, accepted or rejected in bulk.

use super::*;

/// Which proposals a review takes: model-made annotations (`meta_data.generated == true`),
/// optionally of one class and within a score range.
#[derive(Debug, Clone, Default)]
pub struct ProposalFilter {
    /// Only this annotation type.
    pub annotation_type: Option<AnnotationTypeId>,
    /// Only scores ≥ this.
    pub min_score: Option<f64>,
    /// Only scores < this.
    pub max_score: Option<f64>,
    /// Only these annotations (at most [`MAX_REVIEW_IDS`]); each must be a live proposal the
    /// actor sees on the images given (or on any image when none are given) that passes the
    /// other filters, else the review is refused naming it: one proposal can be accepted or
    /// rejected by id.
    pub ids: Option<Vec<AnnotationId>>,
}

/// The most ids one review may name.
pub const MAX_REVIEW_IDS: usize = 10_000;

fn score_of(a: &crate::model::Annotation) -> f64 {
    a.meta_data
        .get("score")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn is_proposal(a: &crate::model::Annotation) -> bool {
    a.meta_data.get("generated").and_then(Value::as_bool) == Some(true)
}

impl Processing<'_> {
    /// The images of a set the actor reads.
    pub fn images_of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<ImageId>> {
        self.0.readable_set(actor, set)?;
        Ok(self
            .0
            .by_index::<Image>(Index::ImageBySet, &Key::new().u64(set.0).build())?
            .into_iter()
            .filter(|i| !i.deleted)
            .map(|i| i.id)
            .collect())
    }

    /// The live proposals on `images` the actor sees that pass `filter`, lowest score first
    /// (the review queue: the least certain proposals are looked at first), then by id.
    pub fn proposals(
        &self,
        actor: &Actor,
        images: &[ImageId],
        filter: &ProposalFilter,
    ) -> Result<Vec<crate::model::Annotation>> {
        if let Some(ids) = &filter.ids {
            return self.proposals_by_id(actor, images, filter, ids);
        }
        let query = crate::catalog::AnnotationQuery {
            annotation_types: filter.annotation_type.map(|t| vec![t]),
            ..Default::default()
        };
        let mut out = Vec::new();
        for image in images {
            for a in self.0.annotations().query(actor, *image, &query)? {
                let s = score_of(&a);
                let keep = is_proposal(&a)
                    && filter.min_score.is_none_or(|m| s >= m)
                    && filter.max_score.is_none_or(|m| s < m);
                if keep {
                    out.push(a);
                }
            }
        }
        out.sort_by(|a, b| score_of(a).total_cmp(&score_of(b)).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The proposals `ids` names, checked one by one (see [`ProposalFilter::ids`]), in the
    /// queue's order.
    fn proposals_by_id(
        &self,
        actor: &Actor,
        images: &[ImageId],
        filter: &ProposalFilter,
        ids: &[AnnotationId],
    ) -> Result<Vec<crate::model::Annotation>> {
        if ids.is_empty() {
            return Err(Error::invalid("ids", "give at least one annotation id"));
        }
        if ids.len() > MAX_REVIEW_IDS {
            return Err(Error::invalid(
                "ids",
                format!("at most {MAX_REVIEW_IDS} ids per review"),
            ));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            let a = self
                .0
                .annotations()
                .get(actor, *id)
                .map_err(|e| field_of(e, "ids"))?;
            let why = if a.deleted {
                Some("is deleted")
            } else if !is_proposal(&a) {
                Some("is not an unreviewed model proposal")
            } else if !images.is_empty() && !images.contains(&a.image) {
                Some("is not on the image or set given")
            } else if filter
                .annotation_type
                .is_some_and(|t| t != a.annotation_type)
            {
                Some("is not of the annotation type given")
            } else if filter
                .min_score
                .is_some_and(|m| score_of(&a).total_cmp(&m).is_lt())
                || filter
                    .max_score
                    .is_some_and(|m| score_of(&a).total_cmp(&m).is_ge())
                || (score_of(&a).is_nan() && (filter.min_score, filter.max_score) != (None, None))
            {
                Some("has a score outside the range given")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::invalid("ids", format!("annotation {} {why}", id.0)));
            }
            out.push(a);
        }
        out.sort_by(|a, b| score_of(a).total_cmp(&score_of(b)).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Accepts (`accept`) or rejects the proposals `filter` selects, all in one atomic batch:
    /// accepting clears `generated` (the annotation becomes a normal one; its history keeps
    /// the proposal), rejecting soft-deletes them (restorable from their history). Returns
    /// the annotations as written.
    pub fn review(
        &self,
        actor: &Actor,
        images: &[ImageId],
        filter: &ProposalFilter,
        accept: bool,
    ) -> Result<Vec<crate::model::Annotation>> {
        let found = self.proposals(actor, images, filter)?;
        if accept {
            let patches = found
                .into_iter()
                .map(|a| {
                    let mut meta = a.meta_data.clone();
                    if let Some(m) = meta.as_object_mut() {
                        m.insert("generated".into(), Value::Bool(false));
                        m.insert("accepted_by".into(), Value::from(actor.user.0));
                    }
                    let patch = crate::catalog::AnnotationPatch {
                        meta_data: Some(meta),
                        ..Default::default()
                    };
                    (a.id, patch)
                })
                .collect();
            self.0.annotations().update_many(actor, patches)
        } else {
            let ids: Vec<AnnotationId> = found.iter().map(|a| a.id).collect();
            self.0.annotations().delete_many(actor, &ids)
        }
    }
}
