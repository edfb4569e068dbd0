//! Taking the label and macro images out of a slide's file before it leaves the lab: they
//! are photographs of the glass, often with the patient's name or a barcode on it. Done the
//! way anonymize-slide does it for SVS, without rewriting the file: each such image's IFD is
//! unlinked from the chain (the pointer before it skips it) and its pixel data is zeroed, so
//! the file keeps its size and every other byte (native tiles stay byte-equal, and the copy
//! streams through a fixed set of [`Edit`]s applied on the fly).
//!
//! Only single-file TIFF slides (SVS, generic TIFF; an OME-TIFF without label or macro) are
//! done. A DICOM series
//! carries patient attributes in every instance's header, and the formats OpenSlide reads for
//! us have their own layouts: both are refused, naming the format, rather than half done.

use super::Slide;
use crate::error::{Error, Result};
use crate::tiff;
use std::ops::Range;

/// The associated images taken out: the ones that photograph the slide's label.
pub const IDENTIFYING: [&str; 2] = ["label", "macro"];

/// One change to a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// These bytes at this offset.
    Write {
        /// File offset.
        at: u64,
        /// The new bytes.
        bytes: Vec<u8>,
    },
    /// Zeros over this range.
    Zero(Range<u64>),
}

/// What de-identifying a slide's file takes (see [`Slide::deidentify`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deidentified {
    /// The associated images taken out (`label`, `macro`), in that order.
    pub removed: Vec<String>,
    /// The changes, to apply to the file's bytes as they are copied.
    pub edits: Vec<Edit>,
}

impl Deidentified {
    /// Applies the edits to `chunk`, the file's bytes from offset `pos`.
    pub fn apply(&self, pos: u64, chunk: &mut [u8]) {
        let end = pos + chunk.len() as u64;
        for e in &self.edits {
            let (range, bytes) = match e {
                Edit::Write { at, bytes } => (*at..*at + bytes.len() as u64, Some(bytes)),
                Edit::Zero(r) => (r.clone(), None),
            };
            let (a, b) = (range.start.max(pos), range.end.min(end));
            if a >= b {
                continue;
            }
            let dst = &mut chunk[(a - pos) as usize..(b - pos) as usize];
            match bytes {
                Some(src) => dst
                    .copy_from_slice(&src[(a - range.start) as usize..(b - range.start) as usize]),
                None => dst.fill(0),
            }
        }
    }
}

