//! Annotation lists as EXACT's API pages them: the images, a viewport query's filters, EXACT's
//! further filters (ids, the types' vector type, who verified them) and a window in id order.
//! A page of 1,000 annotations of an image holding 100,000 decodes the ~1,000 it returns, not
//! the whole image: filters that read an annotation's leading fields (type, creator, deleted,
//! edit time) are checked on its header ([`crate::codec::peek_annotation`]) and only the
//! smallest ids that can still land in the window are kept while the pages are walked.

use super::annotations::Annotations;
use super::query::AnnotationQuery;
use crate::codec;
use crate::ids::{AnnotationId, AnnotationTypeId, AnnotationVersionId, ImageId, UserId};
use crate::model::{Annotation, AnnotationType, AnnotationVersion, VectorType, Verification};
use crate::permissions::Actor;
use crate::time::Timestamp;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashSet};

/// What to list. The default lists every live annotation of every image the actor may read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnotationList {
    /// These images (each must be readable); empty: every image the actor may read.
    pub images: Vec<ImageId>,
    /// The viewport query's filters (viewport, types, deleted, creator, edit time).
    pub query: AnnotationQuery,
    /// Only these ids (EXACT's `id__in`).
    pub ids: Option<Vec<AnnotationId>>,
    /// Only annotations whose type draws one of these (EXACT's `vector_type`).
    pub vector_types: Option<Vec<VectorType>>,
    /// Only annotations with a verification (accepted or rejected) by a user whose id lies in
    /// this inclusive range (EXACT's `verified_by`, `verified_by__range`).
    pub verified_by: Option<(UserId, UserId)>,
    /// Only annotations with a verification by one of these users (`verified_by__in`).
    pub verified_by_in: Option<Vec<UserId>>,
    /// Only the annotation this set-version snapshot is of (EXACT's `annotationversion`, the
    /// reverse relation of the snapshots); an unknown snapshot id matches nothing.
    pub annotation_version: Option<AnnotationVersionId>,
    /// EXACT's filters on the other fields (times, texts, null tests).
    pub fields: FieldFilters,
    /// How many of the matches (in id order) to skip.
    pub offset: usize,
    /// At most this many; `None`: all after `offset`.
    pub limit: Option<usize>,
}

impl AnnotationList {
    /// Whether only the images and the viewport query are set (no other filter, no window):
    /// then [`Annotations::query_each`] per image streams the same annotations.
    pub fn is_plain_query(&self) -> bool {
        *self
            == AnnotationList {
                images: self.images.clone(),
                query: self.query.clone(),
                ..Default::default()
            }
    }
}

/// Inclusive bounds on a datetime (django-filter's exact, `__gte`, `__lte`, `__range`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeBounds {
    /// At or after.
    pub from: Option<Timestamp>,
    /// At or before.
    pub to: Option<Timestamp>,
}

impl TimeBounds {
    /// Whether nothing is bounded.
    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether `t` lies within the bounds.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t <= e)
    }
}

/// EXACT's annotation filters on fields that are not in a record's header (so each candidate
/// is decoded to test them): `time` and `last_edit_time` (exact, `__lte`, `__gte`,
/// `__range`), `unique_identifier` (exact, `__contains`, `__in`), `description` (exact,
/// `__contains`), `vector__isnull`, `meta_data__isnull`. The default filters nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldFilters {
    /// Creation time bounds.
    pub time: TimeBounds,
    /// Last edit bounds (`last_edit_time__gte` is also the header's `edited_since`).
    pub last_edit_time: TimeBounds,
    /// One of these client UUIDs.
    pub unique_identifier_in: Option<Vec<uuid::Uuid>>,
    /// Its UUID's hyphenated text contains this.
    pub unique_identifier_contains: Option<String>,
    /// This description exactly.
    pub description: Option<String>,
    /// A description containing this (case-sensitive).
    pub description_contains: Option<String>,
    /// `true`: without geometry; `false`: with.
    pub vector_isnull: Option<bool>,
    /// `true`: `meta_data` is null; `false`: it is not.
    pub meta_data_isnull: Option<bool>,
    /// Drawn on this frame (1-based) or on none: EXACT shows an annotation without a frame
    /// on every frame of a multi-frame image.
    pub frame: Option<u32>,
}

