//! Decoding one stored tile or strip to RGB: JPEG (with JPEGTables), Deflate, LZW and
//! uncompressed, 8 bits per sample, with the horizontal predictor. Output sizes are fixed by the
//! directory before any decoding, so a hostile stream cannot make the decoder allocate more.

use std::io::Read;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::image::Image;
use crate::jpeg;
use crate::tiff::{Directory, compression, photometric};

/// The largest decoded tile or strip accepted (bytes of RGB output).
pub const MAX_DECODED_BYTES: usize = 256 << 20;

/// How to decode the tiles of one directory.
#[derive(Debug, Clone)]
pub struct TileCodec {
    compression: u16,
    photometric: u16,
    samples: u16,
    predictor: u16,
    /// SOI + JPEGTables body (no APP14: the decoder is told the colour space instead).
    jpeg_prefix: Option<Bytes>,
}

impl TileCodec {
    /// The codec for `dir`, or [`Error::Unsupported`] naming `name` and what is not supported.
    pub fn new(dir: &Directory, name: &str) -> Result<Self> {
        let unsupported = |what: String| Err(Error::unsupported(format!("{name}: {what}")));
        match dir.compression {
            compression::NONE
            | compression::LZW
            | compression::JPEG
            | compression::ADOBE_DEFLATE
            | compression::DEFLATE => {}
            compression::APERIO_J2K_RGB | compression::APERIO_J2K_YCBCR | compression::JPEG2000 => {
                if !cfg!(feature = "jpeg2000") {
                    return unsupported(format!(
                        "JPEG 2000 tiles (compression {}) need the `jpeg2000` feature",
                        dir.compression
                    ));
                }
            }
            c => return unsupported(format!("TIFF compression {c}")),
        }
        if dir.bits_per_sample != 8 {
            return unsupported(format!("{} bits per sample", dir.bits_per_sample));
        }
        if dir.sample_format != 1 {
            return unsupported(format!("sample format {}", dir.sample_format));
        }
        if !matches!(dir.samples_per_pixel, 1 | 3 | 4) {
            return unsupported(format!("{} samples per pixel", dir.samples_per_pixel));
        }
        if dir.planar_config != 1 && dir.samples_per_pixel > 1 {
            return unsupported("planar (separate) sample layout".into());
        }
        if dir.compression != compression::JPEG && dir.photometric == photometric::YCBCR {
            return unsupported("YCbCr pixels without JPEG compression".into());
        }
        if !matches!(dir.predictor, 1 | 2) {
            return unsupported(format!("predictor {}", dir.predictor));
        }
        let jpeg_prefix = if dir.compression == compression::JPEG {
            Some(
                jpeg::tile_prefix(dir.jpeg_tables.as_deref(), false)
                    .map_err(|e| Error::corrupt(name, e.0))?,
            )
        } else {
            None
        };
        Ok(Self {
            compression: dir.compression,
            photometric: dir.photometric,
            samples: dir.samples_per_pixel,
            predictor: dir.predictor,
            jpeg_prefix,
        })
    }

    /// True for JPEG tiles (which can be passed through).
    pub fn is_jpeg(&self) -> bool {
        self.compression == compression::JPEG
    }

    /// Decode `data` holding a `w` × `h` block to RGB.
    pub fn decode(&self, data: &[u8], w: u32, h: u32, name: &str) -> Result<Image> {
        // Saturating: strip sizes come from the file and may overflow.
        let out_len = (w as usize).saturating_mul(h as usize).saturating_mul(3);
        if out_len > MAX_DECODED_BYTES || w == 0 || h == 0 {
            return Err(Error::unsupported(format!(
                "{name}: {w}x{h} tile is too large"
            )));
        }
        if self.is_jpeg() {
            return self.decode_jpeg(data, w, h, name);
        }
        if matches!(
            self.compression,
            compression::APERIO_J2K_RGB | compression::APERIO_J2K_YCBCR | compression::JPEG2000
        ) {
            return self.decode_j2k(data, w, h, name);
        }
        let samples = usize::from(self.samples);
        let raw_len = w as usize * h as usize * samples;
        let mut raw = inflate(self.compression, data, raw_len, name)?;
        if raw.len() < raw_len {
            // Short data: libtiff fills the rest with zeros too.
            raw.resize(raw_len, 0);
        }
        if self.predictor == 2 {
            for row in raw.chunks_exact_mut(w as usize * samples) {
                for i in samples..row.len() {
                    row[i] = row[i].wrapping_add(row[i - samples]);
                }
            }
        }
        let data = match samples {
            3 => raw,
            1 => {
                let invert = self.photometric == 0;
                raw.iter()
                    .flat_map(|&v| {
                        let v = if invert { 255 - v } else { v };
                        [v, v, v]
                    })
                    .collect()
            }
            _ => raw
                .chunks_exact(samples)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        };
        Ok(Image {
            width: w,
            height: h,
            channels: 3,
            data,
        })
    }

