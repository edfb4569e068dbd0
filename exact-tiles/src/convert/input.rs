//! Row sources for conversion: streaming PNG rows, streaming TIFF bands, and whole-image
//! decoders (JPEG, BMP, WebP, interlaced PNG) bounded by [`DecodeLimits`].

use std::io::{BufRead, Cursor, Read, Seek};
use std::path::Path;

use bytes::Bytes;

use super::to_rgb;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::slide::Slide;
use crate::source::Source;

/// Limits on conversion input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted image, in pixels.
    pub max_pixels: u64,
    /// Largest buffer a non-streaming decoder may allocate, in bytes.
    pub max_whole_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_pixels: 1 << 34,
            max_whole_bytes: 4 << 30,
        }
    }
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// BMP.
    Bmp,
    /// WebP.
    Webp,
    /// TIFF (striped or tiled).
    Tiff,
}

impl Format {
    /// Recognise a format from the first bytes.
    pub fn sniff(head: &[u8]) -> Option<Format> {
        Some(match head {
            [0x89, b'P', b'N', b'G', ..] => Format::Png,
            [0xFF, 0xD8, 0xFF, ..] => Format::Jpeg,
            [b'B', b'M', ..] => Format::Bmp,
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Format::Webp,
            [b'I', b'I', 42 | 43, 0, ..] | [b'M', b'M', 0, 42 | 43, ..] => Format::Tiff,
            _ => return None,
        })
    }
}

/// A source of RGB rows, top to bottom.
pub(crate) trait Rows {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    fn format(&self) -> Format;
    /// Fill `out` (`width * 3` bytes) with the next row.
    fn next_row(&mut self, out: &mut [u8]) -> Result<()>;
}

/// Decode everything in `data` (a whole upload) within `limits`, returning its format and
/// size: the check run before accepting an upload, and the fuzz entry point.
pub fn probe(data: &[u8], limits: &DecodeLimits) -> Result<(Format, u32, u32)> {
    let mut rows = open_bytes("upload", Bytes::copy_from_slice(data), limits)?;
    let mut row = vec![0u8; rows.width() as usize * 3];
    for _ in 0..rows.height() {
        rows.next_row(&mut row)?;
    }
    Ok((rows.format(), rows.width(), rows.height()))
}

pub(crate) fn open(path: &Path, limits: &DecodeLimits) -> Result<Box<dyn Rows>> {
    let name = path.display().to_string();
    let io = |source| Error::Io {
        source_name: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 16];
    let n = file.read(&mut head).map_err(io)?;
    let format = Format::sniff(&head[..n]).ok_or_else(|| {
        Error::unsupported(format!("{name}: not a PNG, JPEG, BMP, WebP or TIFF image"))
    })?;
    match format {
        Format::Png => {
            file.rewind().map_err(io)?;
            png_rows(std::io::BufReader::new(file), &name, limits)
        }
        Format::Tiff => {
            let src = Source::from_file(path)?;
            tiff_rows(src, limits)
        }
        _ => {
            let len = file.metadata().map_err(io)?.len();
            if len > limits.max_whole_bytes {
                return Err(Error::unsupported(format!(
                    "{name}: {len} bytes is over the limit"
                )));
            }
            let mut data = Vec::with_capacity(len as usize);
            file.rewind().map_err(io)?;
            file.read_to_end(&mut data).map_err(io)?;
            whole(format, &data, &name, limits)
        }
    }
}

pub(crate) fn open_bytes(name: &str, data: Bytes, limits: &DecodeLimits) -> Result<Box<dyn Rows>> {
    let format = Format::sniff(&data).ok_or_else(|| {
        Error::unsupported(format!("{name}: not a PNG, JPEG, BMP, WebP or TIFF image"))
    })?;
    match format {
        Format::Png => png_rows(Cursor::new(data), name, limits),
        Format::Tiff => tiff_rows(Source::from_bytes(name, data), limits),
        _ => whole(format, &data, name, limits),
    }
}

fn check_size(name: &str, w: u32, h: u32, limits: &DecodeLimits) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(Error::corrupt(name, "image has no pixels"));
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(Error::unsupported(format!(
            "{name}: {w}x{h} exceeds the pixel limit"
        )));
    }
    Ok(())
}

