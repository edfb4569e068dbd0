//! Annotation counts per image and type, maintained by every annotation write in the same atomic
//! batch ([`Index::AnnotationCounts`]), so the listing's `count`, the viewer's per-type counts
//! and the status page read a few small entries instead of every annotation of an image.
//!
//! Layout: an image's counts are [`SHARDS`] entries under key = image id, id = shard number;
//! their sum is the count. Each entry holds a write generation and signed deltas per
//! (type, [`DELETED`] / [`NO_GEOMETRY`] flags). Every annotation batch adds its deltas to one
//! shard of each image it touches and bumps that shard's generation, with the store's
//! optimistic precondition on the shard's bytes: two writers (two servers on one PostgreSQL)
//! that pick the same shard conflict and one retries, so no increment is lost; writers picking
//! different shards do not contend.
//!
//! A store written before counts existed has none: [`Catalog::build_counts`] (run when the
//! handle opens a store without the [`READY`] marker, and by `fsck --repair`) recounts each
//! image. A recount reads the image's shards first, then its pages, and commits the new shards
//! on the precondition that the shards it read are unchanged: any annotation write committed
//! meanwhile bumped a shard, so the recount fails and is redone, never clobbering an increment.
//! Until the marker is written the counts are not trusted and readers count by scanning.

use super::RETRIES;
use super::fsck::FsckReport;
use super::{AnnotationQuery, Catalog};
use crate::codec;
use crate::grid;
use crate::ids::{AnnotationTypeId, ImageId};
use crate::keys::{Key, prefix_end};
use crate::model::Annotation;
use crate::model::ImageSet;
use crate::pages::{self, IBox};
use crate::permissions::{Actor, SetRights};
use crate::store::{Batch, EntryWrite, Expect, Index, IndexEntry};
use crate::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;

/// Count entries per image (writers spread over them).
pub(crate) const SHARDS: u64 = 8;
/// Flag of a (type, flags) cell: soft-deleted (EXACT's `deleted = true`, still listed).
pub(crate) const DELETED: u8 = 1;
/// Flag of a (type, flags) cell: without geometry ("not in image", global labels).
pub(crate) const NO_GEOMETRY: u8 = 2;
/// Flag of a (type, flags) cell counting, besides its plain cell, the annotations of that
/// cell somebody accepted (at least one positive verification; see `verified`).
pub(crate) const ACCEPTED: u8 = 4;
/// Key of the marker saying every image's counts are built (no image key is empty).
const READY: &[u8] = &[];
/// Bytes per (type, flags, delta) item of a shard.
const ITEM: usize = 17;
/// Bytes before the items: generation and extent.
const HEAD: usize = 40;

/// Signed counts by (type id, flags).
pub(crate) type Tally = BTreeMap<(u64, u8), i64>;

/// What one batch changes in one image's counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delta {
    /// The counts.
    pub(crate) counts: Tally,
    /// The integer bounds of the geometry it files (the image's extent only grows).
    pub(crate) extent: Option<IBox>,
    /// Each annotation counted: (id, its cell, ±1), so those somebody accepted are counted
    /// in their accepted cells too when the batch is staged.
    pub(crate) touched: Vec<(u64, (u64, u8), i64)>,
}

/// The union of two extents.
fn union(a: Option<IBox>, b: Option<IBox>) -> Option<IBox> {
    match (a, b) {
        (Some(a), Some(b)) => Some([
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[2].max(b[2]),
            a[3].max(b[3]),
        ]),
        (a, None) => a,
        (None, b) => b,
    }
}

/// How many annotations of one type an image holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeCounts {
    /// Live (not soft-deleted), with geometry.
    pub live: u64,
    /// Live, without geometry ("not in image", image-level labels).
    pub live_without_geometry: u64,
    /// Soft-deleted (`deleted = true`), with geometry.
    pub deleted: u64,
    /// Soft-deleted, without geometry.
    pub deleted_without_geometry: u64,
}

impl TypeCounts {
    /// Those with geometry matching EXACT's `deleted` filter (`None`: both): what a viewport
    /// that holds every annotation of the image finds.
    pub fn matching_with_geometry(&self, deleted: Option<bool>) -> u64 {
        match deleted {
            Some(false) => self.live,
            Some(true) => self.deleted,
            None => self.live + self.deleted,
        }
    }

    /// Those matching EXACT's `deleted` filter (`None`: both).
    pub fn matching(&self, deleted: Option<bool>) -> u64 {
        let live = self.live + self.live_without_geometry;
        let gone = self.deleted + self.deleted_without_geometry;
        match deleted {
            Some(false) => live,
            Some(true) => gone,
            None => live + gone,
        }
    }
}

