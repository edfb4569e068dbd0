//! Conversion of non-pyramidal images (PNG, JPEG, BMP, WebP, striped or tiled TIFF) into a
//! tiled JPEG pyramidal TIFF that this crate, OpenSlide and libvips read.
//!
//! Streaming: rows flow from the decoder into one band (`tile_size` rows) per pyramid level;
//! each full band is cut into tiles, JPEG-encoded and appended to the file, and averaged 2×2
//! into the next level's band. Memory is about two level-0 bands, plus the decoded image for
//! formats whose decoders cannot stream rows (JPEG, BMP, WebP, interlaced PNG) — once, never
//! three times over. IFDs are written at the end, classic TIFF or BigTIFF by size.

pub(crate) mod input;
mod writer;

pub use input::{DecodeLimits, Format, probe};

use std::path::Path;

use crate::error::{Error, Result};
use crate::image::Image;

/// Conversion settings.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions {
    /// Tile edge (a multiple of 16).
    pub tile_size: u32,
    /// JPEG quality of the tiles.
    pub quality: u8,
    /// Limits on the input.
    pub limits: DecodeLimits,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            tile_size: 256,
            quality: 85,
            limits: DecodeLimits::default(),
        }
    }
}

/// Progress of a conversion: level-0 rows consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Rows done.
    pub rows_done: u64,
    /// Rows in the image.
    pub rows_total: u64,
}

/// What a conversion produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertSummary {
    /// Input format.
    pub format: Format,
    /// Level dimensions, finest first.
    pub levels: Vec<(u32, u32)>,
    /// Bytes written.
    pub bytes: u64,
    /// True if written as BigTIFF.
    pub bigtiff: bool,
}

/// Format and size of the image file `path` from its header, without decoding its pixels
/// (the check run when an upload arrives; conversion decodes later, in the background).
pub fn dimensions(path: &Path) -> Result<(Format, u32, u32)> {
    let name = path.display().to_string();
    let mut head = [0u8; 16];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
            source_name: name.clone(),
            source,
        })?;
        f.read(&mut head).map_err(|source| Error::Io {
            source_name: name.clone(),
            source,
        })?
    };
    let format = Format::sniff(&head[..n]).ok_or_else(|| {
        Error::unsupported(format!("{name}: not a PNG, JPEG, BMP, WebP or TIFF image"))
    })?;
    if format == Format::Tiff {
        let rows = input::open(path, &DecodeLimits::default())?;
        return Ok((format, rows.width(), rows.height()));
    }
    let (w, h) = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| Error::Io {
            source_name: name.clone(),
            source,
        })?
        .into_dimensions()
        .map_err(|e| Error::corrupt(&name, format!("unreadable {format:?} header: {e}")))?;
    Ok((format, w, h))
}

/// Convert the image file `input` into a pyramidal TIFF at `output`, calling `progress` after
/// each band of rows. Blocking: run it on a blocking thread.
pub fn convert_file(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ConvertSummary> {
    if opts.tile_size == 0 || !opts.tile_size.is_multiple_of(16) || opts.tile_size > 4096 {
        return Err(Error::invalid(
            "tile_size",
            "must be a multiple of 16 up to 4096",
        ));
    }
    let mut rows = input::open(input, &opts.limits)?;
    let io = |source| Error::Io {
        source_name: output.display().to_string(),
        source,
    };
    let file = std::fs::File::create(output).map_err(io)?;
    let mut out = writer::PyramidWriter::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        rows.width(),
        rows.height(),
        opts.tile_size,
        opts.quality,
        output.display().to_string(),
    )?;
    let (w, h) = (rows.width(), rows.height());
    let mut row = vec![0u8; w as usize * 3];
    let every = u64::from(opts.tile_size);
    for y in 0..h {
        rows.next_row(&mut row)?;
        out.push_row(&row)?;
        let done = u64::from(y) + 1;
        if done % every == 0 || done == u64::from(h) {
            progress(Progress {
                rows_done: done,
                rows_total: u64::from(h),
            });
        }
    }
    let (levels, bytes, bigtiff) = out.finish()?;
    Ok(ConvertSummary {
        format: rows.format(),
        levels,
        bytes,
        bigtiff,
    })
}