    fn decode_jpeg(&self, data: &[u8], w: u32, h: u32, name: &str) -> Result<Image> {
        use zune_jpeg::zune_core::bytestream::ZCursor;
        use zune_jpeg::zune_core::colorspace::ColorSpace;
        use zune_jpeg::zune_core::options::DecoderOptions;
        let corrupt = |what: String| Error::corrupt(name, what);
        let prefix = self.jpeg_prefix.as_deref().unwrap_or(&[0xFF, 0xD8]);
        if data.len() < 4 || data[..2] != [0xFF, 0xD8] {
            return Err(corrupt("JPEG tile does not start with SOI".into()));
        }
        let mut stream = Vec::with_capacity(prefix.len() + data.len());
        stream.extend_from_slice(prefix);
        stream.extend_from_slice(&data[2..]);
        let limits = DecoderOptions::default()
            .set_max_width(w as usize)
            .set_max_height(h as usize);
        let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(&stream[..]), limits);
        dec.decode_headers()
            .map_err(|e| corrupt(format!("JPEG tile: {e:?}")))?;
        let input = dec.input_colorspace();
        // Photometric RGB with a stream that looks like YCbCr (no Adobe marker, plain component
        // ids): the components are RGB already, so ask for them unconverted.
        let (out, channels) = match (self.samples, self.photometric, input) {
            (1, _, _) => (ColorSpace::Luma, 1),
            (_, photometric::RGB, Some(ColorSpace::YCbCr)) => (ColorSpace::YCbCr, 3),
            _ => (ColorSpace::RGB, 3),
        };
        let opts = DecoderOptions::default()
            .set_max_width(w as usize)
            .set_max_height(h as usize)
            .jpeg_set_out_colorspace(out);
        dec.set_options(opts);
        let pixels = dec
            .decode()
            .map_err(|e| corrupt(format!("JPEG tile: {e:?}")))?;
        let info = dec
            .info()
            .ok_or_else(|| corrupt("JPEG tile: no header".into()))?;
        let (dw, dh) = (u32::from(info.width), u32::from(info.height));
        if pixels.len() != dw as usize * dh as usize * channels {
            return Err(corrupt(format!(
                "JPEG tile decoded to {} bytes for {dw}x{dh}",
                pixels.len()
            )));
        }
        let pixels = if channels == 1 {
            pixels.iter().flat_map(|&v| [v, v, v]).collect()
        } else {
            pixels
        };
        let img = Image {
            width: dw,
            height: dh,
            channels: 3,
            data: pixels,
        };
        if (dw, dh) == (w, h) {
            Ok(img)
        } else {
            Ok(crop_or_pad(&img, w, h))
        }
    }
}

