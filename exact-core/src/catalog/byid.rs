//! Annotations in id order per image ([`Index::AnnotationById`]): every grid entry's encoding
//! copied into id blocks, key = image id | block ([`pages::block_of`]: 256 ids, as the locator
//! groups them), value = the block's annotations in id order in the page format. The copies
//! are written in the same atomic batch as the grid pages they copy ([`Catalog::stage_copies`],
//! under a precondition on each block it rewrites). A listing by id (EXACT's
//! `?image=&limit=1000`, EXACT-Sync's paging) reads its window from a few blocks instead of
//! visiting every page of the image: the cost follows the page, not the image. A bulk write
//! of 10,000 annotations rewrites about 40 blocks, not 10,000 entries.
//!
//! A small insert (fewer than [`LOOSE_BELOW`] annotations in one block) does not rewrite the
//! block: each new annotation gets a loose entry of its own (key = image | block | id, written
//! without a precondition, as its ids are fresh), so concurrent single saves on one image do
//! not contend for a block. Readers overlay a block's loose entries on it; the next write that
//! rewrites the block (a bulk insert, an edit, a delete) folds them in and deletes them under
//! preconditions, so a loose entry written meanwhile is kept.
//!
//! An encoding over [`INLINE_MAX`] bytes (a polygon of thousands of vertices) is not copied:
//! its block holds the id with empty data, and a listing looks it up in the grid. That bounds a
//! block, and so what a single edit rewrites, to 256 × [`INLINE_MAX`].
//!
//! The grid stays the one source of truth. A store written before this index existed lacks it:
//! [`Catalog::build_by_id`] (run when the handle opens a store without the [`READY`] marker, and
//! by `fsck --repair`) copies each image's pages. A build reads an image's blocks first, then
//! its pages, and commits its fixes on two preconditions: every block it fixes is as it read
//! it, and every page it read is unchanged (rewritten with the same bytes). Any annotation
//! write committed meanwhile changes a page or a block, so the build fails and is redone,
//! never clobbering a newer copy. Until the marker is written listings walk the grid.

use super::fsck::FsckReport;
use super::{Catalog, RETRIES};
use crate::codec;
use crate::grid;
use crate::ids::AnnotationId;
use crate::keys::{Key, prefix_end};
use crate::model::Annotation;
use crate::pages;
use crate::store::{Batch, EntryWrite, Expect, Index, IndexEntry};
use crate::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Key of the marker saying every image's copies are built (no block key is empty).
const READY: &[u8] = &[];

/// The largest encoding copied into a block; a larger one is looked up in the grid.
pub(crate) const INLINE_MAX: usize = 4096;

/// The key of block `block` of `image`.
pub(crate) fn key(image: u64, block: u64) -> Vec<u8> {
    Key::new().u64(image).u64(block).build()
}

/// Inserts into one block smaller than this go to loose entries (see the module docs).
pub(crate) const LOOSE_BELOW: usize = 32;

/// The key of the loose entry of annotation `id` in block `block` of `image`.
fn loose_key(image: u64, id: u64) -> Vec<u8> {
    Key::new()
        .u64(image)
        .u64(pages::block_of(id))
        .u64(id)
        .build()
}

/// The annotation id of a loose entry's key (`None`: a block's key).
fn loose_id(key: &[u8]) -> Option<u64> {
    key.get(16..24)
        .filter(|_| key.len() == 24)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// A block's annotations as its entries say: the block's own with its loose entries laid
/// over them. A damaged block gives `None`, or with `lossy` the entries before the damage.
fn effective<'e>(
    entries: &'e [IndexEntry],
    what: &str,
    lossy: bool,
) -> Option<BTreeMap<u64, &'e [u8]>> {
    let mut all = BTreeMap::new();
    for e in entries {
        match loose_id(&e.key) {
            Some(id) => {
                all.insert(id, e.value.as_slice());
            }
            None => {
                let (own, damage) = pages::entries_lossy(&e.value, what);
                if damage.is_some() && !lossy {
                    return None;
                }
                for p in own {
                    all.entry(p.id).or_insert(p.data);
                }
            }
        }
    }
    Some(all)
}