/// Convert several image files into one stack: a multi-page pyramidal TIFF whose pages are
/// the frames, in order, each named (PageName) by `inputs[i].1`, each with its reduced levels
/// as SubIFDs — what [`crate::Slide`] opens as `frames` planes. Every input must have the
/// size of the first (an error names the one that differs). Blocking.
pub fn convert_frames(
    inputs: &[(&Path, &str)],
    output: &Path,
    opts: &ConvertOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ConvertSummary> {
    if opts.tile_size == 0 || !opts.tile_size.is_multiple_of(16) || opts.tile_size > 4096 {
        return Err(Error::invalid(
            "tile_size",
            "must be a multiple of 16 up to 4096",
        ));
    }
    let Some(((first, _), _)) = inputs.split_first() else {
        return Err(Error::invalid("files", "no frames to convert"));
    };
    let mut rows = input::open(first, &opts.limits)?;
    let (w, h) = (rows.width(), rows.height());
    let format = rows.format();
    let io = |source| Error::Io {
        source_name: output.display().to_string(),
        source,
    };
    let file = std::fs::File::create(output).map_err(io)?;
    let mut out = writer::PyramidWriter::new(
        std::io::BufWriter::with_capacity(1 << 20, file),
        w,
        h,
        opts.tile_size,
        opts.quality,
        output.display().to_string(),
    )?;
    let total = u64::from(h) * inputs.len() as u64;
    let mut row = vec![0u8; w as usize * 3];
    for (i, (path, page)) in inputs.iter().enumerate() {
        if i > 0 {
            out.next_page()?;
            rows = input::open(path, &opts.limits)?;
            if (rows.width(), rows.height()) != (w, h) {
                return Err(Error::invalid(
                    "files",
                    format!(
                        "{page} is {}x{}, but the first frame ({}) is {w}x{h}: the frames of one image share their size",
                        rows.width(),
                        rows.height(),
                        inputs[0].1
                    ),
                ));
            }
        }
        out.name_page(page);
        for _ in 0..h {
            rows.next_row(&mut row)?;
            out.push_row(&row)?;
        }
        progress(Progress {
            rows_done: u64::from(h) * (i as u64 + 1),
            rows_total: total,
        });
    }
    let (levels, bytes, bigtiff) = out.finish()?;
    Ok(ConvertSummary {
        format,
        levels,
        bytes,
        bigtiff,
    })
}

/// 2×2 box average of two RGB rows (`b` may be the same row at an odd bottom edge) into
/// `out` (`ceil(w / 2)` pixels).
pub(crate) fn halve_rows(a: &[u8], b: &[u8], out: &mut [u8]) {
    let w = a.len() / 3;
    for (x, o) in out.chunks_exact_mut(3).enumerate() {
        let x0 = 2 * x;
        let x1 = (x0 + 1).min(w - 1);
        for c in 0..3 {
            let s = u32::from(a[x0 * 3 + c])
                + u32::from(a[x1 * 3 + c])
                + u32::from(b[x0 * 3 + c])
                + u32::from(b[x1 * 3 + c]);
            o[c] = ((s + 2) / 4) as u8;
        }
    }
}

/// A decoded image as RGB (composited on white when it has alpha).
pub(crate) fn to_rgb(img: Image) -> Image {
    img.to_rgb([255, 255, 255])
}

#[cfg(test)]
mod tests;

/// A pyramidal TIFF written from RGB rows the caller composes (a server-generated image such
/// as an annotation map): [`RowWriter::create`], one [`RowWriter::push_row`] per level-0
/// row, top to bottom, then [`RowWriter::finish`]. Memory is about two level-0 bands, as for
/// [`convert_file`]; the caller never holds the whole image. Blocking.
pub struct RowWriter {
    out: writer::PyramidWriter<std::io::BufWriter<std::fs::File>>,
    width: u32,
}

impl RowWriter {
    /// Starts `output` as a `width` × `height` pyramid (both at least 1).
    pub fn create(output: &Path, width: u32, height: u32, opts: &ConvertOptions) -> Result<Self> {
        if opts.tile_size == 0 || !opts.tile_size.is_multiple_of(16) || opts.tile_size > 4096 {
            return Err(Error::invalid(
                "tile_size",
                "must be a multiple of 16 up to 4096",
            ));
        }
        if width == 0 || height == 0 {
            return Err(Error::invalid("size", "an image needs at least one pixel"));
        }
        let file = std::fs::File::create(output).map_err(|source| Error::Io {
            source_name: output.display().to_string(),
            source,
        })?;
        let out = writer::PyramidWriter::new(
            std::io::BufWriter::with_capacity(1 << 20, file),
            width,
            height,
            opts.tile_size,
            opts.quality,
            output.display().to_string(),
        )?;
        Ok(Self { out, width })
    }

    /// Appends the next row: `width * 3` bytes of RGB.
    pub fn push_row(&mut self, row: &[u8]) -> Result<()> {
        if row.len() != self.width as usize * 3 {
            return Err(Error::invalid(
                "row",
                format!("{} bytes, expected {}", row.len(), self.width as usize * 3),
            ));
        }
        self.out.push_row(row)
    }

    /// Writes the directories once every row was pushed ("image ended early" otherwise);
    /// answers the level sizes, finest first.
    pub fn finish(self) -> Result<Vec<(u32, u32)>> {
        self.out.finish().map(|(levels, _, _)| levels)
    }
}