impl TileCodec {
    #[cfg(feature = "jpeg2000")]
    fn decode_j2k(&self, data: &[u8], w: u32, h: u32, name: &str) -> Result<Image> {
        use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image as J2k};
        let corrupt = |what: String| Error::corrupt(name, what);
        let img = J2k::new(data, &DecodeSettings::default())
            .map_err(|e| corrupt(format!("JPEG 2000 tile: {e:?}")))?;
        let (dw, dh) = (img.width(), img.height());
        // The codestream's own size must fit the tile: nothing larger is ever allocated.
        if dw == 0 || dh == 0 || dw > w || dh > h {
            return Err(corrupt(format!(
                "JPEG 2000 tile is {dw}x{dh}, the TIFF says {w}x{h}"
            )));
        }
        let mut ctx = DecoderContext::default();
        let decoded = img
            .decode(&mut ctx)
            .map_err(|e| corrupt(format!("JPEG 2000 tile: {e:?}")))?;
        let n = decoded.components().len();
        let raw = decoded.data_u8();
        if n == 0 || raw.len() != dw as usize * dh as usize * n {
            return Err(corrupt(
                "JPEG 2000 tile: unexpected component layout".into(),
            ));
        }
        let ycbcr = self.compression == compression::APERIO_J2K_YCBCR;
        let mut rgb = Vec::with_capacity(dw as usize * dh as usize * 3);
        for p in raw.chunks_exact(n) {
            let px = if n >= 3 {
                [p[0], p[1], p[2]]
            } else {
                [p[0]; 3]
            };
            rgb.extend_from_slice(&if ycbcr && n >= 3 {
                ycbcr_to_rgb(px)
            } else {
                px
            });
        }
        let img = Image {
            width: dw,
            height: dh,
            channels: 3,
            data: rgb,
        };
        Ok(if (dw, dh) == (w, h) {
            img
        } else {
            crop_or_pad(&img, w, h)
        })
    }

    #[cfg(not(feature = "jpeg2000"))]
    fn decode_j2k(&self, _data: &[u8], _w: u32, _h: u32, name: &str) -> Result<Image> {
        Err(Error::unsupported(format!(
            "{name}: JPEG 2000 needs the `jpeg2000` feature"
        )))
    }
}

/// The bytes of one uncompressed, Deflate or LZW block, at most `raw_len` of them (the
/// directory fixes the size, so a hostile stream cannot inflate past it). Short data is
/// returned short; the caller pads.
pub(crate) fn inflate(
    compression: u16,
    data: &[u8],
    raw_len: usize,
    name: &str,
) -> Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(raw_len);
    let corrupt = |what: String| Error::corrupt(name, what);
    match compression {
        compression::NONE => raw.extend_from_slice(&data[..data.len().min(raw_len)]),
        compression::ADOBE_DEFLATE | compression::DEFLATE => {
            flate2::read::ZlibDecoder::new(data)
                .take(raw_len as u64)
                .read_to_end(&mut raw)
                .map_err(|e| corrupt(format!("Deflate tile: {e}")))?;
        }
        compression::LZW => {
            let mut dec = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
            raw.resize(raw_len, 0);
            let mut filled = 0;
            let mut input = data;
            while filled < raw_len {
                let r = dec.decode_bytes(input, &mut raw[filled..]);
                filled += r.consumed_out;
                input = &input[r.consumed_in..];
                match r.status {
                    Ok(weezl::LzwStatus::Ok) if r.consumed_in + r.consumed_out > 0 => {}
                    Ok(_) => break,
                    Err(e) => return Err(corrupt(format!("LZW tile: {e}"))),
                }
            }
            raw.truncate(filled);
        }
        c => return Err(Error::unsupported(format!("{name}: compression {c}"))),
    }
    Ok(raw)
}

/// Full-range YCbCr (JFIF) to RGB, as OpenSlide converts Aperio's 33003 tiles.
#[cfg_attr(not(feature = "jpeg2000"), allow(dead_code))]
fn ycbcr_to_rgb([y, cb, cr]: [u8; 3]) -> [u8; 3] {
    let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
    let c = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    [
        c(y + 1.402 * cr),
        c(y - 0.344_136 * cb - 0.714_136 * cr),
        c(y + 1.772 * cb),
    ]
}

/// Decode a complete JPEG stream of at most `max_w` × `max_h` to RGB; `rgb` says the TIFF
/// declared Photometric RGB (components stored unconverted). Used for passthrough checks and
/// fuzzing the splice + decode path.
pub fn decode_jpeg_stream(data: &[u8], max_w: u32, max_h: u32, rgb: bool) -> Result<Image> {
    let codec = TileCodec {
        compression: compression::JPEG,
        photometric: if rgb {
            photometric::RGB
        } else {
            photometric::YCBCR
        },
        samples: 3,
        predictor: 1,
        jpeg_prefix: None,
    };
    codec.decode_jpeg(data, max_w, max_h, "jpeg stream")
}

/// `img` cut or extended (with black) to `w` × `h`.
pub fn crop_or_pad(img: &Image, w: u32, h: u32) -> Image {
    let mut out = Image::new(w, h, img.channels);
    let c = usize::from(img.channels);
    let cw = w.min(img.width) as usize * c;
    let stride = out.stride();
    for y in 0..h.min(img.height) as usize {
        out.data[y * stride..][..cw].copy_from_slice(&img.data[y * img.stride()..][..cw]);
    }
    out
}
