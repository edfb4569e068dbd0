//! Stored overview summaries: a compact, derived picture of an image's annotations (the
//! viewer's overview raster: counts per type per cell and the outlines of large ones), kept in
//! [`Index::OverviewSummary`] so a server that just started draws a complete overview of a
//! million annotations without streaming them first.
//!
//! A summary is opaque bytes here (the HTTP server encodes and draws it), stored per image
//! and plane under the image's write stamp: the sum of its annotation count shards'
//! generations, which every annotation write bumps in the same atomic batch, whichever server
//! made it (see `counts`). A reader compares the stored stamp with the current one: equal
//! means the summary shows exactly the annotations now stored; different means it is stale
//! (written before some write) and is to be rebuilt. A summary is only stored under a stamp
//! read before and after the scan that built it, so a write landing during the scan makes
//! the store skip it. Summaries cover every annotation of an image, so only actors who see
//! every annotation of its set read or store them.

use super::Catalog;
use super::counts::decode;
use crate::ids::ImageId;
use crate::keys::{Key, prefix_end};
use crate::permissions::Actor;
use crate::store::{Batch, EntryWrite, Expect, Index};
use crate::{Error, Result};

/// The largest summary stored (bytes); a larger one is not kept.
pub const MAX_SUMMARY_BYTES: usize = 32 << 20;

/// A stored summary: the stamp it was built under and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverviewSummary {
    /// The image's write stamp when it was built.
    pub stamp: u64,
    /// The summary (opaque to the catalog).
    pub bytes: Vec<u8>,
}

fn summary_key(image: ImageId, frame: Option<u32>) -> Vec<u8> {
    Key::new()
        .u64(image.0)
        .u64(u64::from(frame.unwrap_or(0)))
        .build()
}

impl Catalog {
    /// Checks that `actor` sees every annotation of `image`.
    fn sees_whole_image(&self, actor: &Actor, image: ImageId) -> Result<()> {
        let (_, set, rights) = self.readable_image(actor, image)?;
        if !actor.sees_created_by(&set, &rights, None) {
            return Err(Error::denied(format!(
                "overview summaries of image {image} show every annotation; you see only your own"
            )));
        }
        Ok(())
    }

    /// The write stamp of `image`: changes with every annotation write to it (see the module
    /// docs); `None` while the store's annotation counts are not built.
    pub fn overview_stamp(&self, actor: &Actor, image: ImageId) -> Result<Option<u64>> {
        self.sees_whole_image(actor, image)?;
        self.write_stamp(image)
    }

    fn write_stamp(&self, image: ImageId) -> Result<Option<u64>> {
        if !self.counts_ready()? {
            return Ok(None);
        }
        let mut stamp = 0u64;
        for e in self.count_shards(image.0)? {
            match decode(&e.value, self.store().location(), image.0) {
                Ok((generation, _, _)) => stamp = stamp.wrapping_add(generation),
                Err(err) => {
                    self.report(&err);
                    return Ok(None);
                }
            }
        }
        Ok(Some(stamp))
    }

    /// The stored summary of `image` on `frame` (`None`: every plane) and the current stamp,
    /// if any summary is stored.
    pub fn overview_summary(
        &self,
        actor: &Actor,
        image: ImageId,
        frame: Option<u32>,
    ) -> Result<(Option<OverviewSummary>, Option<u64>)> {
        self.sees_whole_image(actor, image)?;
        let key = summary_key(image, frame);
        let found = self
            .store()
            .index_range(Index::OverviewSummary, &key, &prefix_end(&key), 1)?
            .into_iter()
            .find(|e| e.key == key);
        let summary = found.and_then(|e| {
            let stamp = e.value.get(..8)?.try_into().ok().map(u64::from_le_bytes)?;
            Some(OverviewSummary {
                stamp,
                bytes: e.value[8..].to_vec(),
            })
        });
        Ok((summary, self.write_stamp(image)?))
    }

    /// Stores the summary of `image` on `frame`, built from a scan that started and ended
    /// under `stamp`; skipped (returns `false`) when the image's stamp is no longer `stamp`
    /// or the summary is larger than [`MAX_SUMMARY_BYTES`].
    pub fn store_overview_summary(
        &self,
        actor: &Actor,
        image: ImageId,
        frame: Option<u32>,
        stamp: u64,
        bytes: &[u8],
    ) -> Result<bool> {
        self.sees_whole_image(actor, image)?;
        if bytes.len() > MAX_SUMMARY_BYTES || self.write_stamp(image)? != Some(stamp) {
            return Ok(false);
        }
        let mut value = Vec::with_capacity(8 + bytes.len());
        value.extend_from_slice(&stamp.to_le_bytes());
        value.extend_from_slice(bytes);
        let batch = Batch {
            writes: Vec::new(),
            entries: vec![EntryWrite {
                index: Index::OverviewSummary,
                key: summary_key(image, frame),
                id: 0,
                value: Some(value),
                expect: Expect::Anything,
            }],
        };
        self.store().commit(batch)?;
        Ok(true)
    }
}
