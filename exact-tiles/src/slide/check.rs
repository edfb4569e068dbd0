//! [`Slide::check`]: what can be verified about a slide without decoding it, run when a slide is
//! registered (an upload) so that a damaged or hostile file is refused with its reason instead
//! of being served as a stream of failures.
//!
//! The rule for "declared sizes against the bytes present": each compression has a largest
//! possible expansion of stored bytes into decoded samples ([`max_expansion`]). A tile or strip
//! that declares more samples than its stored bytes can expand to, or a level that declares
//! more than the whole file can expand to (tiles sharing their bytes), is not a real image: a
//! 33 KB file cannot hold a 16,384 × 16,384 RGB picture (805 MB of samples, 24,000× its size)
//! in any of these codecs. The bounds are the codecs' own limits, not guesses about content, so
//! no file a real writer produced is refused by them.

use super::Slide;
use crate::codec::MAX_DECODED_BYTES;
use crate::error::{Error, Result};
use crate::tiff::{Directory, compression, compression_name};

/// Decoded bytes of one strip of a served level beyond which the level is not served as it is:
/// every tile in such a strip would decode the whole strip (old writers store a whole image as
/// one strip). The upload then converts the file into a tiled pyramid instead.
pub const MAX_SERVED_STRIP_BYTES: u64 = 16 << 20;

/// The largest ratio of decoded sample bytes to stored bytes a block of `compression` can
/// reach:
/// - none: 1 (every sample is stored);
/// - Deflate: 1,032 (its format limit: a 258-byte match per 2-bit code at best);
/// - LZW (TIFF): 3,641 (a code is at least 9 bits and expands to at most 4,096 bytes);
/// - JPEG: 2,048 (at least one bit per 8×8 block per component; with the strongest chroma
///   subsampling TIFF allows, 4×4, that is 1,366 samples per byte, rounded up);
/// - JPEG 2000: 16,384 (no hard format bound: empty code-blocks cost almost nothing; a tile's
///   decoded size is fixed by the TIFF tile size, which the decoder enforces, so this only
///   stops absurd declarations).
///
/// Other codes are not decodable here and get the JPEG 2000 figure.
pub fn max_expansion(code: u16) -> u64 {
    match code {
        compression::NONE => 1,
        compression::ADOBE_DEFLATE | compression::DEFLATE => 1032,
        compression::LZW => 3641,
        compression::JPEG => 2048,
        _ => 16384,
    }
}

impl Slide {
    /// Checks every level and associated image without decoding pixels: a supported sample
    /// layout (samples per pixel, bits per sample, planar layout) and compression, sane tile and
    /// strip sizes, every tile's bytes inside the file, declared sizes plausible for the bytes
    /// present ([`max_expansion`]), and some stored pixel data in level 0.
    ///
    /// [`Error::Corrupt`] for damaged or hostile files, [`Error::Unsupported`] for well-formed
    /// files this engine does not serve (a converter may still read them), each naming the
    /// file and the level or image at fault.
    pub fn check(&self) -> Result<()> {
        #[cfg(feature = "openslide")]
        if self.osr.is_some() {
            return Ok(());
        }
        if self.runtime.is_some() {
            return Ok(());
        }
        let size = self.source.size();
        self.check_levels(size, "")?;
        // Every other plane (z, frame) of a stack: its own directories.
        for (i, p) in self.planes.iter().flat_map(|p| p.slides.iter()).enumerate() {
            if let Some(p) = p {
                p.check_levels(size, &format!("plane {i}, "))?;
            }
        }
        for (n, a) in &self.associated {
            let what = format!("associated image {n:?}");
            // Associated images are decoded whole anyway (bounded by the decoder's limit).
            check_directory(&a.dir, &what, size, self.name(), MAX_DECODED_BYTES as u64)?;
            crate::codec::TileCodec::new(&a.dir, self.name())
                .map_err(|e| Error::unsupported(format!("{what}: {e}")))?;
        }
        let l0 = &self.levels[0].dir;
        if l0.byte_counts.iter().all(|&c| c == 0) {
            return Err(Error::corrupt(
                self.name(),
                "level 0 stores no pixel data (every tile is empty)",
            ));
        }
        Ok(())
    }

