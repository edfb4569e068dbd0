//! Annotation storage over the [`MetaStore`]: pages per grid cell and locator blocks (see
//! [`crate::pages`]). Every write is one atomic batch with optimistic preconditions on the pages
//! and blocks it rewrites, retried when a concurrent writer got there first.

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
use std::collections::BTreeMap;

/// One annotation ready to be filed.
struct Filed {
    id: u64,
    cell: Vec<u8>,
    bbox: Option<IBox>,
    data: Vec<u8>,
}

impl Filed {
    fn of(a: &Annotation) -> Filed {
        let bbox = a.vector.as_ref().and_then(|v| v.bbox());
        Filed {
            id: a.id.0,
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
    page: Vec<u8>,
    annotation: Annotation,
}

fn block_key(block: u64) -> Vec<u8> {
    Key::new().u64(block).build()
}

impl Catalog {
    pub(crate) fn cell_pages(&self, cell: &[u8]) -> Result<Vec<IndexEntry>> {
        self.store
            .index_range(Index::AnnotationGrid, cell, &prefix_end(cell), usize::MAX)
    }

    fn locator_block(&self, block: u64) -> Result<Option<Vec<u8>>> {
        let key = block_key(block);
        let found = self
            .store
            .index_range(Index::AnnotationLocator, &key, &prefix_end(&key), 1)?;
        Ok(found.into_iter().next().map(|e| e.value))
    }

    /// Files new annotations (fresh ids) in one atomic, durable batch.
    pub(crate) fn insert_annotations(&self, anns: &[Annotation]) -> Result<()> {
        let mut by_cell: BTreeMap<Vec<u8>, Vec<Filed>> = BTreeMap::new();
        for a in anns {
            let f = Filed::of(a);
            by_cell.entry(f.cell.clone()).or_default().push(f);
        }
        for _ in 0..RETRIES {
            let mut batch = Batch::default();
            for (cell, items) in &by_cell {
                self.append_to_cell(&mut batch, cell, items.iter())?;
            }
            let mut blocks: BTreeMap<u64, Vec<&Filed>> = BTreeMap::new();
            for f in by_cell.values().flatten() {
                blocks.entry(pages::block_of(f.id)).or_default().push(f);
            }
            for (block, items) in blocks {
                self.relocate(
                    &mut batch,
                    block,
                    items.iter().map(|f| (f.id, Some(f.cell.clone()))),
                )?;
            }
            match self.store.commit(batch) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                other => return other,
            }
        }
        Err(Error::Conflict {
            what: "annotation pages".into(),
        })
    }

    /// Queues appending `items` to `cell`: into its last page while it has room, then into new
    /// pages.
    fn append_to_cell<'a>(
        &self,
        batch: &mut Batch,
        cell: &[u8],
        items: impl Iterator<Item = &'a Filed>,
    ) -> Result<()> {
        let last = self
            .store
            .index_last(Index::AnnotationGrid, cell, &prefix_end(cell))?;
        let mut current: Option<(u64, Vec<u8>, Expect)> = match last {
            Some(last) if last.value.len() < APPEND_BELOW => {
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
                    batch.entries.push(EntryWrite {
                        index: Index::AnnotationGrid,
                        key: cell.to_vec(),
                        id,
                        value: Some(page),
                        expect,
                    });
                }
                let id = self.store.allocate_ids(Kind::AnnotationPage, 1)?;
                current = Some((id, Vec::new(), Expect::Anything));
            }
            if let Some((_, page, _)) = current.as_mut() {
                pages::push_entry(page, f.id, f.bbox, &f.data);
            }
        }
        if let Some((id, page, expect)) = current {
            batch.entries.push(EntryWrite {
                index: Index::AnnotationGrid,
                key: cell.to_vec(),
                id,
                value: Some(page),
                expect,
            });
        }
        Ok(())
    }

    /// Queues pointing ids of one locator block at new cells (`None` forgets the id).
    fn relocate(
        &self,
        batch: &mut Batch,
        block: u64,
        moves: impl Iterator<Item = (u64, Option<Vec<u8>>)>,
    ) -> Result<()> {
        let old = self.locator_block(block)?;
        let mut map = match &old {
            Some(bytes) => pages::decode_block(bytes, self.store.location())?,
            None => BTreeMap::new(),
        };
        for (id, cell) in moves {
            match cell {
                Some(c) => map.insert(id as u8, c),
                None => map.remove(&(id as u8)),
            };
        }
        batch.entries.push(EntryWrite {
            index: Index::AnnotationLocator,
            key: block_key(block),
            id: 0,
            value: Some(pages::encode_block(&map)),
            expect: old.map_or(Expect::Absent, Expect::Exactly),
        });
        Ok(())
    }

    fn locate(&self, id: AnnotationId) -> Result<Option<Located>> {
        let Some(block) = self.locator_block(pages::block_of(id.0))? else {
            return Ok(None);
        };
        let what = self.store.location();
        let Some(cell) = pages::decode_block(&block, what)?.remove(&(id.0 as u8)) else {
            return Ok(None);
        };
        for page in self.cell_pages(&cell)? {
            let found = pages::entries(&page.value, what)?
                .into_iter()
                .find(|e| e.id == id.0);
            if let Some(e) = found {
                let annotation = codec::decode_annotation(e.id, e.data, what)?;
                return Ok(Some(Located {
                    cell,
                    page_id: page.id,
                    page: page.value,
                    annotation,
                }));
            }
        }
        Err(Error::corrupt(
            what,
            format!("{id} is missing from the page its locator names"),
        ))
    }

    /// The annotation `id`, without permission checks.
    pub(crate) fn find_annotation(&self, id: AnnotationId) -> Result<Option<Annotation>> {
        Ok(self.locate(id)?.map(|l| l.annotation))
    }

    /// Read-modify-write of one annotation with optimistic retries; `change` returns the new
    /// state and extra entries (its history) to write in the same batch.
    pub(crate) fn modify_annotation(
        &self,
        id: AnnotationId,
        mut change: impl FnMut(&Annotation) -> Result<(Annotation, Vec<EntryWrite>)>,
    ) -> Result<Annotation> {
        let what = self.store.location();
        for _ in 0..RETRIES {
            let loc = self.locate(id)?.ok_or_else(|| Error::not_found(id))?;
            let (new, extra) = change(&loc.annotation)?;
            let filed = Filed::of(&new);
            let mut batch = Batch {
                writes: Vec::new(),
                entries: extra,
            };
            let old_entries = pages::entries(&loc.page, what)?;
            let same_cell = filed.cell == loc.cell;
            let kept: Vec<PageEntry<'_>> = old_entries
                .iter()
                .map(|e| {
                    if e.id == id.0 {
                        PageEntry {
                            id: e.id,
                            bbox: filed.bbox,
                            data: &filed.data,
                        }
                    } else {
                        *e
                    }
                })
                .filter(|e| same_cell || e.id != id.0)
                .collect();
            batch.entries.push(EntryWrite {
                index: Index::AnnotationGrid,
                key: loc.cell.clone(),
                id: loc.page_id,
                value: (!kept.is_empty()).then(|| pages::build(&kept)),
                expect: Expect::Exactly(loc.page.clone()),
            });
            if !same_cell {
                self.append_to_cell(&mut batch, &filed.cell, std::iter::once(&filed))?;
                self.relocate(
                    &mut batch,
                    pages::block_of(id.0),
                    std::iter::once((id.0, Some(filed.cell.clone()))),
                )?;
            }
            match self.store.commit(batch) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(new),
            }
        }
        Err(Error::Conflict {
            what: id.to_string(),
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
        Ok(out)
    }

    /// Every annotation of `image` matching `query`, without permission checks, handed to
    /// `sink` as it is decoded, in storage order (grid cell by cell, not by id).
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
        let what = self.store.location();
        let mut failed = None;
        for (start, end) in ranges {
            self.store
                .index_visit(
                    Index::AnnotationGrid,
                    &start,
                    &end,
                    &mut |_, _, page| match scan_page(page, query, what, sink) {
                        Ok(()) => true,
                        Err(e) => {
                            failed = Some(e);
                            false
                        }
                    },
                )?;
            if let Some(e) = failed.take() {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Decodes the annotations of one page that match `query` into `sink`, skipping those whose
/// integer bounds miss the viewport without decoding them.
fn scan_page(
    page: &[u8],
    query: &AnnotationQuery,
    what: &str,
    sink: &mut dyn FnMut(Annotation),
) -> Result<()> {
    for e in pages::entries(page, what)? {
        if let Some(v) = &query.viewport {
            match &e.bbox {
                Some(b) if pages::may_intersect(b, v) => {}
                _ => continue,
            }
        }
        let a = codec::decode_annotation(e.id, e.data, what)?;
        if query.matches(&a) {
            sink(a);
        }
    }
    Ok(())
}
