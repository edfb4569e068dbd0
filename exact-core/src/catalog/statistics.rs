//! Per-image statistics (EXACT's statistics panel and `images/api/image/statistics/`) and
//! whole-image verification (`images/api/image/verify/`, the viewer's `f` key).
//!
//! Counts come from [`Annotations::count_by_type`], the one counting function, so whatever
//! makes it faster (counts maintained on write) makes statistics faster too.

use super::annotations::Annotations;
use super::misc::Verifications;
use super::{Tx, query::AnnotationQuery};
use crate::geometry::BBox;
use crate::ids::{AnnotationId, AnnotationTypeId, ImageId, UserId, VerificationId};
use crate::keys::Key;
use crate::model::{AnnotationType, User, Verification};
use crate::permissions::Actor;
use crate::store::{Index, Kind};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// The statistics of one annotation type on one image, as EXACT's panel shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeStatistics {
    /// The type.
    pub annotation_type: AnnotationType,
    /// Live annotations of the type the requester may see.
    pub count: usize,
    /// Those with geometry that lies (at least partly) on the image.
    pub in_image_count: usize,
    /// Those without geometry ("not in image" answers and image-level labels).
    pub not_in_image_count: usize,
    /// Those somebody accepted (at least one positive verification).
    pub verified_count: usize,
    /// Those nobody accepted yet (`count - verified_count`).
    pub unverified_count: usize,
}

impl TypeStatistics {
    /// EXACT's row of the statistics panel: the type's `id`, `name`, `vector_type`,
    /// `color_code`, `sort_order` and the five counts (what the HTTP API and Python return).
    pub fn to_json(&self) -> serde_json::Value {
        let t = &self.annotation_type;
        serde_json::json!({
            "id": t.id,
            "name": t.name,
            "vector_type": t.vector_type,
            "color_code": t.color_code,
            "sort_order": t.sort_order,
            "count": self.count,
            "in_image_count": self.in_image_count,
            "not_in_image_count": self.not_in_image_count,
            "verified_count": self.verified_count,
            "unverified_count": self.unverified_count,
        })
    }
}

impl Annotations<'_> {
    /// Per active annotation type, the counts of the live annotations of `image` the actor
    /// may see, by the types' sort order. Types without annotations on the image are absent.
    ///
    /// Costs two calls of [`Annotations::count_by_type`] plus one read per positive
    /// verification in the store (verdicts are not indexed by image).
    pub fn statistics(&self, actor: &Actor, image: ImageId) -> Result<Vec<TypeStatistics>> {
        let c = self.0;
        let (img, set, rights) = c.readable_image(actor, image)?;
        let all = self.count_by_type(actor, image, &AnnotationQuery::default())?;
        // Everything that touches the image (`count_by_type` clamps the viewport to the image
        // plus one image size of overhang on each side).
        let (w, h) = (img.width.max(1) as f64, img.height.max(1) as f64);
        let in_image = self.count_by_type(
            actor,
            image,
            &AnnotationQuery::viewport(BBox::new(-w, -h, 2.0 * w, 2.0 * h)),
        )?;
        let verified = self.verified_by_type(actor, image, &set, &rights)?;
        let mut out = Vec::with_capacity(all.len());
        for (kind, count) in all {
            let Some(t) = c.find::<AnnotationType>(kind.0)? else {
                continue;
            };
            if !t.active {
                continue;
            }
            let in_image_count = in_image.get(&kind).copied().unwrap_or(0).min(count);
            let verified_count = verified.get(&kind).copied().unwrap_or(0).min(count);
            out.push(TypeStatistics {
                annotation_type: t,
                count,
                in_image_count,
                not_in_image_count: count - in_image_count,
                verified_count,
                unverified_count: count - verified_count,
            });
        }
        out.sort_by_key(|s| (s.annotation_type.sort_order, s.annotation_type.id));
        Ok(out)
    }

    /// How many live, visible annotations of `image` have a positive verification, per type.
    fn verified_by_type(
        &self,
        actor: &Actor,
        image: ImageId,
        set: &crate::model::ImageSet,
        rights: &crate::permissions::SetRights,
    ) -> Result<BTreeMap<AnnotationTypeId, usize>> {
        let c = self.0;
        let mut out = BTreeMap::new();
        if c.store().scan(Kind::Verification, 0, 1)?.is_empty() {
            return Ok(out);
        }
        let mut accepted: Vec<AnnotationId> = c
            .all::<Verification>()?
            .into_iter()
            .filter(|v| v.verified)
            .map(|v| v.annotation)
            .collect();
        accepted.sort_unstable();
        accepted.dedup();
        for chunk in accepted.chunks(4096) {
            for a in c.find_annotations(chunk)?.into_iter().flatten() {
                if a.image == image && !a.deleted && actor.sees(set, rights, &a) {
                    *out.entry(a.annotation_type).or_insert(0) += 1;
                }
            }
        }
        Ok(out)
    }
}