impl FieldFilters {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == FieldFilters::default()
    }

    /// Whether `a` passes every filter.
    pub fn matches(&self, a: &Annotation) -> bool {
        self.time.contains(a.time)
            && self.last_edit_time.contains(a.last_edit_time)
            && self
                .unique_identifier_in
                .as_ref()
                .is_none_or(|us| us.contains(&a.unique_identifier))
            && self
                .unique_identifier_contains
                .as_ref()
                .is_none_or(|s| a.unique_identifier.to_string().contains(s.as_str()))
            && self
                .description
                .as_ref()
                .is_none_or(|d| a.description == *d)
            && self
                .description_contains
                .as_ref()
                .is_none_or(|d| a.description.contains(d.as_str()))
            && self.vector_isnull.is_none_or(|n| a.vector.is_none() == n)
            && self
                .meta_data_isnull
                .is_none_or(|n| a.meta_data.is_null() == n)
            && self.frame.is_none_or(|f| {
                a.vector
                    .as_ref()
                    .and_then(|v| v.frame)
                    .is_none_or(|af| af == f)
            })
    }
}

/// The largest window (`offset + limit`) kept as copies during the walk.
const HELD_MAX: usize = 4096;

/// One window of a list: how many match in all, and the window's items.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// Matches in all (the `count` of EXACT's envelope).
    pub count: usize,
    /// The window, in id order.
    pub items: Vec<T>,
}

/// A candidate for the window: decoded already (viewport queries decode to test geometry)
/// or still encoded.
enum Held {
    Decoded(Annotation),
    Encoded(Vec<u8>),
}

