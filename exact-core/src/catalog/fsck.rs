//! `fsck`: checks a metadata store and optionally repairs it. A trusted maintenance use case
//! (no actor): it is run by whoever holds the data directory, with the server stopped.
//!
//! What it checks, and what `repair` does about it:
//! - every record decodes (reported; a record is never guessed at);
//! - every index entry points at an existing record (dangling entries are removed) and every
//!   record's index entries exist (missing ones are added back);
//! - every annotation page decodes, entry by entry: undecodable entries are moved to the
//!   [`Index::Quarantine`] index (kept, not deleted) and the page is rewritten without them;
//! - every annotation is filed under the grid cell its geometry names (misfiled ones are moved)
//!   and appears once (duplicates are reported);
//! - every locator block decodes and names the cell each annotation is really in (locators are
//!   rebuilt from the pages, the one source of truth);
//! - every annotation's history decodes and belongs to an annotation that exists (reported);
//! - every image's maintained annotation counts equal a recount of its pages (rebuilt);
//! - every image's id-ordered copies equal its pages' entries (rewritten from the pages).

use super::Catalog;
use super::annostore::{Filed, Locator, block_key};
use crate::codec;
use crate::ids::AnnotationId;
use crate::keys::Key;
use crate::model::*;
use crate::pages::{self, PageEntry};
use crate::record::Record;
use crate::store::{Batch, EntryWrite, Expect, Index, Kind, Term};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `annotation 12`, `image 3`, `index ImageBySet entry of id 9`.
    pub what: String,
    /// What is wrong.
    pub problem: String,
    /// Whether `repair` fixed it.
    pub repaired: bool,
}

/// What [`Catalog::fsck`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Records checked (all kinds).
    pub records: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Annotation pages checked.
    pub pages: u64,
    /// Annotations found in pages.
    pub annotations: u64,
    /// History entries checked.
    pub history_entries: u64,
    /// The problems, in the order found.
    pub findings: Vec<Finding>,
}

impl FsckReport {
    /// Problems not repaired: a non-zero count means the store still needs attention.
    pub fn problems_left(&self) -> usize {
        self.findings.iter().filter(|f| !f.repaired).count()
    }

    pub(super) fn found(
        &mut self,
        what: impl Into<String>,
        problem: impl Into<String>,
        repaired: bool,
    ) {
        self.findings.push(Finding {
            what: what.into(),
            problem: problem.into(),
            repaired,
        });
    }
}

/// The end of the whole key range of an index (keys never start with sixteen 0xFF bytes:
/// they start with big-endian ids, tags or UTF-8).
const ALL_KEYS: [u8; 16] = [0xFF; 16];

/// Decodes a stored record of `kind`, returning the index entries it should own.
fn decode_any(kind: Kind, id: u64, bytes: &[u8], what: &str) -> Result<Vec<Term>> {
    fn terms<R: Record>(id: u64, bytes: &[u8], what: &str) -> Result<Vec<Term>> {
        R::decode(id, bytes, what).map(|r| r.terms())
    }
    match kind {
        Kind::User => terms::<User>(id, bytes, what),
        Kind::Team => terms::<Team>(id, bytes, what),
        Kind::Membership => terms::<TeamMembership>(id, bytes, what),
        Kind::Product => terms::<Product>(id, bytes, what),
        Kind::AnnotationType => terms::<AnnotationType>(id, bytes, what),
        Kind::ImageSet => terms::<ImageSet>(id, bytes, what),
        Kind::Image => terms::<Image>(id, bytes, what),
        Kind::SetTag => terms::<SetTag>(id, bytes, what),
        Kind::SetVersion => terms::<SetVersion>(id, bytes, what),
        Kind::AnnotationVersion => terms::<AnnotationVersion>(id, bytes, what),
        Kind::Verification => terms::<Verification>(id, bytes, what),
        Kind::LogImageAction => terms::<LogImageAction>(id, bytes, what),
        Kind::ScreeningMode => terms::<ScreeningMode>(id, bytes, what),
        Kind::MediaFile => terms::<AnnotationMediaFile>(id, bytes, what),
        Kind::ExportFormat => terms::<ExportFormat>(id, bytes, what),
        Kind::Export => terms::<Export>(id, bytes, what),
        Kind::Credential => terms::<Credential>(id, bytes, what),
        Kind::AccessToken => terms::<AccessToken>(id, bytes, what),
        Kind::Message => terms::<Message>(id, bytes, what),
        Kind::MessageRead => terms::<MessageRead>(id, bytes, what),
        Kind::ImageRegistration => terms::<ImageRegistration>(id, bytes, what),
        Kind::ImportJob => terms::<super::ImportJob>(id, bytes, what),
        // Owner and expiry only; no index entries.
        Kind::Lease if bytes.len() == 16 => Ok(Vec::new()),
        Kind::Lease => Err(Error::corrupt(what, format!("lease {id}: not 16 bytes"))),
        Kind::Plugin
        | Kind::PluginJob
        | Kind::PluginResult
        | Kind::PluginResultEntry
        | Kind::PluginResultAnnotation
        | Kind::PluginResultBitmap
        | Kind::ProcessingTrash => super::processing_model::terms_of(kind, id, bytes, what)
            .unwrap_or_else(|| Ok(Vec::new())),
        Kind::Annotation | Kind::AnnotationChange | Kind::AnnotationPage => Err(Error::corrupt(
            what,
            format!("{kind:?} {id}: no records of this kind are ever written"),
        )),
    }
}