impl Verifications<'_> {
    /// Gives the actor's verdict (accept or reject) on every live annotation of `image` they
    /// may see, in one atomic batch: afterwards each has exactly one verdict of the actor's,
    /// and the creators' points changed as [`Verifications::verify`] changes them one by one.
    /// Needs verify rights on the image's set. Returns how many annotations were judged.
    pub fn verify_image(&self, actor: &Actor, image: ImageId, verified: bool) -> Result<usize> {
        let c = self.0;
        let (_, set, rights) = c.readable_image(actor, image)?;
        if !rights.verify {
            return Err(Error::denied(format!(
                "no rights to verify annotations of {}",
                set.id
            )));
        }
        for _ in 0..super::RETRIES {
            let live = c
                .annotations()
                .query(actor, image, &AnnotationQuery::default())?;
            let now = c.now();
            let mut tx = Tx::default();
            let mut fresh = Vec::new();
            let mut points: HashMap<UserId, i64> = HashMap::new();
            for a in &live {
                let key = Key::new().u64(a.id.0).u64(actor.user.0).build();
                let existing = c
                    .by_index::<Verification>(Index::VerificationPair, &key)?
                    .into_iter()
                    .next();
                let before = existing.as_ref().map(|v| v.verified);
                match existing {
                    Some(old) => {
                        if old.verified != verified {
                            let new = Verification {
                                verified,
                                time: now,
                                ..old.clone()
                            };
                            tx.replace(&old, &new, Vec::new());
                        }
                    }
                    None => fresh.push(a.id),
                }
                let delta = i64::from(verified) - i64::from(before == Some(true));
                if let (Some(creator), true) = (a.user, delta != 0) {
                    *points.entry(creator).or_insert(0) += delta;
                }
            }
            if !fresh.is_empty() {
                let first = c
                    .store()
                    .allocate_ids(Kind::Verification, fresh.len() as u64)?;
                for (i, annotation) in fresh.iter().enumerate() {
                    let v = Verification {
                        id: VerificationId(first + i as u64),
                        annotation: *annotation,
                        user: actor.user,
                        time: now,
                        verified,
                    };
                    tx.push_new(&v, Vec::new());
                }
            }
            let mut creators: Vec<_> = points.into_iter().filter(|(_, d)| *d != 0).collect();
            creators.sort_unstable();
            for (creator, delta) in creators {
                if let Some(old) = c.find::<User>(creator.0)? {
                    let new = User {
                        points: old.points + delta,
                        ..old.clone()
                    };
                    tx.replace(&old, &new, Vec::new());
                }
            }
            match tx.commit(c) {
                // A verdict or a point total changed meanwhile: judge again from fresh reads.
                Err(e) if e.kind() == crate::ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(live.len()),
            }
        }
        Err(Error::Conflict {
            what: format!("verifications of {image}"),
        })
    }
}