impl Annotations<'_> {
    /// The window `list` selects, with the count of all matches. Visibility is the actor's
    /// (competitive sets show members their own annotations), as in [`Annotations::query`].
    pub fn list(&self, actor: &Actor, list: &AnnotationList) -> Result<Paged<Annotation>> {
        self.list_counted(actor, list, true)
    }

    /// [`Annotations::list`], with the maintained counts allowed to give the count or not. A
    /// damaged record is counted by them but skipped by every list, so a walk that meets one
    /// is redone without them (rare: `exact fsck --repair` takes it out).
    fn list_counted(
        &self,
        actor: &Actor,
        list: &AnnotationList,
        use_counts: bool,
    ) -> Result<Paged<Annotation>> {
        let c = self.0;
        let images: Vec<ImageId> = if list.images.is_empty() {
            c.images().list(actor)?.iter().map(|i| i.id).collect()
        } else {
            let mut v = list.images.clone();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut query = list.query.clone();
        if let Some(kinds) = &list.vector_types {
            let drawn: Vec<AnnotationTypeId> = c
                .all::<AnnotationType>()?
                .into_iter()
                .filter(|t| kinds.contains(&t.vector_type))
                .map(|t| t.id)
                .collect();
            query.annotation_types = Some(match query.annotation_types.take() {
                Some(ts) => ts.into_iter().filter(|t| drawn.contains(t)).collect(),
                None => drawn,
            });
        }
        let mut ids: Option<HashSet<u64>> = list
            .ids
            .as_ref()
            .map(|ids| ids.iter().map(|i| i.0).collect());
        if let Some(v) = list.annotation_version {
            // The snapshot names one annotation; visibility is still checked by the walk.
            let of: HashSet<u64> = c
                .find::<AnnotationVersion>(v.0)?
                .map(|s| s.annotation.0)
                .into_iter()
                .collect();
            ids = Some(match ids {
                Some(ids) => ids.intersection(&of).copied().collect(),
                None => of,
            });
        }
        // Each verifier filter is its own join in EXACT (django chains them): an annotation
        // passes when some verification meets each, not necessarily the same one.
        let mut verified: Option<HashSet<u64>> = None;
        if list.verified_by.is_some() || list.verified_by_in.is_some() {
            let all = c.all::<Verification>()?;
            let by = |keep: &dyn Fn(UserId) -> bool| -> HashSet<u64> {
                all.iter()
                    .filter(|v| keep(v.user))
                    .map(|v| v.annotation.0)
                    .collect()
            };
            if let Some((lo, hi)) = list.verified_by {
                verified = Some(by(&|u| u >= lo && u <= hi));
            }
            if let Some(us) = &list.verified_by_in {
                let these = by(&|u| us.contains(&u));
                verified = Some(match verified {
                    Some(v) => v.intersection(&these).copied().collect(),
                    None => these,
                });
            }
        }
        let mut readable = Vec::with_capacity(images.len());
        for &image in &images {
            let (img, set, rights) = c.readable_image(actor, image)?;
            readable.push((image, super::query::bounded(&query, &img)?, set, rights));
        }
        // Only the images and the header filters (types, deleted) set: the maintained counts
        // give the count, with a stamp that changes with every write to the images.
        let plain = use_counts
            && ids.is_none()
            && verified.is_none()
            && list.fields.is_empty()
            && list.annotation_version.is_none();
        let mut counted: Option<(usize, u64)> = plain.then_some((0, 0));
        for (image, q, set, rights) in &readable {
            let Some((total, stamp)) = counted else {
                break;
            };
            counted = c
                .counted_stamped(actor, set, rights, *image, q)?
                .map(|(by_type, s)| {
                    let n: usize = by_type.values().sum();
                    (
                        total + n,
                        stamp.rotate_left(17) ^ image.0.wrapping_mul(PHI) ^ s,
                    )
                });
        }
        // Where an earlier page of the same list left off, while nothing was written since:
        // the matches before `skipped` are those with ids up to `after`, so the walk starts
        // there (EXACT-Sync pages with growing offsets; each page continues from the last).
        let cursor_list = AnnotationList {
            offset: 0,
            limit: None,
            ..list.clone()
        };
        let (skipped, after) = match counted {
            Some((_, stamp)) => c.cursors.find(actor.user, &cursor_list, stamp, list.offset),
            None => (0, 0),
        };
        let offset = list.offset - skipped;
        let keep = offset.saturating_add(list.limit.unwrap_or(usize::MAX));
        // Deep windows would hold too many copies: the first walk then keeps ids only and a
        // second walk decodes the window.
        let hold = keep <= HELD_MAX;
        // With the count known, entries past the full window need not be read at all.
        let counting = counted.filter(|_| hold);
        // One image, no viewport, header filters only, count known: the window is read in id
        // order from the id-ordered copies (about `keep` entries, not every page of the image).
        if let (Some((count, stamp)), [(image, query, set, rights)]) = (counting, &readable[..])
            && query.viewport.is_none()
            && c.by_id_ready()?
        {
            let keep_header = |h: &codec::AnnotationHeader| {
                query.matches_header(h) && actor.sees_created_by(set, rights, h.user)
            };
            let take = keep - offset;
            if let Some(w) = c.by_id_window(image.0, after, offset, take, &keep_header)? {
                let items = w.items;
                if let (Some(first), Some(end)) = (items.first(), items.last()) {
                    c.cursors.remember(
                        actor.user,
                        &cursor_list,
                        stamp,
                        [
                            (list.offset, first.id.0.saturating_sub(1)),
                            (list.offset + items.len(), end.id.0),
                        ],
                    );
                }
                return Ok(Paged { count, items });
            }
        }
        let mut matched: Vec<u64> = Vec::new();
        let mut window: BTreeMap<u64, Held> = BTreeMap::new();
        // The window's largest id once it is full (asking the tree for it per entry was a
        // twentieth of a listing's time).
        let mut last = 0u64;
        let mut damaged = false;
        for (image, query, set, rights) in &readable {
            // Geometry and the non-header field filters need the decoded annotation.
            let exact_geometry = query.viewport.is_some() || !list.fields.is_empty();
            c.grid_entries(*image, query, &mut |id, data| {
                if counting.is_some() && (id <= after || (window.len() >= keep && id >= last)) {
                    // Counted already, and outside the window: not even its header is read.
                    return;
                }
                if ids.as_ref().is_some_and(|s| !s.contains(&id))
                    || verified.as_ref().is_some_and(|s| !s.contains(&id))
                {
                    return;
                }
                let Some(h) = codec::peek_annotation(data) else {
                    // Damaged: the full decode reports it.
                    if let Err(e) = codec::decode_annotation(id, data, c.store.location()) {
                        c.report(&e);
                    }
                    damaged = true;
                    return;
                };
                if !query.matches_header(&h) || !actor.sees_created_by(set, rights, h.user) {
                    return;
                }
                let wanted = hold && (window.len() < keep || id < last);
                let held = if exact_geometry {
                    match codec::decode_annotation(id, data, c.store.location()) {
                        Ok(a) if query.matches(&a) && list.fields.matches(&a) => Held::Decoded(a),
                        Ok(_) => return,
                        Err(e) => {
                            c.report(&e);
                            damaged = true;
                            return;
                        }
                    }
                } else if wanted {
                    Held::Encoded(data.to_vec())
                } else {
                    if counting.is_none() {
                        matched.push(id);
                    }
                    return;
                };
                if counting.is_none() {
                    matched.push(id);
                }
                if wanted {
                    window.insert(id, held);
                    if window.len() > keep {
                        window.pop_last();
                    }
                    if window.len() >= keep {
                        last = window.last_key_value().map_or(0, |(k, _)| *k);
                    }
                }
            })?;
        }
        if damaged && counting.is_some() {
            return self.list_counted(actor, list, false);
        }
        if !hold {
            // An annotation moving between cells during the walk may be met in both.
            matched.sort_unstable();
            matched.dedup();
            let end = list.limit.map_or(matched.len(), |l| {
                list.offset.saturating_add(l).min(matched.len())
            });
            let want: HashSet<u64> = matched
                .get(list.offset.min(end)..end)
                .unwrap_or_default()
                .iter()
                .copied()
                .collect();
            let mut found: BTreeMap<u64, Annotation> = BTreeMap::new();
            for (image, q, _, _) in &readable {
                c.grid_entries(*image, q, &mut |id, data| {
                    if want.contains(&id) && !found.contains_key(&id) {
                        match codec::decode_annotation(id, data, c.store.location()) {
                            Ok(a) => {
                                found.insert(id, a);
                            }
                            Err(e) => c.report(&e),
                        }
                    }
                })?;
            }
            if let (Some((_, stamp)), Some(first), Some(last)) =
                (counted, found.keys().next(), found.keys().next_back())
            {
                c.cursors.remember(
                    actor.user,
                    &cursor_list,
                    stamp,
                    [
                        (list.offset, first.saturating_sub(1)),
                        (list.offset + found.len(), *last),
                    ],
                );
            }
            return Ok(Paged {
                count: matched.len(),
                items: found.into_values().collect(),
            });
        }
        let mut items = Vec::with_capacity(window.len().saturating_sub(offset));
        for (id, held) in window.into_iter().skip(offset) {
            match held {
                Held::Decoded(a) => items.push(a),
                Held::Encoded(data) => {
                    match codec::decode_annotation(id, &data, c.store.location()) {
                        Ok(a) => items.push(a),
                        Err(e) => {
                            c.report(&Error::corrupt(
                                c.store.location(),
                                format!("{}: {e}", AnnotationId(id)),
                            ));
                            damaged = true;
                        }
                    }
                }
            }
        }
        if damaged && counting.is_some() {
            return self.list_counted(actor, list, false);
        }
        if let (Some((_, stamp)), Some(first), Some(end)) = (counted, items.first(), items.last()) {
            c.cursors.remember(
                actor.user,
                &cursor_list,
                stamp,
                [
                    (list.offset, first.id.0.saturating_sub(1)),
                    (list.offset + items.len(), end.id.0),
                ],
            );
        }
        Ok(Paged {
            count: match counting {
                Some((n, _)) => n,
                None => distinct(&mut matched),
            },
            items,
        })
    }
}

