//! DICOM whole-slide images (VL Whole Slide Microscopy Image IOD): one instance's header and
//! frame locations, read through byte ranges of a [`Source`], so the same code reads a local
//! file or an S3 object.
//!
//! This is a focused reader, not dicom-rs: `dicom-object` parses a whole file (or everything
//! up to the pixel data) from a `Read` stream, which over S3 means either fetching the whole
//! object or adapting an async range reader into a blocking stream, and it does not report
//! where the encapsulated frames lie in the file, which is what zero-copy tiles need. A WSI
//! header needs a few dozen tags, explicit VR little endian only (every transfer syntax of a
//! WSI with compressed frames uses it), so [`parse::parse_header`] walks the elements of a
//! byte prefix, skipping what it does not need and asking for more bytes when the prefix ends
//! early ([`parse::Stop::Need`]). Opening an instance costs one read of the first
//! [`crate::source::HEAD_CHUNK`] bytes, plus one more when the header and Basic Offset Table
//! are larger; the frames are then located by the Extended Offset Table, the Basic Offset
//! Table, or (when both are empty) by walking the fragment items.
//!
//! The slide assembly (a series of instances as pyramid levels, label and overview images)
//! is in [`crate::slide`].

pub mod parse;

use std::ops::Range;

use bytes::{Bytes, BytesMut};

pub use parse::{Encoding, FramePosition, Header, MAX_FRAMES, Stop, WSI_SOP_CLASS};

use crate::error::{Error, Result};
use crate::source::{HEAD_CHUNK, Source};

/// The most fragments walked when an instance has no offset table.
const MAX_WALK: u32 = MAX_FRAMES;

/// One parsed instance: its header and where each frame's bytes are.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The header.
    pub header: Header,
    /// The transfer syntax's encoding.
    pub encoding: Encoding,
    /// Byte range of each frame in the file.
    pub frames: Vec<Range<u64>>,
    /// The source it was read from.
    pub source: Source,
}

/// True if `head` starts like a DICOM Part 10 file.
pub fn is_dicom(head: &[u8]) -> bool {
    head.len() >= 132 && &head[128..132] == b"DICM"
}