/// The tally cell of an annotation.
pub(crate) fn cell_of(a: &Annotation) -> (u64, u8) {
    let no_geometry = a.vector.as_ref().and_then(|v| v.bbox()).is_none();
    (a.annotation_type.0, flags(a.deleted, no_geometry))
}

/// The flags of an annotation's tally cell.
fn flags(deleted: bool, no_geometry: bool) -> u8 {
    (u8::from(deleted) * DELETED) | (u8::from(no_geometry) * NO_GEOMETRY)
}

/// Adds `n` of `a` to the delta of its image (and its bounds to the extent when filed).
pub(crate) fn tally(into: &mut BTreeMap<u64, Delta>, a: &Annotation, n: i64) {
    let d = into.entry(a.image.0).or_default();
    *d.counts.entry(cell_of(a)).or_insert(0) += n;
    d.touched.push((a.id.0, cell_of(a), n));
    if n > 0 {
        let bbox = a.vector.as_ref().and_then(|v| v.bbox());
        d.extent = union(d.extent, bbox.as_ref().map(pages::ibox));
    }
}

pub(crate) fn image_key(image: u64) -> Vec<u8> {
    Key::new().u64(image).build()
}

/// A shard's bytes: generation (u64 LE), extent (4 i64 LE; empty: min > max), then
/// (type u64 LE, flags u8, delta i64 LE) items.
pub(crate) fn encode(generation: u64, extent: Option<IBox>, t: &Tally) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD + t.len() * ITEM);
    out.extend_from_slice(&generation.to_le_bytes());
    for v in extent.unwrap_or([i64::MAX, i64::MAX, i64::MIN, i64::MIN]) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (&(ty, flags), &n) in t {
        if n != 0 {
            out.extend_from_slice(&ty.to_le_bytes());
            out.push(flags);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out
}

/// A shard: generation, extent, counts.
type Shard = (u64, Option<IBox>, Tally);

pub(crate) fn decode(bytes: &[u8], what: &str, image: u64) -> Result<Shard> {
    let bad = || {
        Error::corrupt(
            what,
            format!("annotation counts of image {image}: bad length"),
        )
    };
    if bytes.len() < HEAD || !(bytes.len() - HEAD).is_multiple_of(ITEM) {
        return Err(bad());
    }
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let i = |k: usize| u(&bytes[8 + 8 * k..16 + 8 * k]) as i64;
    let extent = [i(0), i(1), i(2), i(3)];
    let extent = (extent[0] <= extent[2] && extent[1] <= extent[3]).then_some(extent);
    let mut t = Tally::new();
    for item in bytes[HEAD..].chunks_exact(ITEM) {
        let n = i64::from_le_bytes(item[9..17].try_into().unwrap_or([0; 8]));
        *t.entry((u(&item[..8]), item[8])).or_insert(0) += n;
    }
    Ok((u(&bytes[..8]), extent, t))
}

pub(crate) fn add(into: &mut Tally, from: &Tally) {
    for (k, n) in from {
        *into.entry(*k).or_insert(0) += n;
    }
}

impl Catalog {
    pub(crate) fn count_shards(&self, image: u64) -> Result<Vec<IndexEntry>> {
        let key = image_key(image);
        self.store.index_range(
            Index::AnnotationCounts,
            &key,
            &prefix_end(&key),
            SHARDS as usize,
        )
    }

    /// Queues adding `deltas` (per image) to one count shard of each image, bumping its
    /// generation even when the delta is empty (see the module docs). `attempt` moves a
    /// writer that lost a race to another shard.
    pub(crate) fn stage_counts(
        &self,
        batch: &mut Batch,
        deltas: &BTreeMap<u64, (u64, Delta)>,
        attempt: usize,
    ) -> Result<()> {
        let what = self.store.location();
        let mut olds = Vec::with_capacity(deltas.len());
        for (&image, (seed, _)) in deltas {
            let shard = (seed.wrapping_add(attempt as u64)) % SHARDS;
            let key = image_key(image);
            let old = self
                .store
                .index_range(
                    Index::AnnotationCounts,
                    &key,
                    &prefix_end(&key),
                    SHARDS as usize,
                )?
                .into_iter()
                .find(|e| e.key == key && e.id == shard);
            olds.push((key, shard, old));
        }
        let mut ids: Vec<u64> = deltas
            .values()
            .flat_map(|(_, d)| d.touched.iter().map(|t| t.0))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let stored = self.acceptances(&ids)?;
        // The annotations rewritten (not fresh ones: nobody can judge those yet) are guarded
        // against a verdict committing meanwhile (see `verified`).
        let mut existing: Vec<u64> = deltas
            .values()
            .flat_map(|(_, d)| d.touched.iter().filter(|t| t.2 < 0).map(|t| t.0))
            .collect();
        existing.sort_unstable();
        existing.dedup();
        super::verified::stage_write_guards(batch, &existing, &stored);
        for ((&image, (_, delta)), (key, shard, old)) in deltas.iter().zip(olds) {
            let (generation, extent, mut t) =
                match old.as_ref().map(|e| decode(&e.value, what, image)) {
                    Some(Ok(found)) => found,
                    None => (0, None, Tally::new()),
                    Some(Err(err)) => {
                        // A damaged shard must not block writes: it is overwritten, and the counts
                        // stop being trusted until they are rebuilt (`fsck --repair`, reopening).
                        self.report(&err);
                        self.counts_built.store(false, Ordering::Relaxed);
                        batch.entries.push(EntryWrite {
                            index: Index::AnnotationCounts,
                            key: READY.to_vec(),
                            id: 0,
                            value: None,
                            expect: Expect::Anything,
                        });
                        (0, None, Tally::new())
                    }
                };
            add(&mut t, &delta.counts);
            for (id, (ty, flags), n) in &delta.touched {
                if stored.get(id).is_some_and(|v| super::verified::accepted(v)) {
                    *t.entry((*ty, flags | ACCEPTED)).or_insert(0) += n;
                }
            }
            batch.entries.push(EntryWrite {
                index: Index::AnnotationCounts,
                key,
                id: shard,
                value: Some(encode(
                    generation.wrapping_add(1),
                    union(extent, delta.extent),
                    &t,
                )),
                expect: old.map_or(Expect::Absent, |e| Expect::Exactly(e.value)),
            });
        }
        Ok(())
    }

    /// Whether the maintained counts can be trusted (built for every image), cached once true.
    pub(crate) fn counts_ready(&self) -> Result<bool> {
        if self.counts_built.load(Ordering::Relaxed) {
            return Ok(true);
        }
        // The marker sorts first (empty key). Not `READY..[0]`: a key-value store files an
        // entry as key bytes then id bytes, so the marker's stored key lies past `[0]`.
        let ready = self
            .store
            .index_range(Index::AnnotationCounts, READY, &[0xFF], 1)?
            .first()
            .is_some_and(|e| e.key.is_empty());
        if ready {
            self.counts_built.store(true, Ordering::Relaxed);
        }
        Ok(ready)
    }

    /// The maintained counts of `image` by type (all annotations, whoever created them), or
    /// `None` when they cannot be trusted (not built yet, or damaged: reported; callers then
    /// count by scanning). A trusted maintenance read like [`Catalog::fsck`]: no actor, no
    /// permission check — the use cases read it for an actor after their own checks.
    pub fn annotation_counts(
        &self,
        image: ImageId,
    ) -> Result<Option<BTreeMap<AnnotationTypeId, TypeCounts>>> {
        Ok(self.stamped_counts(image)?.map(|(c, _, _)| c))
    }

    /// [`Catalog::annotation_counts`] with a stamp that changes with every annotation write
    /// to the image (the sum of its shards' generations, each write bumps one) and bounds
    /// holding every annotation with geometry (grown by writes, tight after a rebuild).
    #[allow(clippy::type_complexity)]
    fn stamped_counts(
        &self,
        image: ImageId,
    ) -> Result<Option<(BTreeMap<AnnotationTypeId, TypeCounts>, u64, Option<IBox>)>> {
        if !self.counts_ready()? {
            return Ok(None);
        }
        let mut sum = Tally::new();
        let mut stamp = 0u64;
        let mut extent = None;
        for e in self.count_shards(image.0)? {
            match decode(&e.value, self.store.location(), image.0) {
                Ok((generation, ext, t)) => {
                    stamp = stamp.wrapping_add(generation);
                    extent = union(extent, ext);
                    add(&mut sum, &t);
                }
                Err(err) => {
                    self.report(&err);
                    return Ok(None);
                }
            }
        }
        let mut out: BTreeMap<AnnotationTypeId, TypeCounts> = BTreeMap::new();
        for ((ty, flags), n) in sum {
            if n < 0 {
                self.report(&Error::corrupt(
                    self.store.location(),
                    format!(
                        "annotation counts of image {image}: {n} of type {ty} (run `exact fsck --repair`)"
                    ),
                ));
                return Ok(None);
            }
            if flags & ACCEPTED != 0 {
                continue;
            }
            let c = out.entry(AnnotationTypeId(ty)).or_default();
            let n = n as u64;
            match flags {
                0 => c.live += n,
                NO_GEOMETRY => c.live_without_geometry += n,
                DELETED => c.deleted += n,
                _ => c.deleted_without_geometry += n,
            }
        }
        out.retain(|_, c| *c != TypeCounts::default());
        Ok(Some((out, stamp, extent)))
    }

    /// Per type, how many annotations of `image` match `query`, from the maintained counts:
    /// `None` when they cannot answer it (a viewport, creator or edit-time filter; an actor
    /// who sees only some annotations of the set; counts not built).
    pub(crate) fn counted_by_type(
        &self,
        actor: &Actor,
        set: &ImageSet,
        rights: &SetRights,
        image: ImageId,
        query: &AnnotationQuery,
    ) -> Result<Option<BTreeMap<AnnotationTypeId, usize>>> {
        Ok(self
            .counted_stamped(actor, set, rights, image, query)?
            .map(|(c, _)| c))
    }

    /// [`Catalog::counted_by_type`] with the image's write stamp (see
    /// [`Catalog::stamped_counts`]).
    pub(crate) fn counted_stamped(
        &self,
        actor: &Actor,
        set: &ImageSet,
        rights: &SetRights,
        image: ImageId,
        query: &AnnotationQuery,
    ) -> Result<Option<(BTreeMap<AnnotationTypeId, usize>, u64)>> {
        let answerable = query.user.is_none()
            && query.edited_since.is_none()
            // Whoever created them: the actor sees them all.
            && actor.sees_created_by(set, rights, None);
        if !answerable {
            return Ok(None);
        }
        let Some((stored, stamp, extent)) = self.stamped_counts(image)? else {
            return Ok(None);
        };
        // A viewport holding every annotation's bounds (the whole slide in the viewer) finds
        // all those with geometry; any other viewport needs the grid.
        let whole = match (&query.viewport, extent) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some(e)) => {
                v.min_x <= e[0] as f64
                    && v.min_y <= e[1] as f64
                    && v.max_x >= e[2] as f64
                    && v.max_y >= e[3] as f64
            }
        };
        if query.viewport.is_some() && !whole {
            return Ok(None);
        }
        let by_type = stored
            .into_iter()
            .filter(|(t, _)| {
                query
                    .annotation_types
                    .as_ref()
                    .is_none_or(|ts| ts.contains(t))
            })
            .map(|(t, c)| {
                let n = if whole {
                    c.matching_with_geometry(query.deleted)
                } else {
                    c.matching(query.deleted)
                };
                (t, n as usize)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Ok(Some((by_type, stamp)))
    }

    /// Counts the annotations stored in `image`'s pages (each id once; damaged ones skipped).
    fn recount(&self, image: u64) -> Result<(Tally, Option<IBox>)> {
        let what = self.store.location();
        let mut seen: HashMap<u64, (u64, u8)> = HashMap::new();
        let mut extent = None;
        let (start, end) = grid::image_range(image);
        self.store
            .index_visit(Index::AnnotationGrid, &start, &end, &mut |_, _, page| {
                pages::visit_lossy(page, what, |e| {
                    if let Ok(h) = codec::decode_head(e.data, what) {
                        let cell = (h.annotation_type.0, flags(h.deleted, e.bbox.is_none()));
                        seen.insert(e.id, cell);
                        extent = union(extent, e.bbox);
                    }
                });
                true
            })?;
        let mut ids: Vec<u64> = seen.keys().copied().collect();
        ids.sort_unstable();
        let stored = self.acceptances(&ids)?;
        let mut t = Tally::new();
        for (id, cell) in seen {
            *t.entry(cell).or_insert(0) += 1;
            if stored
                .get(&id)
                .is_some_and(|v| super::verified::accepted(v))
            {
                *t.entry((cell.0, cell.1 | ACCEPTED)).or_insert(0) += 1;
            }
        }
        Ok((t, extent))
    }

    /// Recounts `image` and replaces its shards with the result, unless an annotation write
    /// commits meanwhile (then again). Returns (what the shards said, the recount).
    fn rebuild_image(&self, image: u64, repair: bool) -> Result<(Tally, Tally)> {
        let what = self.store.location();
        for _ in 0..RETRIES {
            let shards = self.count_shards(image)?;
            let mut stored = Tally::new();
            let mut damaged = false;
            for e in &shards {
                match decode(&e.value, what, image) {
                    Ok((_, _, t)) => add(&mut stored, &t),
                    Err(_) => damaged = true,
                }
            }
            stored.retain(|_, n| *n != 0);
            let (actual, extent) = self.recount(image)?;
            if !repair || (!damaged && stored == actual && !shards.is_empty()) {
                return Ok((stored, actual));
            }
            let key = image_key(image);
            let mut batch = Batch::default();
            for shard in 0..SHARDS {
                let old = shards.iter().find(|e| e.key == key && e.id == shard);
                let empty = Tally::new();
                let generation = old
                    .and_then(|e| decode(&e.value, what, image).ok())
                    .map_or(0, |(g, _, _)| g)
                    .wrapping_add(1);
                let value = if shard == 0 {
                    encode(generation, extent, &actual)
                } else {
                    encode(generation, None, &empty)
                };
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationCounts,
                    key: key.clone(),
                    id: shard,
                    value: Some(value),
                    expect: old.map_or(Expect::Absent, |e| Expect::Exactly(e.value.clone())),
                });
            }
            match self.store.commit(batch) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok((stored, actual)),
            }
        }
        Err(Error::Conflict {
            what: format!("annotation counts of image {image}"),
        })
    }

    /// The images that have annotation pages or count entries.
    fn counted_images(&self) -> Result<BTreeSet<u64>> {
        let mut images = BTreeSet::new();
        for index in [Index::AnnotationGrid, Index::AnnotationCounts] {
            let mut last: Option<u64> = None;
            self.store
                .index_visit(index, &[0], &[0xFF; 9], &mut |key, _, _| {
                    if let Some(b) = key.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                        let image = u64::from_be_bytes(b);
                        if last != Some(image) {
                            images.insert(image);
                            last = Some(image);
                        }
                    }
                    true
                })?;
        }
        Ok(images)
    }

    /// Builds the annotation counts of every image from its pages when the store has none
    /// yet (a store written before they existed, or a new one), then marks them ready.
    /// Idempotent and safe while other processes write (see the module docs). Returns how
    /// many images were counted (0 when they were ready already).
    pub fn build_counts(&self) -> Result<usize> {
        if self.counts_ready()? && self.accepted_ready()? {
            return Ok(0);
        }
        // The acceptances first: the recounts below read them.
        self.build_acceptances()?;
        let images = self.counted_images()?;
        for &image in &images {
            self.rebuild_image(image, true)?;
        }
        self.store.commit(Batch {
            writes: Vec::new(),
            entries: vec![
                EntryWrite {
                    index: Index::AnnotationCounts,
                    key: READY.to_vec(),
                    id: 0,
                    value: Some(vec![1]),
                    expect: Expect::Anything,
                },
                super::verified::ready_marker(),
            ],
        })?;
        self.counts_built.store(true, Ordering::Relaxed);
        self.accepted_built.store(true, Ordering::Relaxed);
        Ok(images.len())
    }

    /// `fsck`: every image's counts equal a recount of its pages; `repair` rebuilds those
    /// that differ (and marks the counts ready).
    pub(super) fn fsck_counts(&self, repair: bool, report: &mut FsckReport) -> Result<()> {
        self.fsck_acceptances(repair, report)?;
        if !self.counts_ready()? || !self.accepted_ready()? {
            report.found(
                "annotation counts",
                "not built, or without verified counts (a store from before they existed); `--repair` or opening it builds them",
                repair,
            );
            if repair {
                self.build_counts()?;
            }
            return Ok(());
        }
        for image in self.counted_images()? {
            let (stored, actual) = self.rebuild_image(image, repair)?;
            if stored != actual {
                let total = |t: &Tally| t.values().sum::<i64>();
                report.found(
                    format!("annotation counts of image {image}"),
                    format!(
                        "say {} annotations, its pages hold {}; rebuilt from the pages",
                        total(&stored),
                        total(&actual)
                    ),
                    repair,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_round_trip_and_reject_bad_lengths() {
        let mut t = Tally::new();
        t.insert((5, DELETED), -2);
        t.insert((7, 0), 40);
        t.insert((9, NO_GEOMETRY), 0);
        let bytes = encode(3, Some([-5, 0, 7, 9]), &t);
        assert_eq!(bytes.len(), HEAD + 2 * ITEM);
        let (generation, extent, back) = decode(&bytes, "t", 1).unwrap();
        assert_eq!((generation, extent), (3, Some([-5, 0, 7, 9])));
        assert_eq!(decode(&encode(1, None, &t), "t", 1).unwrap().1, None);
        t.remove(&(9, NO_GEOMETRY));
        assert_eq!(back, t);
        assert!(decode(&bytes[..20], "t", 1).is_err());
        assert!(decode(&[], "t", 1).is_err());
    }
}
