//! Per-image statistics (EXACT's statistics panel and `images/api/image/statistics/`) and
//! whole-image verification (`images/api/image/verify/`, the viewer's `f` key).
//!
//! Statistics read the counts maintained on write (per type: live, without geometry,
//! accepted; see `counts` and `verified`) when the requester sees every annotation of the set,
//! so they cost a few small reads whatever the image holds. Otherwise (a competitive set, or
//! counts not built yet) they count by scanning ([`Annotations::statistics_by_scan`]).

use super::annotations::Annotations;
use super::misc::Verifications;
use super::{Tx, query::AnnotationQuery};
use crate::ids::{AnnotationId, AnnotationTypeId, ImageId, UserId, VerificationId};
use crate::keys::Key;
use crate::model::{AnnotationType, User, Verification};
use crate::permissions::Actor;
use crate::store::{Index, Kind};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};

/// Above this many accepted annotations in the store, verified counts scan the image's
/// annotation heads instead of looking each accepted annotation up.
const LOOKUPS: usize = 64;

/// The statistics of one annotation type on one image, as EXACT's panel shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeStatistics {
    /// The type.
    pub annotation_type: AnnotationType,
    /// Live annotations of the type the requester may see.
    pub count: usize,
    /// Those with geometry (EXACT: `vector IS NOT NULL`).
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
    /// When the actor sees every annotation of the set, this reads the image's maintained
    /// counts (a few small entries); otherwise it is [`Annotations::statistics_by_scan`].
    pub fn statistics(&self, actor: &Actor, image: ImageId) -> Result<Vec<TypeStatistics>> {
        let c = self.0;
        let (_, set, rights) = c.readable_image(actor, image)?;
        if !actor.sees_created_by(&set, &rights, None) {
            return self.statistics_by_scan(actor, image);
        }
        let Some(counted) = c.verified_counts(image)? else {
            return self.statistics_by_scan(actor, image);
        };
        let mut out = Vec::with_capacity(counted.len());
        for (kind, v) in counted {
            let Some(t) = c.find::<AnnotationType>(kind.0)? else {
                continue;
            };
            if !t.active {
                continue;
            }
            let count = v.live as usize;
            let not_in_image_count = (v.without_geometry as usize).min(count);
            let verified_count = (v.accepted as usize).min(count);
            out.push(TypeStatistics {
                annotation_type: t,
                count,
                in_image_count: count - not_in_image_count,
                not_in_image_count,
                verified_count,
                unverified_count: count - verified_count,
            });
        }
        out.sort_by_key(|s| (s.annotation_type.sort_order, s.annotation_type.id));
        Ok(out)
    }

    /// [`Annotations::statistics`] by scanning: one call of [`Annotations::count_by_type`], a
    /// read of the image's grid cell of annotations without geometry, and one read per
    /// positive verification in the store (then a pass over the image's annotation heads).
    /// What statistics cost before verified counts were maintained; kept for actors who see
    /// only some annotations, stores whose counts are not built, and as a benchmark baseline.
    pub fn statistics_by_scan(&self, actor: &Actor, image: ImageId) -> Result<Vec<TypeStatistics>> {
        let c = self.0;
        let (_, set, rights) = c.readable_image(actor, image)?;
        let all = self.count_by_type(actor, image, &AnnotationQuery::default())?;
        // "Not in image" = no geometry (EXACT: `vector IS NULL`); those live in one grid cell
        // of their own, so they are counted without touching the others.
        let live = AnnotationQuery::default();
        let mut without = BTreeMap::<AnnotationTypeId, usize>::new();
        for page in c.cell_pages(&crate::grid::cell_key(image.0, None))? {
            c.page_annotations(&page.value, &mut |a| {
                if a.image == image && live.matches(&a) && actor.sees(&set, &rights, &a) {
                    *without.entry(a.annotation_type).or_insert(0) += 1;
                }
            });
        }
        let verified = self.verified_by_type(actor, image, &set, &rights)?;
        let mut out = Vec::with_capacity(all.len());
        for (kind, count) in all {
            let Some(t) = c.find::<AnnotationType>(kind.0)? else {
                continue;
            };
            if !t.active {
                continue;
            }
            let not_in_image_count = without.get(&kind).copied().unwrap_or(0).min(count);
            let verified_count = verified.get(&kind).copied().unwrap_or(0).min(count);
            out.push(TypeStatistics {
                annotation_type: t,
                count,
                in_image_count: count - not_in_image_count,
                not_in_image_count,
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
        // Many verdicts: one pass over the image's annotation heads beats looking each
        // judged annotation up (a page decode each).
        if accepted.len() > LOOKUPS {
            let accepted: std::collections::HashSet<u64> = accepted.iter().map(|a| a.0).collect();
            let mut seen = Vec::new();
            c.grid_heads(image, &AnnotationQuery::default(), &mut |id, h| {
                if accepted.contains(&id) && actor.sees_created_by(set, rights, h.user) {
                    seen.push((id, h.annotation_type));
                }
            })?;
            // An annotation moving between cells during the scan may be met twice.
            seen.sort_unstable();
            seen.dedup_by_key(|s| s.0);
            for (_, t) in seen {
                *out.entry(t).or_insert(0) += 1;
            }
            return Ok(out);
        }
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
        for attempt in 0..super::RETRIES {
            // The annotations' guards before the annotations (see `verified`); read for the
            // whole image, as `query` finds the ids only after.
            let guards = c.verdict_guards(image, None)?;
            let live = c
                .annotations()
                .query(actor, image, &AnnotationQuery::default())?;
            let mut gains: Vec<(&crate::model::Annotation, i64)> = Vec::new();
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
                if delta != 0 {
                    gains.push((a, delta));
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
            c.stage_verdicts(&mut tx.batch, image, &guards, &gains, attempt)?;
            match tx.commit(c) {
                // A verdict, a point total or an annotation changed meanwhile: judge again
                // from fresh reads.
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
