//! Annotation storage over the [`MetaStore`]: pages per grid cell and locator blocks (see
//! [`crate::pages`]). Every write is one atomic batch with optimistic preconditions on the pages
//! and blocks it rewrites, retried when a concurrent writer got there first, and committed in
//! one place ([`Catalog::commit_annotations`]).
//!
//! Reads are not snapshots: a reader sees a locator block and the pages it names at different
//! instants, so it may follow a locator into a cell the annotation just left. Reads of one
//! annotation re-read the locator and retry; list reads drop duplicates seen in two cells.
//! A damaged page or record is reported ([`Catalog::on_corrupt`]) and skipped, never allowed
//! to fail a whole list; `fsck` repairs it.
//!
//! A small insert (fewer than [`byid::LOOSE_BELOW`] annotations in one locator block) does not
//! rewrite the block: each new id gets a loose locator entry of its own (same key as the block,
//! id = the annotation id), so concurrent single saves do not contend for the block their fresh
//! ids share. Readers lay loose entries over the block ([`Locator`]); the next rewrite of the
//! block folds them in and deletes them under preconditions.

use super::byid;
use super::counts::{self, Delta};
use super::query::AnnotationQuery;
use super::{Catalog, RETRIES};
use crate::codec;
use crate::grid;
use crate::ids::{AnnotationId, ImageId};
use crate::keys::{Key, prefix_end};
use crate::model::Annotation;
use crate::pages::{self, APPEND_BELOW, IBox, PAGE_BYTES, PageEntry};
use crate::store::{Batch, EntryWrite, Expect, Index, IndexEntry, Kind};
use crate::{Error, ErrorKind, Result};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One annotation ready to be filed.
pub(crate) struct Filed {
    pub(crate) id: u64,
    pub(crate) image: u64,
    pub(crate) cell: Vec<u8>,
    pub(crate) bbox: Option<IBox>,
    pub(crate) data: Vec<u8>,
}

impl Filed {
    pub(crate) fn of(a: &Annotation) -> Filed {
        let bbox = a.vector.as_ref().and_then(|v| v.bbox());
        Filed {
            id: a.id.0,
            image: a.image.0,
            cell: grid::cell_key(a.image.0, bbox.as_ref()),
            bbox: bbox.as_ref().map(pages::ibox),
            data: codec::encode_annotation(a),
        }
    }
}

/// Where an annotation currently is.
struct Located {
    cell: Vec<u8>,
    page_id: u64,
    /// Shared by every annotation a bulk lookup found in the same page.
    page: Arc<Vec<u8>>,
    annotation: Annotation,
}

/// An annotation id pointed at a new cell (`None` forgets it), in a locator block.
type Move = (u64, Option<Vec<u8>>);

/// A page being rewritten by a batch: per annotation id, its new entry (`None` = it leaves).
struct Rewrite {
    cell: Vec<u8>,
    page: Arc<Vec<u8>>,
    replace: HashMap<u64, Option<Filed>>,
}

pub(crate) fn block_key(block: u64) -> Vec<u8> {
    Key::new().u64(block).build()
}

/// Entries one locator block can have: the block and a loose entry per id of it.
const LOCATOR_ENTRIES: usize = 257;

/// A locator block as stored: the block entry (id 0: id low byte → cell) and the loose
/// entries of ids filed since it was last rewritten (id = the annotation id, value = its
/// cell). Small inserts write loose entries; the next rewrite of the block folds them in.
#[derive(Default)]
pub(crate) struct Locator {
    pub(crate) block: Option<Vec<u8>>,
    pub(crate) loose: Vec<(u64, Vec<u8>)>,
}

impl Locator {
    pub(crate) fn of(entries: Vec<IndexEntry>) -> Locator {
        let mut out = Locator::default();
        for e in entries {
            if e.id == 0 {
                out.block = Some(e.value);
            } else {
                out.loose.push((e.id, e.value));
            }
        }
        out
    }

