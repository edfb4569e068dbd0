//! Verified counts: how many annotations of each image and type somebody accepted (at least
//! one positive verification), maintained on write so EXACT's statistics panel
//! (`images/api/image/statistics/`) reads a few count shards instead of every annotation and
//! every verdict.
//!
//! Two things are kept:
//! - [`Index::Acceptances`]: per annotation, how many acceptances it has and a generation that
//!   every verdict and every write to the annotation bumps, written in the same batch as each
//!   verdict, with a precondition on its bytes;
//! - in the image's count shards ([`super::counts`]), a cell `(type, flags | ACCEPTED)` next
//!   to each plain cell, counting the accepted annotations of that cell.
//!
//! Annotation writes (type change, soft delete, trash, restore) move an accepted annotation's
//! accepted cell as they move its plain cell: their staging reads the acceptances of the
//! annotations they touch and rewrites the entry of each annotation they change (an absent
//! one as a zero entry) with its generation bumped, on the precondition that it is as read. A
//! verdict reads the annotation's acceptance entry, then the annotation, and rewrites the
//! entry (generation bumped) on the precondition that it is as read. So of a verdict and an
//! annotation write on the same annotation, the one that commits second finds the entry
//! changed, fails with `Conflict` and is redone from fresh reads: no annotation is counted
//! under a type or state it no longer has, and verdicts only contend with writes to the same
//! annotation. A whole-image verdict guards itself with the image's blocks of id-ordered
//! copies instead ([`Index::AnnotationById`], rewritten by every write to one of their
//! annotations), since it cannot know the image's annotations before reading them.
//!
//! A store from before has verdicts but no acceptances: [`Catalog::build_counts`] builds them
//! from the verification records, recounts every image and then writes the marker (the empty
//! key of [`Index::Acceptances`]); until then statistics count by scanning.

use super::Catalog;
use super::RETRIES;
use super::byid;
use super::counts::{self, ACCEPTED, DELETED, NO_GEOMETRY, Tally};
use super::fsck::FsckReport;
use crate::ids::{AnnotationTypeId, ImageId};
use crate::keys::{Key, prefix_end};
use crate::model::{Annotation, Verification};
use crate::pages;
use crate::store::{Batch, EntryWrite, Expect, Index};
use crate::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

/// Key of the marker: acceptances and accepted counts built (no annotation key is empty).
const READY: &[u8] = &[];
/// Ids looked up per range query.
const CHUNK: usize = 4096;

/// What a verdict read before the annotations it judges (see [`Catalog::verdict_guards`]).
pub(crate) enum Guards {
    /// Per annotation id, its acceptance entry (absent: none yet).
    Acceptances(HashMap<u64, Vec<u8>>),
    /// Per block of id-ordered copies ([`crate::pages::block_of`]), its bytes.
    Blocks(HashMap<u64, Vec<u8>>),
}

/// The live annotations of one type on one image, from the maintained counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Verified {
    /// Live (not soft-deleted), with or without geometry.
    pub(crate) live: u64,
    /// Live without geometry ("not in image").
    pub(crate) without_geometry: u64,
    /// Live with at least one acceptance.
    pub(crate) accepted: u64,
}

fn key(id: u64) -> Vec<u8> {
    Key::new().u64(id).build()
}

/// The number an acceptance entry holds (u64 LE, then its generation, u64 LE).
fn number(value: &[u8]) -> Option<u64> {
    value
        .get(..8)
        .filter(|_| value.len() == 16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
}

/// The generation of an acceptance entry (0: none, or damaged).
fn generation(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| v.get(8..16))
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// An acceptance entry's bytes: `n` acceptances, and the generation after `old`'s, so every
/// rewrite changes the bytes a concurrent writer's precondition holds.
fn entry_value(n: u64, old: Option<&[u8]>) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(&generation(old).wrapping_add(1).to_le_bytes());
    v
}

/// Whether a stored acceptance entry says the annotation is accepted.
pub(crate) fn accepted(value: &[u8]) -> bool {
    number(value).is_some_and(|n| n > 0)
}