struct PngRows<R: BufRead + Seek> {
    reader: png::Reader<R>,
    channels: usize,
    w: u32,
    h: u32,
    name: String,
}

fn png_rows<R: BufRead + Seek + 'static>(
    r: R,
    name: &str,
    limits: &DecodeLimits,
) -> Result<Box<dyn Rows>> {
    let corrupt = |e: png::DecodingError| Error::corrupt(name, format!("PNG: {e}"));
    let plimits = png::Limits {
        bytes: usize::try_from(limits.max_whole_bytes).unwrap_or(usize::MAX),
    };
    let mut dec = png::Decoder::new_with_limits(r, plimits);
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(corrupt)?;
    let (w, h) = (reader.info().width, reader.info().height);
    check_size(name, w, h, limits)?;
    let channels = match reader.output_color_type().0 {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        _ => 4,
    };
    if reader.info().interlaced {
        // Adam7 rows arrive in passes: decode the frame once, then serve rows from it.
        let size = reader
            .output_buffer_size()
            .filter(|s| (*s as u64) <= limits.max_whole_bytes)
            .ok_or_else(|| Error::unsupported(format!("{name}: interlaced PNG too large")))?;
        let mut buf = vec![0u8; size];
        reader.next_frame(&mut buf).map_err(corrupt)?;
        let img = expand(&buf, w, h, channels);
        return Ok(Box::new(WholeRows {
            img,
            y: 0,
            format: Format::Png,
        }));
    }
    Ok(Box::new(PngRows {
        reader,
        channels,
        w,
        h,
        name: name.to_string(),
    }))
}

/// Gray, gray+alpha, RGB or RGBA rows to an RGB image (alpha over white).
fn expand(buf: &[u8], w: u32, h: u32, channels: usize) -> Image {
    let px = w as usize * h as usize;
    let mut out = Image::new(w, h, 3);
    for (i, d) in out.data.chunks_exact_mut(3).enumerate().take(px) {
        let s = &buf[i * channels..][..channels];
        let (rgb, a) = match channels {
            1 => ([s[0]; 3], 255),
            2 => ([s[0]; 3], s[1]),
            3 => ([s[0], s[1], s[2]], 255),
            _ => ([s[0], s[1], s[2]], s[3]),
        };
        for c in 0..3 {
            let v = u32::from(rgb[c]) * u32::from(a) + 255 * (255 - u32::from(a));
            d[c] = ((v + 127) / 255) as u8;
        }
    }
    out
}

impl<R: BufRead + Seek> Rows for PngRows<R> {
    fn width(&self) -> u32 {
        self.w
    }
    fn height(&self) -> u32 {
        self.h
    }
    fn format(&self) -> Format {
        Format::Png
    }
    fn next_row(&mut self, out: &mut [u8]) -> Result<()> {
        let row = self
            .reader
            .next_row()
            .map_err(|e| Error::corrupt(&self.name, format!("PNG: {e}")))?
            .ok_or_else(|| Error::corrupt(&self.name, "PNG: fewer rows than its height"))?;
        let img = expand(row.data(), self.w, 1, self.channels);
        out.copy_from_slice(&img.data);
        Ok(())
    }
}

struct WholeRows {
    img: Image,
    y: u32,
    format: Format,
}

impl Rows for WholeRows {
    fn width(&self) -> u32 {
        self.img.width
    }
    fn height(&self) -> u32 {
        self.img.height
    }
    fn format(&self) -> Format {
        self.format
    }
    fn next_row(&mut self, out: &mut [u8]) -> Result<()> {
        let s = self.img.stride();
        let y = self.y.min(self.img.height - 1) as usize;
        out.copy_from_slice(&self.img.data[y * s..][..s]);
        self.y += 1;
        Ok(())
    }
}