impl Catalog {
    /// Checks the whole store; with `repair`, fixes what can be fixed without guessing (see
    /// the module docs), each fix one atomic batch. Run it with no server writing to the store.
    pub fn fsck(&self, repair: bool) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let ids = self.fsck_records(repair, &mut report)?;
        self.fsck_indexes(repair, &ids, &mut report)?;
        let located = self.fsck_pages(repair, &mut report)?;
        self.fsck_locators(repair, &located, &mut report)?;
        self.fsck_history(&located, &mut report)?;
        self.fsck_counts(repair, &mut report)?;
        self.fsck_by_id(repair, &mut report)?;
        Ok(report)
    }

    /// Decodes every record; adds back index entries a record owns but lacks. Returns the ids
    /// of every record, by kind.
    fn fsck_records(
        &self,
        repair: bool,
        report: &mut FsckReport,
    ) -> Result<HashMap<Kind, HashSet<u64>>> {
        let what = self.store.location();
        let mut ids: HashMap<Kind, HashSet<u64>> = HashMap::new();
        for &kind in Kind::ALL {
            let mut after = 0;
            loop {
                let batch = self.store.scan(kind, after, 1024)?;
                let done = batch.len() < 1024;
                for (id, bytes) in batch {
                    after = id;
                    report.records += 1;
                    ids.entry(kind).or_default().insert(id);
                    match decode_any(kind, id, &bytes, what) {
                        Err(e) => report.found(format!("{kind:?} {id}"), e.to_string(), false),
                        Ok(terms) => {
                            for t in terms {
                                let present = self
                                    .store
                                    .index_range(
                                        t.index,
                                        &t.key,
                                        &crate::keys::prefix_end(&t.key),
                                        usize::MAX,
                                    )?
                                    .iter()
                                    .any(|e| e.key == t.key && e.id == id);
                                if present {
                                    continue;
                                }
                                let fixed = repair && {
                                    self.store.commit(Batch {
                                        writes: Vec::new(),
                                        entries: vec![EntryWrite {
                                            index: t.index,
                                            key: t.key.clone(),
                                            id,
                                            value: Some(t.value.clone()),
                                            expect: Expect::Absent,
                                        }],
                                    })?;
                                    true
                                };
                                report.found(
                                    format!("{kind:?} {id}"),
                                    format!("its {:?} index entry is missing", t.index),
                                    fixed,
                                );
                            }
                        }
                    }
                }
                if done {
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// Index entries must point at existing records.
    fn fsck_indexes(
        &self,
        repair: bool,
        ids: &HashMap<Kind, HashSet<u64>>,
        report: &mut FsckReport,
    ) -> Result<()> {
        let none = HashSet::new();
        for &index in Index::ALL {
            let Some(kind) = index.record_kind() else {
                continue;
            };
            let known = ids.get(&kind).unwrap_or(&none);
            let mut dangling = Vec::new();
            let mut owned = Vec::new();
            self.store
                .index_visit(index, &[], &ALL_KEYS, &mut |key, id, value| {
                    report.index_entries += 1;
                    let entry = (key.to_vec(), id, value.to_vec());
                    if known.contains(&id) {
                        owned.push(entry);
                    } else {
                        dangling.push((entry, "points at no {kind} record"));
                    }
                    true
                })?;
            // An entry of an existing record must be one the record still owns: a stale
            // unique name would block that name for ever.
            let what = self.store.location();
            for (key, id, value) in owned {
                let Some(bytes) = self.store.get(kind, id)? else {
                    continue;
                };
                // Undecodable records were reported above; their entries are left alone.
                if let Ok(terms) = decode_any(kind, id, &bytes, what)
                    && !terms.iter().any(|t| t.index == index && t.key == key)
                {
                    dangling.push(((key, id, value), "is not one its {kind} record owns"));
                }
            }
            for ((key, id, value), problem) in dangling {
                let problem = problem.replace("{kind}", &format!("{kind:?}"));
                if repair {
                    self.store.commit(Batch {
                        writes: Vec::new(),
                        entries: vec![EntryWrite {
                            index,
                            key,
                            id,
                            value: None,
                            expect: Expect::Exactly(value),
                        }],
                    })?;
                }
                report.found(format!("{index:?} index entry of id {id}"), problem, repair);
            }
        }
        Ok(())
    }

    /// Checks every annotation page; returns where each annotation is (after repairs).
    fn fsck_pages(&self, repair: bool, report: &mut FsckReport) -> Result<BTreeMap<u64, Vec<u8>>> {
        // First the cells, then their pages cell by cell: memory holds one cell's pages at a
        // time (plus where each annotation is), not the whole store.
        let mut cells: Vec<Vec<u8>> = Vec::new();
        self.store
            .index_visit(Index::AnnotationGrid, &[], &ALL_KEYS, &mut |cell, _, _| {
                if cells.last().is_none_or(|c| c.as_slice() != cell) {
                    cells.push(cell.to_vec());
                }
                true
            })?;
        let mut located: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for cell in cells {
            for p in self.cell_pages(&cell)? {
                self.fsck_page(repair, &cell, p.id, p.value, &mut located, report)?;
            }
        }
        Ok(located)
    }

    /// Checks (and with `repair` rewrites) one annotation page of `cell`.
    fn fsck_page(
        &self,
        repair: bool,
        cell: &[u8],
        page_id: u64,
        page: Vec<u8>,
        located: &mut BTreeMap<u64, Vec<u8>>,
        report: &mut FsckReport,
    ) -> Result<()> {
        let what = self.store.location().to_owned();
        let cell = cell.to_vec();
        report.pages += 1;
        let (entries, damage) = pages::entries_lossy(&page, &what);
        let mut changed = false;
        if let Some(e) = &damage {
            report.found(
                format!("annotation page {page_id}"),
                format!("{e}; entries after the damage are lost"),
                repair,
            );
            changed = true;
        }
        let mut kept: Vec<PageEntry<'_>> = Vec::with_capacity(entries.len());
        let mut quarantine = Vec::new();
        let mut moved: Vec<Filed> = Vec::new();
        let mut refiled = Vec::new();
        for e in entries {
            let id = AnnotationId(e.id);
            let a = match codec::decode_annotation(e.id, e.data, &what) {
                Ok(a) => a,
                Err(err) => {
                    report.found(
                        id.to_string(),
                        format!("does not decode ({err}); quarantined"),
                        repair,
                    );
                    quarantine.push(e);
                    changed = true;
                    continue;
                }
            };
            report.annotations += 1;
            if located.get(&e.id) == Some(&cell) && repair {
                // Moved here by this run's repair of an earlier page.
                kept.push(e);
                continue;
            }
            if located.contains_key(&e.id) {
                report.found(
                    id.to_string(),
                    format!("stored twice (again in page {page_id})"),
                    false,
                );
                kept.push(e);
                continue;
            }
            let filed = Filed::of(&a);
            if filed.cell != cell {
                report.found(
                    id.to_string(),
                    "filed under the wrong grid cell; moved",
                    repair,
                );
                located.insert(e.id, filed.cell.clone());
                moved.push(filed);
                changed = true;
                continue;
            }
            if filed.bbox != e.bbox {
                report.found(
                    id.to_string(),
                    "page bounds disagree with its geometry; rewritten",
                    repair,
                );
                refiled.push(filed);
                changed = true;
                continue;
            }
            located.insert(e.id, cell.clone());
            kept.push(e);
        }
        if !(repair && changed) {
            if !repair {
                // Report only: the annotations stay where they are.
                for f in &moved {
                    located.insert(f.id, cell.clone());
                }
                for f in &refiled {
                    located.insert(f.id, cell.clone());
                }
            }
            return Ok(());
        }
        for f in &refiled {
            located.insert(f.id, cell.clone());
            kept.push(PageEntry {
                id: f.id,
                bbox: f.bbox,
                data: &f.data,
            });
        }
        let mut batch = Batch::default();
        batch.entries.push(EntryWrite {
            index: Index::AnnotationGrid,
            key: cell.clone(),
            id: page_id,
            value: (!kept.is_empty()).then(|| pages::build(&kept)),
            expect: Expect::Exactly(page.clone()),
        });
        for q in &quarantine {
            batch.entries.push(EntryWrite {
                index: Index::Quarantine,
                key: Key::new().u64(q.id).build(),
                id: page_id,
                value: Some(q.data.to_vec()),
                expect: Expect::Anything,
            });
        }
        // Moved annotations go to fresh pages: nothing else in this batch touches them.
        for f in &moved {
            let mut p = Vec::new();
            pages::push_entry(&mut p, f.id, f.bbox, &f.data);
            batch.entries.push(EntryWrite {
                index: Index::AnnotationGrid,
                key: f.cell.clone(),
                id: self.store.allocate_ids(Kind::AnnotationPage, 1)?,
                value: Some(p),
                expect: Expect::Anything,
            });
        }
        self.store.commit(batch)?;
        Ok(())
    }

    /// Locator blocks must name the cell each annotation is in, and nothing else.
    fn fsck_locators(
        &self,
        repair: bool,
        located: &BTreeMap<u64, Vec<u8>>,
        report: &mut FsckReport,
    ) -> Result<()> {
        let what = self.store.location().to_owned();
        let mut want: BTreeMap<u64, BTreeMap<u8, Vec<u8>>> = BTreeMap::new();
        for (id, cell) in located {
            want.entry(pages::block_of(*id))
                .or_default()
                .insert(*id as u8, cell.clone());
        }
        let mut stored: BTreeMap<u64, Locator> = BTreeMap::new();
        self.store.index_visit(
            Index::AnnotationLocator,
            &[],
            &ALL_KEYS,
            &mut |key, id, value| {
                let block = key
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(u64::MAX);
                let at = stored.entry(block).or_default();
                if id == 0 {
                    at.block = Some(value.to_vec());
                } else {
                    at.loose.push((id, value.to_vec()));
                }
                true
            },
        )?;
        let blocks: HashSet<u64> = want.keys().chain(stored.keys()).copied().collect();
        let mut blocks: Vec<u64> = blocks.into_iter().collect();
        blocks.sort_unstable();
        for block in blocks {
            let empty = BTreeMap::new();
            let should = want.get(&block).unwrap_or(&empty);
            let old = stored.remove(&block).unwrap_or_default();
            let is = match old.map(&what) {
                Ok(m) => m,
                Err(e) => {
                    report.found(format!("locator block {block}"), e.to_string(), repair);
                    BTreeMap::new()
                }
            };
            let present = old.block.is_some() || !old.loose.is_empty();
            if &is == should && present != should.is_empty() {
                continue;
            }
            for low in is
                .keys()
                .chain(should.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let id = AnnotationId(block << 8 | u64::from(*low));
                let problem = match (is.get(low), should.get(low)) {
                    (Some(a), Some(b)) if a != b => "its locator names the wrong grid cell",
                    (Some(_), None) => "has a locator but no stored annotation",
                    (None, Some(_)) => "has no locator (unreachable by id)",
                    _ => continue,
                };
                report.found(id.to_string(), problem, repair);
            }
            if repair {
                let mut entries: Vec<EntryWrite> = old
                    .loose
                    .into_iter()
                    .map(|(id, cell)| EntryWrite {
                        index: Index::AnnotationLocator,
                        key: block_key(block),
                        id,
                        value: None,
                        expect: Expect::Exactly(cell),
                    })
                    .collect();
                entries.push(EntryWrite {
                    index: Index::AnnotationLocator,
                    key: block_key(block),
                    id: 0,
                    value: (!should.is_empty()).then(|| pages::encode_block(should)),
                    expect: old.block.map_or(Expect::Absent, Expect::Exactly),
                });
                self.store.commit(Batch {
                    writes: Vec::new(),
                    entries,
                })?;
            }
        }
        Ok(())
    }

    /// Every history entry decodes (newest first from the live state) and belongs to an
    /// annotation that exists. Reported only: history is never rewritten.
    fn fsck_history(
        &self,
        located: &BTreeMap<u64, Vec<u8>>,
        report: &mut FsckReport,
    ) -> Result<()> {
        let what = self.store.location().to_owned();
        let mut by_annotation: BTreeMap<u64, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
        self.store
            .index_visit(Index::Changes, &[], &ALL_KEYS, &mut |key, id, value| {
                let change = key
                    .get(8..16)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                by_annotation
                    .entry(id)
                    .or_default()
                    .push((change, value.to_vec()));
                true
            })?;
        for (id, entries) in by_annotation {
            report.history_entries += entries.len() as u64;
            let aid = AnnotationId(id);
            // A trashed annotation's history starts from its state in the trash.
            let after = if located.contains_key(&id) {
                self.find_annotation(aid).ok().flatten()
            } else if let Ok(Some((trashed, _))) = self.trashed_entry(aid) {
                Some(trashed)
            } else {
                report.found(
                    format!("history of {aid}"),
                    "belongs to no stored annotation",
                    false,
                );
                continue;
            };
            let Some(mut after) = after else {
                continue;
            };
            for (change, bytes) in entries.iter().rev() {
                match codec::decode_change_after(*change, aid, bytes, Some(&after), &what) {
                    Ok(c) => {
                        if let Some(b) = c.before {
                            after = b;
                        }
                    }
                    Err(e) => {
                        report.found(
                            format!("history entry {change} of {aid}"),
                            e.to_string(),
                            false,
                        );
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