/// The block a key names (`None`: not a block key).
fn block_of_key(key: &[u8]) -> Option<u64> {
    key.get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// A block's changes: per annotation id, its new encoding (`None`: it leaves the image).
type Changes<'a> = BTreeMap<u64, Option<&'a [u8]>>;

/// The copies a batch changes, per (image, block).
#[derive(Default)]
pub(crate) struct Copies<'a> {
    blocks: BTreeMap<(u64, u64), Changes<'a>>,
    /// New annotations only (fresh ids): small blocks of changes may go to loose entries.
    inserts: bool,
}

impl<'a> Copies<'a> {
    /// The copies of an insert of fresh ids (see [`LOOSE_BELOW`]).
    pub(crate) fn inserting() -> Self {
        Copies {
            inserts: true,
            ..Default::default()
        }
    }

    /// Files (`Some`) or forgets (`None`) the copy of annotation `id` of `image`.
    pub(crate) fn set(&mut self, image: u64, id: u64, data: Option<&'a [u8]>) {
        self.blocks
            .entry((image, pages::block_of(id)))
            .or_default()
            .insert(id, data);
    }
}

/// A block's new bytes: its entries as read (the block and its loose entries) with `changes`
/// applied, in id order; empty when no annotation is left. A damaged block keeps the entries
/// before the damage (fsck restores the rest from the grid).
fn merge(read: &[IndexEntry], changes: &Changes<'_>, what: &str) -> Vec<u8> {
    let mut all = effective(read, what, true).unwrap_or_default();
    for (&id, data) in changes {
        match data {
            Some(d) => all.insert(id, d),
            None => all.remove(&id),
        };
    }
    encode(&all)
}

/// A block's bytes from its entries (empty data: look it up in the grid).
fn encode(entries: &BTreeMap<u64, &[u8]>) -> Vec<u8> {
    let mut block = Vec::new();
    for (&id, data) in entries {
        let data = if data.len() <= INLINE_MAX {
            data
        } else {
            &[][..]
        };
        pages::push_entry(&mut block, id, None, data);
    }
    block
}

/// A window of an image's annotations in id order (see [`Catalog::by_id_window`]).
pub(crate) struct Window {
    /// The window's annotations.
    pub(crate) items: Vec<Annotation>,
}

impl Catalog {
    /// Queues the blocks `copies` changes into `batch`, each under a precondition on the bytes
    /// read here (one round trip for all of them), so a concurrent writer's block makes the
    /// batch conflict and be redone.
    pub(crate) fn stage_copies(&self, batch: &mut Batch, copies: &Copies<'_>) -> Result<()> {
        let mut rewrite = Vec::new();
        for (&(image, block), changes) in &copies.blocks {
            if copies.inserts && changes.len() < LOOSE_BELOW {
                for (&id, data) in changes {
                    batch.entries.push(EntryWrite {
                        index: Index::AnnotationById,
                        key: loose_key(image, id),
                        id: 0,
                        value: data.map(<[u8]>::to_vec),
                        expect: Expect::Anything,
                    });
                }
            } else {
                rewrite.push(((image, block), changes));
            }
        }
        if rewrite.is_empty() {
            return Ok(());
        }
        let what = self.store.location();
        // A block's range holds the block and its loose entries (at most one per id).
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = rewrite
            .iter()
            .map(|&((image, block), _)| {
                let k = key(image, block);
                let end = prefix_end(&k);
                (k, end)
            })
            .collect();
        let found = self
            .store
            .index_range_many(Index::AnnotationById, &ranges, usize::MAX)?;
        for ((range, (_, changes)), read) in ranges.into_iter().zip(rewrite).zip(found) {
            let value = merge(&read, changes, what);
            let mut old = None;
            for e in read {
                if e.key == range.0 {
                    old = Some(e.value);
                } else {
                    // Folded into the block; deleted only as read.
                    batch.entries.push(EntryWrite {
                        index: Index::AnnotationById,
                        key: e.key,
                        id: e.id,
                        value: None,
                        expect: Expect::Exactly(e.value),
                    });
                }
            }
            if value.is_empty() && old.is_none() {
                continue;
            }
            batch.entries.push(EntryWrite {
                index: Index::AnnotationById,
                key: range.0,
                id: 0,
                value: (!value.is_empty()).then_some(value),
                expect: old.map_or(Expect::Absent, Expect::Exactly),
            });
        }
        Ok(())
    }

