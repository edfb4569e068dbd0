//! A minimal owned 8-bit image (RGB or RGBA, row-major, no padding) used for decoded tiles,
//! regions and thumbnails.

/// An 8-bit interleaved image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Channels per pixel: 3 (RGB) or 4 (RGBA, straight alpha).
    pub channels: u8,
    /// `width * height * channels` bytes.
    pub data: Vec<u8>,
}

impl Image {
    /// A zeroed image (transparent black for RGBA).
    pub fn new(width: u32, height: u32, channels: u8) -> Self {
        Self {
            width,
            height,
            channels,
            data: vec![0; width as usize * height as usize * channels as usize],
        }
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width as usize * self.channels as usize
    }

    /// Bytes held, for byte-bounded caches.
    pub fn byte_size(&self) -> usize {
        self.data.len()
    }

    /// RGB with `background` where alpha is not 255 (composited like openslide-python's
    /// Deep Zoom tiles).
    pub fn to_rgb(&self, background: [u8; 3]) -> Image {
        if self.channels == 3 {
            return self.clone();
        }
        let mut out = Image::new(self.width, self.height, 3);
        for (d, s) in out.data.chunks_exact_mut(3).zip(self.data.chunks_exact(4)) {
            // Most pixels are opaque (inside the slide) or fully transparent (outside it).
            match s[3] {
                255 => {
                    d.copy_from_slice(&s[..3]);
                    continue;
                }
                0 => {
                    d.copy_from_slice(&background);
                    continue;
                }
                _ => {}
            }
            let a = u32::from(s[3]);
            for c in 0..3 {
                let v = u32::from(s[c]) * a + u32::from(background[c]) * (255 - a);
                d[c] = ((v + 127) / 255) as u8;
            }
        }
        out
    }

    /// Encode as baseline JPEG at `quality` (1–100).
    pub fn encode_jpeg(&self, quality: u8) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
        let mut out = Vec::with_capacity(self.data.len() / 8);
        let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
        // 4:4:4: no chroma subsampling, so small tiles and sharp colour edges stay faithful.
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_4_4);
        let ct = if self.channels == 4 {
            jpeg_encoder::ColorType::Rgba
        } else {
            jpeg_encoder::ColorType::Rgb
        };
        let (w, h) = (self.width.min(65535) as u16, self.height.min(65535) as u16);
        if self.channels == 4 {
            enc.encode(
                &self.to_rgb([255; 3]).data,
                w,
                h,
                jpeg_encoder::ColorType::Rgb,
            )?;
        } else {
            enc.encode(&self.data, w, h, ct)?;
        }
        Ok(out)
    }
}

impl Image {
    /// Encode as PNG (RGB or RGBA).
    pub fn encode_png(&self) -> Result<Vec<u8>, image::ImageError> {
        use image::ImageEncoder;
        let mut out = Vec::new();
        let ct = if self.channels == 4 {
            image::ExtendedColorType::Rgba8
        } else {
            image::ExtendedColorType::Rgb8
        };
        image::codecs::png::PngEncoder::new(&mut out).write_image(
            &self.data,
            self.width,
            self.height,
            ct,
        )?;
        Ok(out)
    }
}

/// Encode `width` × `height` grey samples as a 16-bit greyscale PNG (one channel's stored
/// samples, see [`crate::Slide::channel_region`]).
pub fn encode_png_gray16(
    width: u32,
    height: u32,
    samples: &[u16],
) -> Result<Vec<u8>, image::ImageError> {
    use image::ImageEncoder;
    let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out).write_image(
        &bytes,
        width,
        height,
        image::ExtendedColorType::L16,
    )?;
    Ok(out)
}
