//! Annotations in id order per image ([`Index::AnnotationById`]): a copy of every grid entry's
//! encoding under key = image id | annotation id, written in the same atomic batch as the grid
//! page it copies ([`Catalog::commit_annotations`]'s callers stage it). A listing by id (EXACT's
//! `?image=&limit=1000`, EXACT-Sync's paging) reads its window straight from here instead of
//! visiting every page of the image: the cost follows the page, not the image.
//!
//! The grid stays the one source of truth. A store written before this index existed lacks it:
//! [`Catalog::build_by_id`] (run when the handle opens a store without the [`READY`] marker, and
//! by `fsck --repair`) copies each image's pages. A build reads an image's entries here first,
//! then its pages, and commits its fixes on two preconditions: every fixed entry is as it read
//! it, and every page it read is unchanged (rewritten with the same bytes). Any annotation
//! write committed meanwhile changes a page or an entry, so the build fails and is redone,
//! never clobbering a newer copy. Until the marker is written listings walk the grid.

use super::fsck::FsckReport;
use super::{Catalog, RETRIES};
use crate::codec;
use crate::grid;
use crate::keys::{Key, prefix_end};
use crate::model::Annotation;
use crate::pages;
use crate::store::{Batch, EntryWrite, Expect, Index, IndexEntry};
use crate::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Key of the marker saying every image's copies are built (no image key is empty).
const READY: &[u8] = &[];

/// The key of annotation `id` of `image`.
pub(crate) fn key(image: u64, id: u64) -> Vec<u8> {
    Key::new().u64(image).u64(id).build()
}

/// The annotation id a key names (`None`: not a key of this index).
fn id_of(key: &[u8]) -> Option<u64> {
    key.get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
}

/// Queues filing (`Some`) or forgetting (`None`) the copy of annotation `id` of `image`.
pub(crate) fn stage(batch: &mut Batch, image: u64, id: u64, data: Option<&[u8]>) {
    batch.entries.push(EntryWrite {
        index: Index::AnnotationById,
        key: key(image, id),
        id: 0,
        value: data.map(<[u8]>::to_vec),
        expect: Expect::Anything,
    });
}

/// A window of an image's annotations in id order (see [`Catalog::by_id_window`]).
pub(crate) struct Window {
    /// The window's annotations.
    pub(crate) items: Vec<Annotation>,
}

impl Catalog {
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
    /// caller then walks the grid, which reports and skips it). Reads in chunks sized to the
    /// window, so a page of 1,000 reads about 1,000 entries whatever the image holds.
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
        let mut start = key(image, after.saturating_add(1));
        let chunk = (skip.saturating_add(take)).clamp(64, 4096);
        let mut items = Vec::with_capacity(take.min(4096));
        while items.len() < take {
            let got = self
                .store
                .index_range(Index::AnnotationById, &start, &end, chunk)?;
            let done = got.len() < chunk;
            let mut last = None;
            for e in &got {
                let Some(id) = id_of(&e.key) else {
                    return Ok(None);
                };
                last = Some(id);
                let Some(h) = codec::peek_annotation(&e.value) else {
                    return Ok(None);
                };
                if !keep(&h) {
                    continue;
                }
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                match codec::decode_annotation(id, &e.value, what) {
                    Ok(a) => items.push(a),
                    Err(_) => return Ok(None),
                }
                if items.len() >= take {
                    break;
                }
            }
            match last {
                Some(id) if !done && id < u64::MAX => start = key(image, id + 1),
                _ => break,
            }
        }
        Ok(Some(Window { items }))
    }

    /// Compares `image`'s copies with its pages and, with `repair`, makes them equal (see the
    /// module docs for why a concurrent write cannot be clobbered). Returns how many copies
    /// were missing, stale or extra.
    fn rebuild_by_id_image(&self, image: u64, repair: bool) -> Result<usize> {
        let what = self.store.location();
        let image_key = Key::new().u64(image).build();
        let image_end = prefix_end(&image_key);
        for _ in 0..RETRIES {
            // Copies first, pages second: an insert committed between the two reads shows in
            // the pages only, and its copy's `Absent` precondition then fails.
            let stored: BTreeMap<u64, Vec<u8>> = self
                .store
                .index_range(Index::AnnotationById, &image_key, &image_end, usize::MAX)?
                .into_iter()
                .filter_map(|e| id_of(&e.key).map(|id| (id, e.value)))
                .collect();
            let (start, end) = grid::image_range(image);
            let pages: Vec<IndexEntry> =
                self.store
                    .index_range(Index::AnnotationGrid, &start, &end, usize::MAX)?;
            let mut wanted: BTreeMap<u64, &[u8]> = BTreeMap::new();
            for page in &pages {
                pages::visit_lossy(&page.value, what, |e| {
                    if codec::peek_annotation(e.data).is_some() {
                        wanted.insert(e.id, e.data);
                    }
                });
            }
            let mut batch = Batch::default();
            for (id, old) in &stored {
                match wanted.get(id) {
                    Some(data) if *data == old.as_slice() => {}
                    Some(data) => batch.entries.push(EntryWrite {
                        index: Index::AnnotationById,
                        key: key(image, *id),
                        id: 0,
                        value: Some(data.to_vec()),
                        expect: Expect::Exactly(old.clone()),
                    }),
                    None => batch.entries.push(EntryWrite {
                        index: Index::AnnotationById,
                        key: key(image, *id),
                        id: 0,
                        value: None,
                        expect: Expect::Exactly(old.clone()),
                    }),
                }
            }
            for (id, data) in &wanted {
                if !stored.contains_key(id) {
                    batch.entries.push(EntryWrite {
                        index: Index::AnnotationById,
                        key: key(image, *id),
                        id: 0,
                        value: Some(data.to_vec()),
                        expect: Expect::Absent,
                    });
                }
            }
            let differences = batch.entries.len();
            if !repair || differences == 0 {
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
            let mut next: Vec<u8> = vec![0];
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