    /// Whether the copies can be trusted (built for every image), cached once true.
    pub(crate) fn by_id_ready(&self) -> Result<bool> {
        if self.byid_built.load(Ordering::Relaxed) {
            return Ok(true);
        }
        // The marker sorts first (empty key). Not `READY..[0]`: a key-value store files an
        // entry as key bytes then id bytes, so the marker's stored key lies past `[0]`.
        let ready = self
            .store
            .index_range(Index::AnnotationById, READY, &[0xFF], 1)?
            .first()
            .is_some_and(|e| e.key.is_empty());
        if ready {
            self.byid_built.store(true, Ordering::Relaxed);
        }
        Ok(ready)
    }

    /// Of `image`'s annotations with ids above `after` that pass `keep`, in id order, those
    /// after the first `skip`, at most `take`. `None` when a stored copy does not decode (the
    /// caller then walks the grid, which reports and skips it). Reads blocks in chunks sized
    /// to the window, so a page of 1,000 reads a few blocks whatever the image holds.
    pub(crate) fn by_id_window(
        &self,
        image: u64,
        after: u64,
        mut skip: usize,
        take: usize,
        keep: &dyn Fn(&codec::AnnotationHeader) -> bool,
    ) -> Result<Option<Window>> {
        let what = self.store.location();
        let end = prefix_end(&Key::new().u64(image).build());
        let first = after.saturating_add(1);
        let mut start = key(image, pages::block_of(first));
        // Entries per read: a block and its loose entries are at most 257, and a window rarely
        // spans more than a few blocks.
        let chunk = ((skip.saturating_add(take)) / 256 + 2).min(64) * 257;
        let mut items = Vec::with_capacity(take.min(4096));
        while items.len() < take {
            let got = self
                .store
                .index_range(Index::AnnotationById, &start, &end, chunk)?;
            let done = got.len() < chunk;
            // The entries by block, in order; a full read's last block may continue past it,
            // so it is read again from its start next time (a chunk holds at least two).
            let mut blocks: Vec<(u64, Vec<IndexEntry>)> = Vec::new();
            for e in got {
                let Some(number) = block_of_key(&e.key) else {
                    return Ok(None);
                };
                match blocks.last_mut() {
                    Some((n, entries)) if *n == number => entries.push(e),
                    _ => blocks.push((number, vec![e])),
                }
            }
            let next = if done {
                None
            } else {
                blocks.pop().map(|(n, _)| key(image, n))
            };
            for (_, read) in &blocks {
                let Some(all) = effective(read, what, false) else {
                    return Ok(None);
                };
                let entries: Vec<(u64, &[u8])> =
                    all.range(first..).map(|(&id, &d)| (id, d)).collect();
                // Encodings too large to copy, fetched from the grid in one lookup.
                let big: Vec<AnnotationId> = entries
                    .iter()
                    .filter(|e| e.1.is_empty())
                    .map(|e| AnnotationId(e.0))
                    .collect();
                let mut fetched: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
                if !big.is_empty() {
                    for (id, data) in big.iter().zip(self.grid_encodings(&big)?) {
                        match data {
                            Some(d) => fetched.insert(id.0, d),
                            None => return Ok(None),
                        };
                    }
                }
                for (id, data) in entries {
                    let data = fetched.get(&id).map_or(data, Vec::as_slice);
                    let Some(h) = codec::peek_annotation(data) else {
                        return Ok(None);
                    };
                    if !keep(&h) {
                        continue;
                    }
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    match codec::decode_annotation(id, data, what) {
                        Ok(a) => items.push(a),
                        Err(_) => return Ok(None),
                    }
                    if items.len() >= take {
                        break;
                    }
                }
                if items.len() >= take {
                    break;
                }
            }
            match next {
                Some(k) => start = k,
                None => break,
            }
        }
        Ok(Some(Window { items }))
    }