/// Mixes the images' stamps into one (the golden ratio's 64-bit fraction).
const PHI: u64 = 0x9E37_79B9_7F4A_7C15;

/// How many cursors a catalog keeps (the oldest is forgotten first).
const CURSORS: usize = 256;

/// Where listings left off (see [`Annotations::list`]): per requester, list (window cleared)
/// and write stamp of its images, how many matches (`position`) have ids up to `after`.
#[derive(Default)]
pub(crate) struct Cursors(std::sync::Mutex<std::collections::VecDeque<Cursor>>);

struct Cursor {
    user: UserId,
    list: AnnotationList,
    stamp: u64,
    position: usize,
    after: u64,
}

impl Cursors {
    /// The furthest known position at or before `offset` and the id it ends at; `(0, 0)`
    /// when none is known.
    fn find(&self, user: UserId, list: &AnnotationList, stamp: u64, offset: usize) -> (usize, u64) {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.iter()
            .filter(|c| {
                c.user == user && c.stamp == stamp && c.position <= offset && c.list == *list
            })
            .map(|c| (c.position, c.after))
            .max()
            .unwrap_or((0, 0))
    }

    /// Remembers where `list`'s matches stand: the first `position` have ids up to `after`.
    fn remember(&self, user: UserId, list: &AnnotationList, stamp: u64, at: [(usize, u64); 2]) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (position, after) in at {
            if position == 0
                || held.iter().any(|c| {
                    c.user == user && c.stamp == stamp && c.position == position && c.list == *list
                })
            {
                continue;
            }
            if held.len() >= CURSORS {
                held.pop_front();
            }
            held.push_back(Cursor {
                user,
                list: list.clone(),
                stamp,
                position,
                after,
            });
        }
    }
}