impl Slide {
    /// The edits that take this slide's label and macro images out of its file ([`IDENTIFYING`];
    /// none when it has neither). Refused for other slides than single-file TIFFs, naming what
    /// the slide is.
    pub async fn deidentify(&self) -> Result<Deidentified> {
        let name = self.source.name().to_string();
        // The reason alone: callers name the slide as their user knows it (a path, an image).
        let refuse = |what: &str| {
            Err(Error::unsupported(format!(
                "the label and macro images can be taken out of single-file TIFF slides (SVS, generic TIFF) only; this is {what}"
            )))
        };
        if self.reader() != "exact-tiles" {
            return refuse("a format read through OpenSlide");
        }
        if self.vendor == "dicom" {
            return refuse(
                "a DICOM series, whose every instance carries patient attributes: use a DICOM de-identification tool",
            );
        }
        if self.source.part_names().len() > 1 {
            return refuse("a slide of several files");
        }
        let identifying = IDENTIFYING.iter().any(|n| self.associated.contains_key(*n));
        if self.vendor == "ome-tiff" && identifying {
            // Its OME-XML describes the label and macro as series by IFD: unlinking them would
            // leave a document that names IFDs the file no longer has.
            return refuse("an OME-TIFF whose OME-XML names its label or macro images");
        }
        let gone: Vec<(&str, u64)> = IDENTIFYING
            .iter()
            .filter_map(|n| self.associated.get(*n).map(|a| (*n, a.dir.offset)))
            .collect();
        if gone.is_empty() {
            return Ok(Deidentified::default());
        }
        let src = &self.source;
        let head = src.read(0..16.min(src.size())).await?;
        let (big_endian, bigtiff) = match (head.get(..2), head.get(2..4)) {
            (Some(b"II"), Some([43, 0])) => (false, true),
            (Some(b"MM"), Some([0, 43])) => (true, true),
            (Some(b"II"), _) => (false, false),
            (Some(b"MM"), _) => (true, false),
            _ => return Err(Error::corrupt(&name, "not a TIFF header")),
        };
        let word = if bigtiff { 8 } else { 4 };
        let encode = |v: u64| -> Vec<u8> {
            match (bigtiff, big_endian) {
                (true, false) => v.to_le_bytes().to_vec(),
                (true, true) => v.to_be_bytes().to_vec(),
                // Offsets in a classic TIFF fit in 32 bits (the parser read them so).
                (false, false) => (v as u32).to_le_bytes().to_vec(),
                (false, true) => (v as u32).to_be_bytes().to_vec(),
            }
        };
        let dirs = tiff::read_directories(src, None, &tiff::Limits::default()).await?;
        let mut chain: Vec<&tiff::Directory> = dirs.iter().filter(|d| !d.is_subifd).collect();
        chain.sort_by_key(|d| d.index);
        // Where each IFD of the chain keeps the offset of the next one: after its entries.
        let mut next_at = Vec::with_capacity(chain.len());
        for d in &chain {
            let (count_len, entry_len) = if bigtiff { (8, 20) } else { (2, 12) };
            let raw = src.read(d.offset..d.offset + count_len).await?;
            let n = match (bigtiff, big_endian, raw.get(..count_len as usize)) {
                (true, false, Some(b)) => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
                (true, true, Some(b)) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
                (false, false, Some(b)) => u64::from(u16::from_le_bytes([b[0], b[1]])),
                (false, true, Some(b)) => u64::from(u16::from_be_bytes([b[0], b[1]])),
                (.., None) => return Err(Error::corrupt(&name, "an IFD past the end of the file")),
            };
            next_at.push(d.offset + count_len + n * entry_len);
        }
        let removed_offsets: Vec<u64> = gone.iter().map(|(_, o)| *o).collect();
        if let Some((n, _)) = gone
            .iter()
            .find(|(_, o)| !chain.iter().any(|d| d.offset == *o))
        {
            return Err(Error::unsupported(format!(
                "{name}: the {n} image is not in the main IFD chain"
            )));
        }
        let mut edits = Vec::new();
        // The pointer to each kept IFD (the header's for the first, else the previous kept
        // IFD's) is rewritten where a removed IFD stood between them.
        let kept: Vec<usize> = (0..chain.len())
            .filter(|&i| !removed_offsets.contains(&chain[i].offset))
            .collect();
        let mut pointer_at = if bigtiff { 8 } else { 4 };
        let mut was = chain.first().map_or(0, |d| d.offset);
        for &i in &kept {
            if was != chain[i].offset {
                edits.push(Edit::Write {
                    at: pointer_at,
                    bytes: encode(chain[i].offset),
                });
            }
            pointer_at = next_at[i];
            was = chain.get(i + 1).map_or(0, |d| d.offset);
        }
        if was != 0 {
            edits.push(Edit::Write {
                at: pointer_at,
                bytes: vec![0; word],
            });
        }
        let size = src.size();
        for d in chain.iter().filter(|d| removed_offsets.contains(&d.offset)) {
            for (&o, &n) in d.offsets.iter().zip(&d.byte_counts) {
                let r = o.min(size)..o.saturating_add(n).min(size);
                if !r.is_empty() {
                    edits.push(Edit::Zero(r));
                }
            }
        }
        Ok(Deidentified {
            removed: gone.iter().map(|(n, _)| n.to_string()).collect(),
            edits,
        })
    }
}

impl Slide {
    /// Writes this slide's file to `out` without its label and macro images (see
    /// [`Slide::deidentify`]), read in chunks of 8 MiB; returns what was taken out.
    pub async fn write_deidentified(&self, out: &mut impl std::io::Write) -> Result<Deidentified> {
        let plan = self.deidentify().await?;
        let size = self.source.size();
        let mut pos = 0;
        while pos < size {
            let end = (pos + (8 << 20)).min(size);
            let mut chunk = self.source.read(pos..end).await?.to_vec();
            plan.apply(pos, &mut chunk);
            out.write_all(&chunk).map_err(|source| Error::Io {
                source_name: "the de-identified copy".into(),
                source,
            })?;
            pos = end;
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Edits land the same whatever the chunks a stream cuts the file into.
    #[test]
    fn edits_apply_across_any_chunking() {
        let plan = Deidentified {
            removed: vec!["label".into()],
            edits: vec![
                Edit::Write {
                    at: 3,
                    bytes: vec![7, 8, 9, 10],
                },
                Edit::Zero(10..17),
                Edit::Write {
                    at: 19,
                    bytes: vec![1],
                },
            ],
        };
        let file: Vec<u8> = (100..120).collect();
        let mut whole = file.clone();
        plan.apply(0, &mut whole);
        let mut want = file.clone();
        want[3..7].copy_from_slice(&[7, 8, 9, 10]);
        want[10..17].fill(0);
        want[19] = 1;
        assert_eq!(whole, want);
        for size in 1..file.len() {
            let mut got = Vec::new();
            for (i, c) in file.chunks(size).enumerate() {
                let mut c = c.to_vec();
                plan.apply((i * size) as u64, &mut c);
                got.extend(c);
            }
            assert_eq!(got, want, "chunks of {size}");
        }
    }
}