    /// Compares `image`'s blocks with its pages and, with `repair`, makes them equal (see the
    /// module docs for why a concurrent write cannot be clobbered). Returns how many copies
    /// were missing, stale or extra.
    fn rebuild_by_id_image(&self, image: u64, repair: bool) -> Result<usize> {
        let what = self.store.location();
        let image_key = Key::new().u64(image).build();
        let image_end = prefix_end(&image_key);
        for _ in 0..RETRIES {
            // Blocks first, pages second: an insert committed between the two reads shows in
            // the pages only, and the block's precondition then fails.
            let mut stored: BTreeMap<u64, Vec<IndexEntry>> = BTreeMap::new();
            for e in
                self.store
                    .index_range(Index::AnnotationById, &image_key, &image_end, usize::MAX)?
            {
                if let Some(b) = block_of_key(&e.key) {
                    stored.entry(b).or_default().push(e);
                }
            }
            let (start, end) = grid::image_range(image);
            let pages: Vec<IndexEntry> =
                self.store
                    .index_range(Index::AnnotationGrid, &start, &end, usize::MAX)?;
            let mut wanted: BTreeMap<u64, BTreeMap<u64, &[u8]>> = BTreeMap::new();
            for page in &pages {
                pages::visit_lossy(&page.value, what, |e| {
                    if codec::peek_annotation(e.data).is_some() {
                        wanted
                            .entry(pages::block_of(e.id))
                            .or_default()
                            .insert(e.id, e.data);
                    }
                });
            }
            let mut batch = Batch::default();
            let mut differences = 0;
            let blocks: BTreeSet<u64> = stored.keys().chain(wanted.keys()).copied().collect();
            for block in blocks {
                let none = BTreeMap::new();
                let want = wanted.get(&block).unwrap_or(&none);
                let read = stored.get(&block).map_or(&[][..], Vec::as_slice);
                let differ = match effective(read, what, false) {
                    Some(have) => count_differences(&have, want),
                    // An undecodable block: every annotation it should hold, at least one.
                    None => want.len().max(1),
                };
                if differ == 0 {
                    continue;
                }
                differences += differ;
                let mut old = None;
                for e in read {
                    if loose_id(&e.key).is_some() {
                        batch.entries.push(EntryWrite {
                            index: Index::AnnotationById,
                            key: e.key.clone(),
                            id: e.id,
                            value: None,
                            expect: Expect::Exactly(e.value.clone()),
                        });
                    } else {
                        old = Some(e.value.clone());
                    }
                }
                let value = encode(want);
                if value.is_empty() && old.is_none() {
                    continue;
                }
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationById,
                    key: key(image, block),
                    id: 0,
                    value: (!value.is_empty()).then_some(value),
                    expect: old.map_or(Expect::Absent, Expect::Exactly),
                });
            }
            if !repair || batch.entries.is_empty() {
                return Ok(differences);
            }
            for page in &pages {
                batch.entries.push(EntryWrite {
                    index: Index::AnnotationGrid,
                    key: page.key.clone(),
                    id: page.id,
                    value: Some(page.value.clone()),
                    expect: Expect::Exactly(page.value.clone()),
                });
            }
            match self.store.commit(batch) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(differences),
            }
        }
        Err(Error::Conflict {
            what: format!("id-ordered copies of image {image}"),
        })
    }

    /// The images that have annotation pages or copies.
    fn by_id_images(&self) -> Result<BTreeSet<u64>> {
        let mut images = BTreeSet::new();
        for index in [Index::AnnotationGrid, Index::AnnotationById] {
            // From image 1 (ids start there): past the marker, which a key-value store files
            // as its empty key then its id's eight zero bytes.
            let mut next: Vec<u8> = Key::new().u64(1).build();
            // One entry per image: after each, jump past the image's keys.
            loop {
                let found = self.store.index_range(index, &next, &[0xFF; 9], 1)?;
                let Some(e) = found.into_iter().next() else {
                    break;
                };
                let Some(image) = e
                    .key
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                else {
                    break;
                };
                images.insert(image);
                match image.checked_add(1) {
                    Some(n) => next = Key::new().u64(n).build(),
                    None => break,
                }
            }
        }
        Ok(images)
    }

    /// Builds the id-ordered copies of every image from its pages when the store has none yet
    /// (a store written before they existed, or a new one), then marks them ready. Idempotent
    /// and safe while other processes write. Returns how many images were copied (0 when they
    /// were ready already).
    pub fn build_by_id(&self) -> Result<usize> {
        if self.by_id_ready()? {
            return Ok(0);
        }
        self.drop_retired_copies()?;
        let images = self.by_id_images()?;
        for &image in &images {
            self.rebuild_by_id_image(image, true)?;
        }
        self.store.commit(Batch {
            writes: Vec::new(),
            entries: vec![EntryWrite {
                index: Index::AnnotationById,
                key: READY.to_vec(),
                id: 0,
                value: Some(vec![1]),
                expect: Expect::Anything,
            }],
        })?;
        self.byid_built.store(true, Ordering::Relaxed);
        Ok(images.len())
    }

    /// Deletes the one-entry-per-annotation copies an earlier version kept
    /// ([`Index::RetiredAnnotationCopies`]), a chunk at a time.
    fn drop_retired_copies(&self) -> Result<()> {
        loop {
            let found =
                self.store
                    .index_range(Index::RetiredAnnotationCopies, &[], &[0xFF; 17], 4096)?;
            if found.is_empty() {
                return Ok(());
            }
            let entries = found
                .into_iter()
                .map(|e| EntryWrite {
                    index: Index::RetiredAnnotationCopies,
                    key: e.key,
                    id: e.id,
                    value: None,
                    expect: Expect::Anything,
                })
                .collect();
            self.store.commit(Batch {
                writes: Vec::new(),
                entries,
            })?;
        }
    }

    /// `fsck`: every image's id-ordered copies equal its pages' entries; `repair` rewrites
    /// those that differ (and marks the copies ready).
    pub(super) fn fsck_by_id(&self, repair: bool, report: &mut FsckReport) -> Result<()> {
        if !self.by_id_ready()? {
            report.found(
                "id-ordered annotations",
                "not built (a store from before they existed); `--repair` or opening it builds them",
                repair,
            );
            if repair {
                self.build_by_id()?;
            }
            return Ok(());
        }
        for image in self.by_id_images()? {
            let differences = self.rebuild_by_id_image(image, repair)?;
            if differences > 0 {
                report.found(
                    format!("id-ordered annotations of image {image}"),
                    format!(
                        "{differences} copies missing, stale or extra beside its pages; rewritten from the pages"
                    ),
                    repair,
                );
            }
        }
        Ok(())
    }
}

/// How many annotations differ between a block as held (`have`) and as its pages say
/// (`want`): missing, stale or extra. An encoding too large to copy compares as its mark.
fn count_differences(have: &BTreeMap<u64, &[u8]>, want: &BTreeMap<u64, &[u8]>) -> usize {
    fn norm<'d>(d: Option<&&'d [u8]>) -> Option<&'d [u8]> {
        d.map(|d| if d.len() > INLINE_MAX { &[][..] } else { *d })
    }
    let ids: BTreeSet<u64> = have.keys().chain(want.keys()).copied().collect();
    ids.into_iter()
        .filter(|id| norm(have.get(id)) != norm(want.get(id)))
        .count()
}