fn whole(format: Format, data: &[u8], name: &str, limits: &DecodeLimits) -> Result<Box<dyn Rows>> {
    let img = match format {
        Format::Jpeg => {
            use zune_jpeg::zune_core::bytestream::ZCursor;
            use zune_jpeg::zune_core::colorspace::ColorSpace;
            use zune_jpeg::zune_core::options::DecoderOptions;
            let opts = DecoderOptions::default()
                .set_max_width(65535)
                .set_max_height(65535)
                .jpeg_set_out_colorspace(ColorSpace::RGB);
            let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
            dec.decode_headers()
                .map_err(|e| Error::corrupt(name, format!("JPEG: {e:?}")))?;
            let info = dec
                .info()
                .ok_or_else(|| Error::corrupt(name, "JPEG: no header"))?;
            let (w, h) = (u32::from(info.width), u32::from(info.height));
            check_size(name, w, h, limits)?;
            if u64::from(w) * u64::from(h) * 3 > limits.max_whole_bytes {
                return Err(Error::unsupported(format!(
                    "{name}: {w}x{h} JPEG over the memory limit"
                )));
            }
            let px = dec
                .decode()
                .map_err(|e| Error::corrupt(name, format!("JPEG: {e:?}")))?;
            if px.len() != w as usize * h as usize * 3 {
                return Err(Error::corrupt(name, "JPEG: short image"));
            }
            Image {
                width: w,
                height: h,
                channels: 3,
                data: px,
            }
        }
        _ => {
            let fmt = if format == Format::Bmp {
                image::ImageFormat::Bmp
            } else {
                image::ImageFormat::WebP
            };
            let mut reader = image::ImageReader::with_format(Cursor::new(data), fmt);
            let mut il = image::Limits::default();
            il.max_alloc = Some(limits.max_whole_bytes);
            reader.limits(il);
            let (w, h) = reader
                .into_dimensions()
                .map_err(|e| Error::corrupt(name, format!("{format:?}: {e}")))?;
            check_size(name, w, h, limits)?;
            let mut reader = image::ImageReader::with_format(Cursor::new(data), fmt);
            let mut il = image::Limits::default();
            il.max_alloc = Some(limits.max_whole_bytes);
            reader.limits(il);
            let dynimg = reader
                .decode()
                .map_err(|e| Error::corrupt(name, format!("{format:?}: {e}")))?;
            let rgba = dynimg.to_rgba8();
            to_rgb(Image {
                width: w,
                height: h,
                channels: 4,
                data: rgba.into_raw(),
            })
        }
    };
    Ok(Box::new(WholeRows { img, y: 0, format }))
}

/// TIFF input: bands of level 0 read through the slide engine (strips or tiles).
struct TiffRows {
    slide: Slide,
    band: Image,
    band_y: u32,
    y: u32,
}

const TIFF_BAND_ROWS: u32 = 256;

fn tiff_rows(src: Source, limits: &DecodeLimits) -> Result<Box<dyn Rows>> {
    let name = src.name().to_string();
    let slide = futures::executor::block_on(Slide::from_source(src, None))?;
    let (w, h) = slide.dimensions();
    let (w, h) = (
        u32::try_from(w).map_err(|_| Error::unsupported(format!("{name}: too wide")))?,
        u32::try_from(h).map_err(|_| Error::unsupported(format!("{name}: too tall")))?,
    );
    check_size(&name, w, h, limits)?;
    Ok(Box::new(TiffRows {
        slide,
        band: Image::new(0, 0, 3),
        band_y: 0,
        y: 0,
    }))
}

impl Rows for TiffRows {
    fn width(&self) -> u32 {
        self.slide.dimensions().0 as u32
    }
    fn height(&self) -> u32 {
        self.slide.dimensions().1 as u32
    }
    fn format(&self) -> Format {
        Format::Tiff
    }
    fn next_row(&mut self, out: &mut [u8]) -> Result<()> {
        if self.band.height == 0 || self.y >= self.band_y + self.band.height {
            let rows = TIFF_BAND_ROWS
                .min(self.height().saturating_sub(self.y))
                .max(1);
            let w = self.width();
            let band = futures::executor::block_on(self.slide.read_region(
                0,
                i64::from(self.y),
                0,
                w,
                rows,
            ))?;
            self.band = band.to_rgb([255, 255, 255]);
            self.band_y = self.y;
        }
        let s = self.band.stride();
        let r = (self.y - self.band_y) as usize;
        out.copy_from_slice(&self.band.data[r * s..][..s]);
        self.y += 1;
        Ok(())
    }
}