/// Read the header of the instance in `source` (whose first bytes may already be in `head`)
/// and locate its frames. Errors name the file.
pub async fn read_instance(source: &Source, head: Option<Bytes>) -> Result<Instance> {
    let name = source.name().to_string();
    let size = source.size();
    let mut buf = match head {
        Some(h) => h,
        None => source.read(0..HEAD_CHUNK.min(size)).await?,
    };
    let header = loop {
        match parse::parse_header(&buf, &name) {
            Ok(h) => break h,
            Err(Stop::Need(n)) => buf = grow(source, buf, n).await?,
            Err(Stop::Failed(e)) => return Err(e),
        }
    };
    let encoding = parse::check_transfer_syntax(&header.transfer_syntax, &name)?;
    if header.frames > MAX_FRAMES {
        return Err(Error::unsupported(format!(
            "{name}: {} frames (at most {MAX_FRAMES} are read)",
            header.frames
        )));
    }
    if header.frames == 0 {
        return Err(Error::corrupt(&name, "Number of Frames is 0"));
    }
    let Some((start, len)) = header.pixel_data else {
        return Err(Error::corrupt(&name, "no Pixel Data"));
    };
    let frames = match (encoding, len) {
        (Encoding::Native, Some(len)) => native_frames(&header, start, len, size, &name)?,
        (Encoding::Native, None) => {
            return Err(Error::corrupt(
                &name,
                "native pixel data with undefined length",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::corrupt(
                &name,
                "compressed transfer syntax but the pixel data is not encapsulated",
            ));
        }
        (_, None) => loop {
            match parse::encapsulated_frames(&header, &buf, start, size, &name) {
                Ok(Some(f)) => break f,
                Ok(None) => break walk_fragments(source, &header, &buf, start).await?,
                Err(Stop::Need(n)) => buf = grow(source, buf, n).await?,
                Err(Stop::Failed(e)) => return Err(e),
            }
        },
    };
    Ok(Instance {
        header,
        encoding,
        frames,
        source: source.clone(),
    })
}

/// `buf` extended to at least `need` bytes (read ahead to twice its length).
async fn grow(source: &Source, buf: Bytes, need: u64) -> Result<Bytes> {
    let (name, size) = (source.name(), source.size());
    if need > size {
        return Err(Error::corrupt(
            name,
            format!(
                "the DICOM header runs past the end of the file (needs {need} bytes, has {size})"
            ),
        ));
    }
    if need > parse::MAX_HEADER_BYTES {
        return Err(Error::unsupported(format!(
            "{name}: DICOM header larger than {} MiB",
            parse::MAX_HEADER_BYTES >> 20
        )));
    }
    // Read ahead: a large header (per-frame groups) is read in a few requests, not many.
    let want = need.max(buf.len() as u64 * 2).min(size);
    let more = source.read(buf.len() as u64..want).await?;
    let mut all = BytesMut::with_capacity(want as usize);
    all.extend_from_slice(&buf);
    all.extend_from_slice(&more);
    Ok(all.freeze())
}

fn native_frames(
    h: &Header,
    start: u64,
    len: u64,
    size: u64,
    name: &str,
) -> Result<Vec<Range<u64>>> {
    let frame = u64::from(h.rows)
        .saturating_mul(u64::from(h.columns))
        .saturating_mul(u64::from(h.samples))
        .saturating_mul(u64::from(h.bits_allocated).div_ceil(8));
    let total = frame.saturating_mul(u64::from(h.frames));
    if frame == 0 || total > len || start.saturating_add(len) > size {
        return Err(Error::corrupt(
            name,
            format!(
                "native pixel data of {len} bytes at {start} (file {size} bytes) cannot hold {} \
                 frames of {frame} bytes",
                h.frames
            ),
        ));
    }
    Ok((0..u64::from(h.frames))
        .map(|i| start + i * frame..start + (i + 1) * frame)
        .collect())
}

/// Locate frames by walking the fragment items (no offset table): one fragment per frame.
async fn walk_fragments(
    source: &Source,
    h: &Header,
    buf: &[u8],
    start: u64,
) -> Result<Vec<Range<u64>>> {
    let name = source.name();
    let size = source.size();
    // After the (empty) Basic Offset Table item.
    let mut pos = start + 8;
    let mut out = Vec::with_capacity(h.frames.min(1 << 16) as usize);
    let mut window: (u64, Bytes) = (0, Bytes::copy_from_slice(buf));
    for i in 0..h.frames.min(MAX_WALK) {
        let in_window = pos >= window.0 && pos + 8 <= window.0 + window.1.len() as u64;
        if !in_window {
            if pos + 8 > size {
                return Err(Error::corrupt(
                    name,
                    format!(
                        "frame {} of {} lies past the end of the file",
                        i + 1,
                        h.frames
                    ),
                ));
            }
            // Read 64 KiB ahead: small frames then need one read per window, not one each.
            let end = (pos + (64 << 10)).min(size);
            window = (pos, source.read(pos..end).await?);
        }
        let at = (pos - window.0) as usize;
        let Some(len) = parse::fragment_length(&window.1[at..]) else {
            return Err(Error::corrupt(
                name,
                format!(
                    "expected a fragment item for frame {} of {} at byte {pos}",
                    i + 1,
                    h.frames
                ),
            ));
        };
        let r = pos + 8..pos + 8 + u64::from(len);
        if r.end > size {
            return Err(Error::corrupt(
                name,
                format!(
                    "frame {} is stored at bytes {}..{}, past the end of the file ({size} bytes)",
                    i + 1,
                    r.start,
                    r.end
                ),
            ));
        }
        pos = r.end;
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