    /// Id low byte → cell: the block with the loose entries laid over it.
    pub(crate) fn map(&self, what: &str) -> Result<BTreeMap<u8, Vec<u8>>> {
        let mut map = match &self.block {
            Some(bytes) => pages::decode_block(bytes, what)?,
            None => BTreeMap::new(),
        };
        for (id, cell) in &self.loose {
            map.insert(*id as u8, cell.clone());
        }
        Ok(map)
    }
}

impl Catalog {
    pub(crate) fn cell_pages(&self, cell: &[u8]) -> Result<Vec<IndexEntry>> {
        self.store
            .index_range(Index::AnnotationGrid, cell, &prefix_end(cell), usize::MAX)
    }

    fn locator_block(&self, block: u64) -> Result<Locator> {
        let key = block_key(block);
        let found = self.store.index_range(
            Index::AnnotationLocator,
            &key,
            &prefix_end(&key),
            LOCATOR_ENTRIES,
        )?;
        Ok(Locator::of(found))
    }

    /// The locator blocks `blocks` (distinct), read together (one round trip on a networked
    /// store).
    fn locator_blocks(&self, blocks: &[u64]) -> Result<HashMap<u64, Locator>> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = blocks
            .iter()
            .map(|b| {
                let key = block_key(*b);
                let end = prefix_end(&key);
                (key, end)
            })
            .collect();
        let found =
            self.store
                .index_range_many(Index::AnnotationLocator, &ranges, LOCATOR_ENTRIES)?;
        Ok(blocks
            .iter()
            .zip(found)
            .map(|(b, f)| (*b, Locator::of(f)))
            .collect())
    }

    /// The last page of each of `cells` (distinct), read together.
    fn last_pages(&self, cells: &[&[u8]]) -> Result<HashMap<Vec<u8>, Option<IndexEntry>>> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> =
            cells.iter().map(|c| (c.to_vec(), prefix_end(c))).collect();
        let last = self.store.index_last_many(Index::AnnotationGrid, &ranges)?;
        Ok(ranges.into_iter().map(|r| r.0).zip(last).collect())
    }

    /// Gives the new pages a batch opened (`fresh`: their positions in `batch.entries`) ids
    /// from one allocation.
    fn number_pages(&self, batch: &mut Batch, fresh: &[usize]) -> Result<()> {
        if fresh.is_empty() {
            return Ok(());
        }
        let first = self
            .store
            .allocate_ids(Kind::AnnotationPage, fresh.len() as u64)?;
        for (n, at) in fresh.iter().enumerate() {
            batch.entries[*at].id = first + n as u64;
        }
        Ok(())
    }

    /// The one place annotation writes are committed: inserts, changes and bulk changes.
    /// Anything that must follow every committed annotation write belongs here: the count
    /// deltas of each image touched (`deltas`: per image, a seed choosing its count shard and
    /// the delta; see [`super::counts`]) go into the same batch.
    fn commit_annotations(
        &self,
        mut batch: Batch,
        deltas: &BTreeMap<u64, (u64, Delta)>,
        attempt: usize,
    ) -> Result<()> {
        self.stage_counts(&mut batch, deltas, attempt)?;
        self.store.commit(batch)
    }

    /// Files new annotations (fresh ids) in one atomic, durable batch.
    pub(crate) fn insert_annotations(&self, anns: &[Annotation]) -> Result<()> {
        self.insert_annotations_with(anns, Vec::new())
    }

    /// Files annotations in the grid together with `extra` entries, in one atomic batch (a
    /// restore from the trash: the annotation back, its trash entry gone, its history).
    pub(crate) fn insert_annotations_with(
        &self,
        anns: &[Annotation],
        extra: Vec<EntryWrite>,
    ) -> Result<()> {
        let mut by_cell: BTreeMap<Vec<u8>, Vec<Filed>> = BTreeMap::new();
        for a in anns {
            let f = Filed::of(a);
            by_cell.entry(f.cell.clone()).or_default().push(f);
        }
        let mut tallies: BTreeMap<u64, Delta> = BTreeMap::new();
        for a in anns {
            counts::tally(&mut tallies, a, 1);
        }
        let deltas = seeded(tallies, anns.iter().map(|a| (a.image.0, a.id.0)));
        let mut copies = byid::Copies::inserting();
        for f in by_cell.values().flatten() {
            copies.set(f.image, f.id, Some(&f.data));
        }
        for attempt in 0..RETRIES {
            let mut batch = Batch::default();
            batch.entries.extend(extra.iter().cloned());
            let cells: Vec<&[u8]> = by_cell.keys().map(Vec::as_slice).collect();
            let mut lasts = self.last_pages(&cells)?;
            let mut fresh = Vec::new();
            for (cell, items) in &by_cell {
                let last = lasts.remove(cell).flatten();
                self.append_at(
                    &mut batch,
                    cell,
                    last,
                    items.iter(),
                    &HashSet::new(),
                    &mut fresh,
                );
            }
            self.number_pages(&mut batch, &fresh)?;
            let mut blocks: BTreeMap<u64, Vec<&Filed>> = BTreeMap::new();
            for f in by_cell.values().flatten() {
                blocks.entry(pages::block_of(f.id)).or_default().push(f);
            }
            self.stage_copies(&mut batch, &copies)?;
            // A small insert files loose locator entries (fresh ids: no precondition), so
            // concurrent single saves do not contend for their common block.
            let (loose, rewrite): (BTreeMap<_, _>, BTreeMap<_, _>) = blocks
                .into_iter()
                .partition(|(_, items)| items.len() < byid::LOOSE_BELOW);
            for f in loose.values().flatten() {
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationLocator,
                    key: block_key(pages::block_of(f.id)),
                    id: f.id,
                    value: Some(f.cell.clone()),
                    expect: Expect::Anything,
                });
            }
            let keys: Vec<u64> = rewrite.keys().copied().collect();
            let mut olds = self.locator_blocks(&keys)?;
            for (block, items) in rewrite {
                let old = olds.remove(&block).unwrap_or_default();
                self.relocate(
                    &mut batch,
                    block,
                    old,
                    items.iter().map(|f| (f.id, Some(f.cell.clone()))),
                )?;
            }
            match self.commit_annotations(batch, &deltas, attempt) {
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    super::backoff(attempt);
                    continue;
                }
                other => return other,
            }
        }
        Err(Error::Conflict {
            what: "annotation pages".into(),
        })
    }

    /// Queues appending `items` to `cell`: into its last page while it has room (unless the
    /// batch already rewrites that page, one of `busy`), then into new pages.
    /// Queues appending `items` to `cell`: into its last page (`last`, read by the caller) while
    /// it has room (unless the batch already rewrites that page, one of `busy`), then into new
    /// pages. New pages get id 0 and their positions in `batch.entries` pushed to `fresh`, for
    /// [`Catalog::number_pages`] to number in one allocation.
    fn append_at<'a>(
        &self,
        batch: &mut Batch,
        cell: &[u8],
        last: Option<IndexEntry>,
        items: impl Iterator<Item = &'a Filed>,
        busy: &HashSet<u64>,
        fresh: &mut Vec<usize>,
    ) {
        let mut current: Option<(u64, Vec<u8>, Expect)> = match last {
            Some(last) if last.value.len() < APPEND_BELOW && !busy.contains(&last.id) => {
                let old = last.value.clone();
                Some((last.id, last.value, Expect::Exactly(old)))
            }
            _ => None,
        };
        for f in items {
            let size = pages::entry_size(f.id, f.bbox, &f.data);
            let full = current
                .as_ref()
                .is_some_and(|(_, p, _)| p.len() > 1 && p.len() + size > PAGE_BYTES);
            if current.is_none() || full {
                if let Some((id, page, expect)) = current.take() {
                    if expect == Expect::Anything {
                        fresh.push(batch.entries.len());
                    }
                    batch.entries.push(EntryWrite {
                        index: Index::AnnotationGrid,
                        key: cell.to_vec(),
                        id,
                        value: Some(page),
                        expect,
                    });
                }
                current = Some((0, Vec::new(), Expect::Anything));
            }
            if let Some((_, page, _)) = current.as_mut() {
                pages::push_entry(page, f.id, f.bbox, &f.data);
            }
        }
        if let Some((id, page, expect)) = current {
            if expect == Expect::Anything {
                fresh.push(batch.entries.len());
            }
            batch.entries.push(EntryWrite {
                index: Index::AnnotationGrid,
                key: cell.to_vec(),
                id,
                value: Some(page),
                expect,
            });
        }
    }

    /// Queues pointing ids of one locator block at new cells (`None` forgets the id), folding
    /// the block's loose entries into it. `old` is the block as read by the caller; its loose
    /// entries are deleted under preconditions, so one written meanwhile is kept.
    fn relocate(
        &self,
        batch: &mut Batch,
        block: u64,
        old: Locator,
        moves: impl Iterator<Item = (u64, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let mut map = old.map(self.store.location())?;
        for (id, cell) in moves {
            match cell {
                Some(c) => map.insert(id as u8, c),
                None => map.remove(&(id as u8)),
            };
        }
        let key = block_key(block);
        for (id, cell) in old.loose {
            batch.entries.push(EntryWrite {
                index: Index::AnnotationLocator,
                key: key.clone(),
                id,
                value: None,
                expect: Expect::Exactly(cell),
            });
        }
        batch.entries.push(EntryWrite {
            index: Index::AnnotationLocator,
            key,
            id: 0,
            value: (!map.is_empty()).then(|| pages::encode_block(&map)),
            expect: old.block.map_or(Expect::Absent, Expect::Exactly),
        });
        Ok(())
    }

    /// The cell the locator names for `id`.
    fn locator_cell(&self, id: AnnotationId) -> Result<Option<Vec<u8>>> {
        let block = self.locator_block(pages::block_of(id.0))?;
        Ok(block.map(self.store.location())?.remove(&(id.0 as u8)))
    }

    /// Finds `id` in the pages of `cell`; damaged sibling entries are reported and skipped.
    fn find_in_cell(&self, id: AnnotationId, cell: &[u8]) -> Result<Option<Located>> {
        let what = self.store.location();
        for page in self.cell_pages(cell)? {
            let (found, damage) = pages::entries_lossy(&page.value, what);
            if let Some(e) = damage {
                self.report(&e);
            }
            if let Some(e) = found.into_iter().find(|e| e.id == id.0) {
                let annotation = codec::decode_annotation(e.id, e.data, what)
                    .map_err(|e| Error::corrupt(what, format!("{id}: {e}")))?;
                return Ok(Some(Located {
                    cell: cell.to_vec(),
                    page_id: page.id,
                    page: Arc::new(page.value),
                    annotation,
                }));
            }
        }
        Ok(None)
    }

    fn locate(&self, id: AnnotationId) -> Result<Option<Located>> {
        for attempt in 0..RETRIES {
            let Some(cell) = self.locator_cell(id)? else {
                return Ok(None);
            };
            if let Some(found) = self.find_in_cell(id, &cell)? {
                return Ok(Some(found));
            }
            // Moved between reading the locator and its cell (a move commits both at once):
            // the locator now names the new cell. Only a locator that keeps naming a cell
            // without the annotation is damage.
            if attempt > 2 {
                std::thread::yield_now();
            }
        }
        Err(Error::corrupt(
            self.store.location(),
            format!("{id} is missing from the page its locator names (run `exact fsck`)"),
        ))
    }

    /// The annotation `id`, without permission checks.
    pub(crate) fn find_annotation(&self, id: AnnotationId) -> Result<Option<Annotation>> {
        Ok(self.locate(id)?.map(|l| l.annotation))
    }

    /// The annotations `ids` (in order), without permission checks; see
    /// [`Catalog::locate_many`].
    pub(crate) fn find_annotations(&self, ids: &[AnnotationId]) -> Result<Vec<Option<Annotation>>> {
        Ok(self
            .locate_many(ids)?
            .into_iter()
            .map(|l| l.map(|l| l.annotation))
            .collect())
    }

    /// The grid's encodings of `ids` (`None`: not filed), for the id-ordered copies too large
    /// to copy (see [`super::byid`]).
    pub(super) fn grid_encodings(&self, ids: &[AnnotationId]) -> Result<Vec<Option<Vec<u8>>>> {
        let what = self.store.location();
        let mut out = Vec::with_capacity(ids.len());
        for (id, loc) in ids.iter().zip(self.locate_many(ids)?) {
            let data = match loc {
                None => None,
                Some(loc) => pages::entries_lossy(&loc.page, what)
                    .0
                    .into_iter()
                    .find(|e| e.id == id.0)
                    .map(|e| e.data.to_vec()),
            };
            out.push(data);
        }
        Ok(out)
    }

    /// Where each of `ids` is (in order), reading each locator block and each cell's pages
    /// once: a bulk write of n annotations sharing a page would otherwise decode that page n
    /// times (quadratic in the page's fill). An id missing from the cell its locator names
    /// (moved meanwhile), or repeated, is looked up alone, with [`Catalog::locate`]'s retries.
    fn locate_many(&self, ids: &[AnnotationId]) -> Result<Vec<Option<Located>>> {
        let what = self.store.location();
        let mut keys: Vec<u64> = ids.iter().map(|id| pages::block_of(id.0)).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut raw = self.locator_blocks(&keys)?;
        let mut blocks: HashMap<u64, BTreeMap<u8, Vec<u8>>> = HashMap::new();
        let mut wanted: BTreeMap<Vec<u8>, HashSet<u64>> = BTreeMap::new();
        for id in ids {
            let block = pages::block_of(id.0);
            let map = match blocks.entry(block) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(raw.remove(&block).unwrap_or_default().map(what)?),
            };
            if let Some(cell) = map.get(&(id.0 as u8)) {
                wanted.entry(cell.clone()).or_default().insert(id.0);
            }
        }
        let ranges: Vec<(Vec<u8>, Vec<u8>)> =
            wanted.keys().map(|c| (c.clone(), prefix_end(c))).collect();
        let cells = self
            .store
            .index_range_many(Index::AnnotationGrid, &ranges, usize::MAX)?;
        let mut found: HashMap<u64, Located> = HashMap::with_capacity(ids.len());
        for ((cell, want), pages_of_cell) in wanted.iter().zip(cells) {
            for page in pages_of_cell {
                let shared = Arc::new(page.value);
                let (entries, damage) = pages::entries_lossy(&shared, what);
                if let Some(e) = damage {
                    self.report(&e);
                }
                for e in entries.into_iter().filter(|e| want.contains(&e.id)) {
                    let annotation =
                        codec::decode_annotation(e.id, e.data, what).map_err(|err| {
                            Error::corrupt(what, format!("{}: {err}", AnnotationId(e.id)))
                        })?;
                    let at = Located {
                        cell: cell.clone(),
                        page_id: page.id,
                        page: Arc::clone(&shared),
                        annotation,
                    };
                    found.insert(e.id, at);
                }
            }
        }
        ids.iter()
            .map(|id| match found.remove(&id.0) {
                Some(at) => Ok(Some(at)),
                None => self.locate(*id),
            })
            .collect()
    }

    /// Read-modify-write of one annotation with optimistic retries; `change` returns the new
    /// state and extra entries (its history) to write in the same batch.
    pub(crate) fn modify_annotation(
        &self,
        id: AnnotationId,
        change: impl FnMut(&Annotation) -> Result<(Annotation, Vec<EntryWrite>)>,
    ) -> Result<Annotation> {
        let mut out = self.modify_annotations(&[id], change)?;
        Ok(out.remove(0))
    }

    /// Read-modify-write of several annotations in one atomic batch (all or none), with
    /// optimistic retries; `change` is called once per id per attempt, in order. Ids must be
    /// distinct.
    pub(crate) fn modify_annotations(
        &self,
        ids: &[AnnotationId],
        change: impl FnMut(&Annotation) -> Result<(Annotation, Vec<EntryWrite>)>,
    ) -> Result<Vec<Annotation>> {
        self.rewrite_annotations(ids, change, false)
    }

    /// Like [`Catalog::modify_annotations`], but takes the annotations out of the grid (and
    /// the locator) instead of filing their new state: `change` returns the state to keep
    /// elsewhere (the trash entry goes in its extra entries).
    pub(crate) fn remove_annotations(
        &self,
        ids: &[AnnotationId],
        change: impl FnMut(&Annotation) -> Result<(Annotation, Vec<EntryWrite>)>,
    ) -> Result<Vec<Annotation>> {
        self.rewrite_annotations(ids, change, true)
    }

    fn rewrite_annotations(
        &self,
        ids: &[AnnotationId],
        mut change: impl FnMut(&Annotation) -> Result<(Annotation, Vec<EntryWrite>)>,
        remove: bool,
    ) -> Result<Vec<Annotation>> {
        let what = self.store.location();
        let mut seen = HashSet::with_capacity(ids.len());
        if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(Error::invalid("id", format!("{dup} is given twice")));
        }
        'attempt: for attempt in 0..RETRIES {
            let mut batch = Batch::default();
            let mut tallies: BTreeMap<u64, Delta> = BTreeMap::new();
            let mut news = Vec::with_capacity(ids.len());
            let mut rewrites: BTreeMap<u64, Rewrite> = BTreeMap::new();
            let mut arrivals: BTreeMap<Vec<u8>, Vec<Filed>> = BTreeMap::new();
            let mut moves: BTreeMap<u64, Vec<Move>> = BTreeMap::new();
            // The id-ordered copies to change: (image, id, new encoding or none).
            let mut copied: Vec<(u64, u64, Option<Vec<u8>>)> = Vec::with_capacity(ids.len());
            for (&id, loc) in ids.iter().zip(self.locate_many(ids)?) {
                let loc = loc.ok_or_else(|| Error::not_found(id))?;
                let (new, extra) = change(&loc.annotation)?;
                batch.entries.extend(extra);
                counts::tally(&mut tallies, &loc.annotation, -1);
                if !remove {
                    counts::tally(&mut tallies, &new, 1);
                }
                let filed = Filed::of(&new);
                if remove || new.image != loc.annotation.image {
                    copied.push((loc.annotation.image.0, id.0, None));
                }
                if !remove {
                    copied.push((filed.image, id.0, Some(filed.data.clone())));
                }
                let rw = rewrites.entry(loc.page_id).or_insert_with(|| Rewrite {
                    cell: loc.cell.clone(),
                    page: loc.page.clone(),
                    replace: HashMap::new(),
                });
                if rw.page != loc.page {
                    // The page changed between two reads of this batch: start again.
                    continue 'attempt;
                }
                if remove {
                    rw.replace.insert(id.0, None);
                    moves
                        .entry(pages::block_of(id.0))
                        .or_default()
                        .push((id.0, None));
                } else if filed.cell == loc.cell {
                    rw.replace.insert(id.0, Some(filed));
                } else {
                    rw.replace.insert(id.0, None);
                    moves
                        .entry(pages::block_of(id.0))
                        .or_default()
                        .push((id.0, Some(filed.cell.clone())));
                    arrivals.entry(filed.cell.clone()).or_default().push(filed);
                }
                news.push(new);
            }
            let busy: HashSet<u64> = rewrites.keys().copied().collect();
            for (page_id, rw) in &rewrites {
                let kept: Vec<PageEntry<'_>> = pages::entries(&rw.page, what)?
                    .into_iter()
                    .filter_map(|e| match rw.replace.get(&e.id) {
                        None => Some(e),
                        Some(None) => None,
                        Some(Some(f)) => Some(PageEntry {
                            id: e.id,
                            bbox: f.bbox,
                            data: &f.data,
                        }),
                    })
                    .collect();
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationGrid,
                    key: rw.cell.clone(),
                    id: *page_id,
                    value: (!kept.is_empty()).then(|| pages::build(&kept)),
                    expect: Expect::Exactly(rw.page.to_vec()),
                });
            }
            let cells: Vec<&[u8]> = arrivals.keys().map(Vec::as_slice).collect();
            let mut lasts = self.last_pages(&cells)?;
            let mut fresh = Vec::new();
            for (cell, items) in &arrivals {
                let last = lasts.remove(cell).flatten();
                self.append_at(&mut batch, cell, last, items.iter(), &busy, &mut fresh);
            }
            self.number_pages(&mut batch, &fresh)?;
            let keys: Vec<u64> = moves.keys().copied().collect();
            let mut olds = self.locator_blocks(&keys)?;
            for (block, m) in moves {
                let old = olds.remove(&block).unwrap_or_default();
                self.relocate(&mut batch, block, old, m.into_iter())?;
            }
            let mut copies = byid::Copies::default();
            for (image, id, data) in &copied {
                copies.set(*image, *id, data.as_deref());
            }
            self.stage_copies(&mut batch, &copies)?;
            let deltas = seeded(tallies, news.iter().map(|a| (a.image.0, a.id.0)));
            match self.commit_annotations(batch, &deltas, attempt) {
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    super::backoff(attempt);
                    continue;
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(news),
            }
        }
        Err(Error::Conflict {
            what: match ids {
                [one] => one.to_string(),
                _ => format!("{} annotations", ids.len()),
            },
        })
    }

    /// Every annotation of `image` matching `query`, without permission checks, by id.
    pub(crate) fn grid_scan(
        &self,
        image: ImageId,
        query: &AnnotationQuery,
    ) -> Result<Vec<Annotation>> {
        let mut out = Vec::new();
        self.grid_visit(image, query, &mut |a| out.push(a))?;
        out.sort_unstable_by_key(|a| a.id);
        // An annotation moving between cells during the scan may be met in both.
        out.dedup_by_key(|a| a.id);
        Ok(out)
    }

    /// Every annotation of `image` matching `query`, without permission checks, handed to
    /// `sink` as it is decoded, in storage order (grid cell by cell, not by id). Damaged pages
    /// and records are reported and skipped.
    pub(crate) fn grid_visit(
        &self,
        image: ImageId,
        query: &AnnotationQuery,
        sink: &mut dyn FnMut(Annotation),
    ) -> Result<()> {
        let ranges = match &query.viewport {
            Some(v) => grid::query_ranges(image.0, v),
            None => vec![grid::image_range(image.0)],
        };
        self.store
            .index_visit_many(Index::AnnotationGrid, &ranges, &mut |_, _, page| {
                self.scan_page(page, query, sink);
                true
            })
    }

    /// Visits the stored entries of `image` in the grid pages `query`'s viewport covers (every
    /// page without one), damaged pages reported; each entry's bounds are for the caller to test.
    fn visit_entries(
        &self,
        image: ImageId,
        query: &AnnotationQuery,
        visit: &mut dyn FnMut(&pages::PageEntry<'_>),
    ) -> Result<()> {
        let ranges = match &query.viewport {
            Some(v) => grid::query_ranges(image.0, v),
            None => vec![grid::image_range(image.0)],
        };
        let what = self.store.location();
        self.store
            .index_visit_many(Index::AnnotationGrid, &ranges, &mut |_, _, page| {
                if let Some(e) = pages::visit_lossy(page, what, |e| visit(&e)) {
                    self.report(&e);
                }
                true
            })
    }

    /// The encoded entries of `image` whose integer bounds may meet `query`'s viewport (all
    /// entries without one), as `(id, encoding)`, undecoded and unfiltered otherwise.
    pub(crate) fn grid_entries(
        &self,
        image: ImageId,
        query: &AnnotationQuery,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<()> {
        self.visit_entries(image, query, &mut |e| {
            if let Some(v) = &query.viewport {
                match &e.bbox {
                    Some(b) if pages::may_intersect(b, v) => {}
                    _ => return,
                }
            }
            sink(e.id, e.data);
        })
    }

    /// The id and [`codec::AnnotationHeader`] of every annotation of `image` matching `query`, without
    /// permission checks, in storage order. Only records whose integer bounds straddle the
    /// viewport's edge are decoded whole (to test their exact bounds).
    pub(crate) fn grid_heads(
        &self,
        image: ImageId,
        query: &AnnotationQuery,
        sink: &mut dyn FnMut(u64, codec::AnnotationHeader),
    ) -> Result<()> {
        let what = self.store.location();
        self.visit_entries(image, query, &mut |e| {
            let head = match (&query.viewport, &e.bbox) {
                (None, _) => codec::decode_head(e.data, what),
                (Some(v), Some(b)) if inside(b, v) => codec::decode_head(e.data, what),
                (Some(v), Some(b)) if pages::may_intersect(b, v) => {
                    match codec::decode_annotation(e.id, e.data, what) {
                        Ok(a) if query.matches(&a) => Ok(codec::AnnotationHeader {
                            annotation_type: a.annotation_type,
                            user: a.user,
                            last_edit_time: a.last_edit_time,
                            deleted: a.deleted,
                        }),
                        Ok(_) => return,
                        Err(err) => Err(err),
                    }
                }
                _ => return,
            };
            match head {
                Ok(h) if query.matches_header(&h) => sink(e.id, h),
                Ok(_) => {}
                Err(err) => self.report(&Error::corrupt(
                    what,
                    format!("{}: {err}", AnnotationId(e.id)),
                )),
            }
        })
    }

    /// The annotations stored in one page, damaged ones reported and skipped.
    pub(crate) fn page_annotations(&self, page: &[u8], sink: &mut dyn FnMut(Annotation)) {
        self.scan_page(page, &AnnotationQuery::everything(), sink)
    }

    /// Decodes the annotations of one page that match `query` into `sink`, skipping those
    /// whose integer bounds miss the viewport without decoding them.
    fn scan_page(&self, page: &[u8], query: &AnnotationQuery, sink: &mut dyn FnMut(Annotation)) {
        let what = self.store.location();
        let (entries, damage) = pages::entries_lossy(page, what);
        if let Some(e) = damage {
            self.report(&e);
        }
        for e in entries {
            if let Some(v) = &query.viewport {
                match &e.bbox {
                    Some(b) if pages::may_intersect(b, v) => {}
                    _ => continue,
                }
            }
            match codec::decode_annotation(e.id, e.data, what) {
                Ok(a) if query.matches(&a) => sink(a),
                Ok(_) => {}
                Err(err) => self.report(&Error::corrupt(
                    what,
                    format!("{}: {err}", AnnotationId(e.id)),
                )),
            }
        }
    }
}

/// Per image of `tallies`, the delta with a seed choosing its count shard: the smallest
/// annotation id `touched` names for that image (concurrent writers of different annotations
/// tend to pick different shards).
fn seeded(
    tallies: BTreeMap<u64, Delta>,
    touched: impl Iterator<Item = (u64, u64)>,
) -> BTreeMap<u64, (u64, Delta)> {
    let mut seeds: HashMap<u64, u64> = HashMap::new();
    for (image, id) in touched {
        let s = seeds.entry(image).or_insert(id);
        *s = (*s).min(id);
    }
    tallies
        .into_iter()
        .map(|(image, t)| {
            let seed = seeds.get(&image).copied().unwrap_or(image);
            (image, (seed, t))
        })
        .collect()
}

/// Whether integer bounds lie wholly inside `v` (then the exact bounds, inside them, intersect it).
fn inside(b: &IBox, v: &crate::geometry::BBox) -> bool {
    (b[0] as f64) >= v.min_x
        && (b[2] as f64) <= v.max_x
        && (b[1] as f64) >= v.min_y
        && (b[3] as f64) <= v.max_y
}