    /// [`Slide::check`] of the levels (and, composited, of each channel's directory).
    fn check_levels(&self, size: u64, plane: &str) -> Result<()> {
        for (i, l) in self.levels.iter().enumerate() {
            let what = format!("{plane}level {i}");
            let max_block = if l.is_tiled() {
                MAX_DECODED_BYTES as u64
            } else {
                MAX_SERVED_STRIP_BYTES
            };
            check_directory(&l.dir, &what, size, self.name(), max_block)?;
            if !l.channel_dirs.is_empty() {
                for (c, d) in l.channel_dirs.iter().enumerate() {
                    let what = format!("{what} channel {c}");
                    check_directory(d, &what, size, self.name(), max_block)?;
                }
            } else if let Err(e) = &l.codec {
                return Err(Error::unsupported(format!("{what}: {e}")));
            }
        }
        Ok(())
    }
}

/// The checks of [`Slide::check`] for one directory of a file of `file_size` bytes whose tiles
/// or strips may decode to at most `max_block` bytes. Damage ([`Error::Corrupt`]) is looked for
/// before size limits ([`Error::Unsupported`]), so a hostile file is refused, never handed on
/// to a converter.
pub(crate) fn check_directory(
    dir: &Directory,
    what: &str,
    file_size: u64,
    name: &str,
    max_block: u64,
) -> Result<()> {
    let corrupt = |detail: String| Error::corrupt(name, format!("{what}: {detail}"));
    if dir.samples_per_pixel == 0 {
        return Err(corrupt("0 samples per pixel".into()));
    }
    if dir.bits_per_sample == 0 || dir.bits_per_sample > 64 {
        return Err(corrupt(format!("{} bits per sample", dir.bits_per_sample)));
    }
    let (bw, rows) = dir.tile_size.unwrap_or((dir.width, dir.rows_per_strip));
    let kind = if dir.is_tiled() { "tile" } else { "strip" };
    let per_plane = if dir.planar_config == 2 {
        1
    } else {
        u64::from(dir.samples_per_pixel)
    };
    let sample_bytes = u64::from(dir.bits_per_sample).div_ceil(8);
    // Saturating: a hostile header may declare sizes whose product overflows.
    let block_bytes = |h: u32| {
        u64::from(bw)
            .saturating_mul(u64::from(h))
            .saturating_mul(per_plane)
            .saturating_mul(sample_bytes)
    };
    let ratio = max_expansion(dir.compression);
    let codec = compression_name(dir.compression);
    let blocks_per_plane = if dir.is_tiled() {
        u64::from(dir.width.div_ceil(bw)).saturating_mul(u64::from(dir.height.div_ceil(rows)))
    } else {
        u64::from(dir.height.div_ceil(rows))
    };
    let planes = if dir.planar_config == 2 {
        u64::from(dir.samples_per_pixel)
    } else {
        1
    };
    let n = blocks_per_plane
        .saturating_mul(planes)
        .min(dir.offsets.len() as u64) as usize;
    let mut declared = 0u64;
    for i in 0..n {
        let (off, count) = (dir.offsets[i], dir.byte_counts[i]);
        if count == 0 {
            // A sparse block: nothing stored, painted as background.
            continue;
        }
        off.checked_add(count)
            .filter(|&e| e <= file_size)
            .ok_or_else(|| {
                corrupt(format!(
                    "{kind} {i} is stored at bytes {off}..{}, past the end of the file \
                     ({file_size} bytes)",
                    off.saturating_add(count)
                ))
            })?;
        let h = if dir.is_tiled() {
            rows
        } else {
            let row = (i as u64 % blocks_per_plane) * u64::from(rows);
            (u64::from(dir.height) - row).min(u64::from(rows)) as u32
        };
        let need = block_bytes(h);
        if need > count.saturating_mul(ratio) {
            return Err(corrupt(format!(
                "{kind} {i} declares {bw}x{h} pixels ({need} bytes of samples) in {count} stored \
                 bytes; {codec} data expands at most {ratio}×"
            )));
        }
        declared = declared.saturating_add(need);
    }
    if declared > file_size.saturating_mul(ratio) {
        return Err(corrupt(format!(
            "{}x{} pixels declare {declared} bytes of samples, more than the whole file \
             ({file_size} bytes) can hold as {codec} data (at most {ratio}×): its {kind}s share \
             their bytes",
            dir.width, dir.height
        )));
    }
    if block_bytes(rows) > max_block {
        return Err(Error::unsupported(format!(
            "{name}: {what}: {kind}s of {bw}x{rows} pixels are too large to decode one at a time \
             (at most {} MiB each)",
            max_block >> 20
        )));
    }
    Ok(())
}