/// How many distinct ids `ids` holds (an annotation moving between cells while the pages are
/// walked is met twice). Ids come from one counter, so an image's ids are dense: a bitmap over
/// their span counts them in two linear passes where sorting 100,000 ids cost more than the
/// rest of a page. A span much wider than the list (the bitmap would outgrow the ids
/// themselves) falls back to sorting.
fn distinct(ids: &mut Vec<u64>) -> usize {
    let (Some(&lo), Some(&hi)) = (ids.iter().min(), ids.iter().max()) else {
        return 0;
    };
    let span = hi - lo;
    if span / 64 > ids.len() as u64 {
        ids.sort_unstable();
        ids.dedup();
        return ids.len();
    }
    let mut seen = vec![0u64; (span / 64 + 1) as usize];
    let mut n = 0;
    for &id in ids.iter() {
        let d = id - lo;
        let (word, bit) = (&mut seen[(d / 64) as usize], 1u64 << (d % 64));
        n += usize::from(*word & bit == 0);
        *word |= bit;
    }
    n
}

impl Annotations<'_> {
    /// Of `images`, those with a live annotation the actor sees that has a verification by
    /// anyone (`verified = true`), or one that has none (`verified = false`) — EXACT's
    /// `verified=True/False` image filter, whose joins ask "is there such an annotation".
    pub fn images_by_verification(
        &self,
        actor: &Actor,
        images: &[ImageId],
        verified: bool,
    ) -> Result<Vec<ImageId>> {
        let c = self.0;
        let judged: HashSet<u64> = c
            .all::<Verification>()?
            .into_iter()
            .map(|v| v.annotation.0)
            .collect();
        let mut out = Vec::new();
        for &image in images {
            let (img, set, rights) = c.readable_image(actor, image)?;
            let query = super::query::bounded(&AnnotationQuery::default(), &img)?;
            let mut found = false;
            c.grid_entries(image, &query, &mut |id, data| {
                if found || judged.contains(&id) != verified {
                    return;
                }
                if let Some(h) = codec::peek_annotation(data) {
                    found =
                        query.matches_header(&h) && actor.sees_created_by(&set, &rights, h.user);
                }
            })?;
            if found {
                out.push(image);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn distinct_counts_each_id_once_dense_or_sparse() {
        let mut dense: Vec<u64> = (100..1100).chain(500..600).collect();
        assert_eq!(super::distinct(&mut dense), 1000);
        let mut sparse = vec![7, u64::MAX, 7, 1 << 40];
        assert_eq!(super::distinct(&mut sparse), 3);
        assert_eq!(super::distinct(&mut Vec::new()), 0);
    }
}