/// The entries that guard an annotation write against verdicts on the annotations it
/// rewrites (`existing`: their ids, sorted and distinct; `stored`: their entries, from
/// [`Catalog::acceptances`]): each entry rewritten with its generation bumped, an absent one
/// as zero.
pub(crate) fn stage_write_guards(
    batch: &mut Batch,
    existing: &[u64],
    stored: &HashMap<u64, Vec<u8>>,
) {
    for id in existing {
        let old = stored.get(id);
        batch.entries.push(EntryWrite {
            index: Index::Acceptances,
            key: key(*id),
            id: 0,
            value: Some(entry_value(
                old.and_then(|v| number(v)).unwrap_or(0),
                old.map(Vec::as_slice),
            )),
            expect: old.map_or(Expect::Absent, |v| Expect::Exactly(v.clone())),
        });
    }
}

/// The entry write marking acceptances and accepted counts built.
pub(crate) fn ready_marker() -> EntryWrite {
    EntryWrite {
        index: Index::Acceptances,
        key: READY.to_vec(),
        id: 0,
        value: Some(vec![1]),
        expect: Expect::Anything,
    }
}

/// The write that sets annotation `id`'s acceptances from `old` (its entry, if any) to `n`.
fn set_number(id: u64, old: Option<&[u8]>, n: u64) -> EntryWrite {
    EntryWrite {
        index: Index::Acceptances,
        key: key(id),
        id: 0,
        // Kept at zero, never deleted: absent → present → absent would let a verdict's
        // precondition pass over a write in between.
        value: Some(entry_value(n, old)),
        expect: old.map_or(Expect::Absent, |v| Expect::Exactly(v.to_vec())),
    }
}

impl Catalog {
    /// Whether acceptances and accepted counts are built, cached once true.
    pub(crate) fn accepted_ready(&self) -> Result<bool> {
        if self.accepted_built.load(Ordering::Relaxed) {
            return Ok(true);
        }
        // The marker sorts first (empty key); see `counts_ready` for why not `READY..[0]`.
        let ready = self
            .store
            .index_range(Index::Acceptances, READY, &[0xFF], 1)?
            .first()
            .is_some_and(|e| e.key.is_empty());
        if ready {
            self.accepted_built.store(true, Ordering::Relaxed);
        }
        Ok(ready)
    }

    /// The acceptance entries of `ids` (sorted, distinct) that exist: id → stored value
    /// (zero entries included: see [`accepted`]).
    /// Dense runs of ids are read as one range, sparse ones id by id, so a bulk insert of
    /// fresh ids costs a few empty range reads.
    pub(crate) fn acceptances(&self, ids: &[u64]) -> Result<HashMap<u64, Vec<u8>>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let (Some(&first), Some(&last)) = (chunk.first(), chunk.last()) else {
                continue;
            };
            let span = last.saturating_sub(first).saturating_add(1);
            let ranges: Vec<(Vec<u8>, Vec<u8>)> = if span <= 16 * chunk.len() as u64 {
                let end = last.checked_add(1).map_or_else(|| vec![0xFF; 9], key);
                vec![(key(first), end)]
            } else {
                chunk
                    .iter()
                    .map(|&id| {
                        let k = key(id);
                        let end = prefix_end(&k);
                        (k, end)
                    })
                    .collect()
            };
            let wanted: std::collections::HashSet<u64> = chunk.iter().copied().collect();
            for found in self
                .store
                .index_range_many(Index::Acceptances, &ranges, usize::MAX)?
            {
                for e in found {
                    if let Some(id) = <[u8; 8]>::try_from(e.key.as_slice())
                        .ok()
                        .map(u64::from_be_bytes)
                        && wanted.contains(&id)
                    {
                        out.insert(id, e.value);
                    }
                }
            }
        }
        Ok(out)
    }

    /// What guards verdicts on `ids` of `image` against concurrent annotation writes: their
    /// acceptance entries, which every write to them rewrites with a new generation; for a
    /// whole image (`None`), every block of its id-ordered copies ([`Index::AnnotationById`]),
    /// which every write to one of their annotations rewrites. Read *before* the annotations
    /// themselves.
    pub(crate) fn verdict_guards(&self, image: ImageId, ids: Option<&[u64]>) -> Result<Guards> {
        if let Some(ids) = ids {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            return Ok(Guards::Acceptances(self.acceptances(&ids)?));
        }
        let image_key = Key::new().u64(image.0).build();
        let mut out = HashMap::new();
        for e in self.store.index_range(
            Index::AnnotationById,
            &byid::key(image.0, 0),
            &prefix_end(&image_key),
            usize::MAX,
        )? {
            // Blocks only (16-byte keys), not their loose entries (see `byid`).
            if let Some(block) = (e.key.len() == 16)
                .then_some(&e.key)
                .and_then(|k| k.get(8..16))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
            {
                out.insert(block, e.value);
            }
        }
        Ok(Guards::Blocks(out))
    }

    /// Stages the acceptance changes of verdicts on annotations of `image` into `batch`:
    /// `changes` holds each annotation as read *after* `guards` ([`Catalog::verdict_guards`])
    /// and how many acceptances it gains (negative: loses). Each changed annotation's entry
    /// is rewritten on the precondition that its guard is unchanged (no annotation write
    /// committed meanwhile); one becoming accepted or not moves its accepted cell in one
    /// count shard of the image (`attempt` moves a retry to another shard).
    pub(crate) fn stage_verdicts(
        &self,
        batch: &mut Batch,
        image: ImageId,
        guards: &Guards,
        changes: &[(&Annotation, i64)],
        attempt: usize,
    ) -> Result<()> {
        let mut gains: BTreeMap<u64, (i64, (u64, u8))> = BTreeMap::new();
        for (a, d) in changes.iter().filter(|(_, d)| *d != 0) {
            let g = gains.entry(a.id.0).or_insert((0, counts::cell_of(a)));
            g.0 += d;
        }
        let ids: Vec<u64> = gains.keys().copied().collect();
        let Some(&seed) = ids.first() else {
            return Ok(());
        };
        let (mut stored, blocks) = match guards {
            Guards::Acceptances(read) => (read.clone(), None),
            Guards::Blocks(blocks) => (self.acceptances(&ids)?, Some(blocks)),
        };
        let mut moved = Tally::new();
        let mut guarded = std::collections::HashSet::new();
        for (id, (gain, (ty, flags))) in gains {
            let old = stored.remove(&id);
            let before = old.as_deref().and_then(number).unwrap_or(0);
            let after = before.saturating_add_signed(gain);
            if after == before {
                continue;
            }
            batch.entries.push(set_number(id, old.as_deref(), after));
            // The annotation as read: an annotation write since changes its block.
            let block = pages::block_of(id);
            if let Some(blocks) = blocks
                && guarded.insert(block)
            {
                let guard = blocks.get(&block);
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationById,
                    key: byid::key(image.0, block),
                    id: 0,
                    value: guard.cloned(),
                    expect: guard.map_or(Expect::Absent, |v| Expect::Exactly(v.clone())),
                });
            }
            if (before > 0) != (after > 0) {
                *moved.entry((ty, flags | ACCEPTED)).or_insert(0) += if after > 0 { 1 } else { -1 };
            }
        }
        moved.retain(|_, n| *n != 0);
        if moved.is_empty() {
            return Ok(());
        }
        let delta = counts::Delta {
            counts: moved,
            ..Default::default()
        };
        let deltas = BTreeMap::from([(image.0, (seed, delta))]);
        self.stage_counts(batch, &deltas, attempt)
    }

    /// Per type, the live annotations of `image` (all, whoever created them), those without
    /// geometry and those accepted, from the maintained counts; `None` when they cannot be
    /// trusted (not built, or damaged: reported). A trusted read: callers check permissions.
    pub(crate) fn verified_counts(
        &self,
        image: ImageId,
    ) -> Result<Option<BTreeMap<AnnotationTypeId, Verified>>> {
        if !self.counts_ready()? || !self.accepted_ready()? {
            return Ok(None);
        }
        let what = self.store.location();
        let mut sum = Tally::new();
        for e in self.count_shards(image.0)? {
            match counts::decode(&e.value, what, image.0) {
                Ok((_, _, t)) => counts::add(&mut sum, &t),
                Err(err) => {
                    self.report(&err);
                    return Ok(None);
                }
            }
        }
        let mut out: BTreeMap<AnnotationTypeId, Verified> = BTreeMap::new();
        for ((ty, flags), n) in sum {
            if n < 0 {
                self.report(&Error::corrupt(
                    what,
                    format!(
                        "annotation counts of image {image}: {n} of type {ty} (run `exact fsck --repair`)"
                    ),
                ));
                return Ok(None);
            }
            if flags & DELETED != 0 {
                continue;
            }
            let v = out.entry(AnnotationTypeId(ty)).or_default();
            let n = n as u64;
            if flags & ACCEPTED != 0 {
                v.accepted += n;
            } else {
                v.live += n;
                if flags & NO_GEOMETRY != 0 {
                    v.without_geometry += n;
                }
            }
        }
        out.retain(|_, v| v.live > 0);
        Ok(Some(out))
    }

    /// The acceptance entries that differ from the verification records: (annotation id,
    /// stored value, the number the records give).
    #[allow(clippy::type_complexity)]
    fn acceptance_diff(&self) -> Result<Vec<(u64, Option<Vec<u8>>, u64)>> {
        // Entries first, records second: a verdict committed in between changes an entry
        // read here, so a repair built from this diff fails its precondition and is redone.
        let mut stored: HashMap<u64, Vec<u8>> = HashMap::new();
        for e in self
            .store
            .index_range(Index::Acceptances, &[0], &[0xFF; 9], usize::MAX)?
        {
            if let Ok(k) = <[u8; 8]>::try_from(e.key.as_slice()) {
                stored.insert(u64::from_be_bytes(k), e.value);
            }
        }
        let mut want: HashMap<u64, u64> = HashMap::new();
        for v in self.all::<Verification>()? {
            if v.verified {
                *want.entry(v.annotation.0).or_insert(0) += 1;
            }
        }
        let mut out = Vec::new();
        for (&id, value) in &stored {
            let w = want.get(&id).copied().unwrap_or(0);
            // A zero entry (left by an annotation write's guard) is right when none accepted.
            if number(value) != Some(w) {
                out.push((id, Some(value.clone()), w));
            }
        }
        for (&id, &w) in &want {
            if !stored.contains_key(&id) {
                out.push((id, None, w));
            }
        }
        out.sort_unstable_by_key(|d| d.0);
        Ok(out)
    }

    /// Sets every annotation's acceptance entry from the verification records (a store
    /// from before they existed, or `fsck --repair`). Returns how many entries changed.
    pub(crate) fn build_acceptances(&self) -> Result<usize> {
        for _ in 0..RETRIES {
            let diff = self.acceptance_diff()?;
            if diff.is_empty() {
                return Ok(0);
            }
            let mut batch = Batch::default();
            for (id, old, n) in &diff {
                batch.entries.push(set_number(*id, old.as_deref(), *n));
            }
            match self.store.commit(batch) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(diff.len()),
            }
        }
        Err(Error::Conflict {
            what: "acceptances of annotations".into(),
        })
    }

    /// `fsck`: every acceptance entry equals what the verification records give; `repair`
    /// rewrites those that differ (the counts check after it then recounts the images).
    pub(super) fn fsck_acceptances(&self, repair: bool, report: &mut FsckReport) -> Result<()> {
        let diff = self.acceptance_diff()?;
        if diff.is_empty() {
            return Ok(());
        }
        report.found(
            "acceptances",
            format!(
                "{} annotations' acceptance numbers differ from their verifications (first: annotation {})",
                diff.len(),
                diff[0].0
            ),
            repair,
        );
        if repair {
            self.build_acceptances()?;
        }
        Ok(())
    }
}
