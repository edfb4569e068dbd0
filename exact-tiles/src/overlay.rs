//! Result bitmaps of processing plugins as Deep Zoom overlays aligned with their slide: a
//! decoded bitmap (PNG, JPEG, BMP, WebP or TIFF, through the conversion decoders), its
//! placement on the slide (an affine bitmap → slide map, from a transformation matrix or a
//! location rectangle) and its style (heat map of one channel with scale and threshold, or
//! colour), rendered into RGBA tiles of a Deep Zoom grid over the slide's level-0 size.
//! Each tile pixel samples the bitmap pixel under its centre (nearest neighbour), so a
//! bitmap is resized to every level without smoothing away class boundaries.

use bytes::Bytes;

use crate::convert::DecodeLimits;
use crate::error::{Error, Result};
use crate::image::Image;

/// Largest bitmap accepted, in pixels (kept decoded, 3 bytes each).
pub const MAX_OVERLAY_PIXELS: u64 = 1 << 25;

/// A decoded bitmap: RGB rows (a one-channel bitmap has r = g = b).
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    rgb: Vec<u8>,
}

impl Overlay {
    /// Decodes a stored bitmap file (`name` names it in errors).
    pub fn decode(name: &str, data: Bytes) -> Result<Overlay> {
        let limits = DecodeLimits {
            max_pixels: MAX_OVERLAY_PIXELS,
            max_whole_bytes: MAX_OVERLAY_PIXELS * 4,
        };
        let mut rows = crate::convert::input::open_bytes(name, data, &limits)?;
        let (w, h) = (rows.width(), rows.height());
        if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_OVERLAY_PIXELS {
            return Err(Error::unsupported(format!(
                "{name}: {w} × {h} pixels (at most {MAX_OVERLAY_PIXELS} for an overlay)"
            )));
        }
        let stride = w as usize * 3;
        let mut rgb = vec![0u8; stride * h as usize];
        for row in rgb.chunks_exact_mut(stride) {
            rows.next_row(row)?;
        }
        Ok(Overlay {
            width: w,
            height: h,
            rgb,
        })
    }

    /// Bytes held.
    pub fn byte_size(&self) -> usize {
        self.rgb.len()
    }

    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// How a bitmap lies on its slide: slide = `m` · (x, y, 1) for bitmap pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Row-major `[a, b, c, d, e, f]`: X = a·x + b·y + c, Y = d·x + e·y + f.
    pub m: [f64; 6],
}

impl Placement {
    /// The bitmap stretched over the rectangle `x, y, w, h` (level-0 pixels).
    pub fn rect(bitmap: (u32, u32), x: f64, y: f64, w: f64, h: f64) -> Placement {
        Placement {
            m: [
                w / f64::from(bitmap.0.max(1)),
                0.0,
                x,
                0.0,
                h / f64::from(bitmap.1.max(1)),
                y,
            ],
        }
    }

    /// The inverse map (slide → bitmap); an error when it does not exist.
    fn inverse(&self) -> Result<[f64; 6]> {
        let [a, b, c, d, e, f] = self.m;
        let det = a * e - b * d;
        if !det.is_finite() || det.abs() < 1e-12 || self.m.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "transformation_matrix",
                "not invertible (finite, non-zero scale needed)",
            ));
        }
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Ok([ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)])
    }
}

/// How a bitmap's pixels are shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverlayStyle {
    /// 1 = a heat map of the first channel; 3 or 4 = the colours as they are.
    pub channels: u32,
    /// The value a stored 0 stands for (heat maps).
    pub scale_min: f64,
    /// The value a stored 255 stands for (heat maps).
    pub scale_max: f64,
    /// Heat-map values below it are transparent.
    pub threshold: f64,
    /// Opacity, 0 to 1.
    pub alpha: f64,
}

impl OverlayStyle {
    /// RGBA of one bitmap pixel.
    pub fn colour(&self, p: [u8; 3]) -> [u8; 4] {
        let a = (self.alpha.clamp(0.0, 1.0) * 255.0).round() as u8;
        if self.channels >= 3 {
            return [p[0], p[1], p[2], a];
        }
        let t = f64::from(p[0]) / 255.0;
        let value = self.scale_min + t * (self.scale_max - self.scale_min);
        if value < self.threshold {
            return [0, 0, 0, 0];
        }
        // Blue (low) to red (high).
        [p[0], 0, 255 - p[0], a]
    }
}

/// Renders the `w` × `h` RGBA tile whose top-left output pixel is at level-0
/// (`x0`, `y0`) and whose pixels are `scale` level-0 pixels wide; where the bitmap does not
/// reach, the tile is transparent.
pub fn render(
    overlay: &Overlay,
    placement: &Placement,
    style: &OverlayStyle,
    (x0, y0): (f64, f64),
    scale: f64,
    (w, h): (u32, u32),
) -> Result<Image> {
    let [a, b, c, d, e, f] = placement.inverse()?;
    let mut out = Image::new(w, h, 4);
    let (bw, bh) = (f64::from(overlay.width), f64::from(overlay.height));
    for ty in 0..h {
        let sy = y0 + (f64::from(ty) + 0.5) * scale;
        for tx in 0..w {
            let sx = x0 + (f64::from(tx) + 0.5) * scale;
            let bx = a * sx + b * sy + c;
            let by = d * sx + e * sy + f;
            if !(0.0..bw).contains(&bx) || !(0.0..bh).contains(&by) {
                continue;
            }
            let rgba = style.colour(overlay.pixel(bx as u32, by as u32));
            let i = (ty as usize * w as usize + tx as usize) * 4;
            out.data[i..i + 4].copy_from_slice(&rgba);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_by_one() -> Overlay {
        // Left pixel red, right pixel blue.
        Overlay {
            width: 2,
            height: 1,
            rgb: vec![255, 0, 0, 0, 0, 255],
        }
    }

    #[test]
    fn a_stretched_bitmap_lands_on_its_rectangle() {
        let o = two_by_one();
        let style = OverlayStyle {
            channels: 3,
            scale_min: 0.0,
            scale_max: 1.0,
            threshold: 0.0,
            alpha: 1.0,
        };
        // Over x 100..300, y 0..100: left half red, right half blue, outside transparent.
        let p = Placement::rect((2, 1), 100.0, 0.0, 200.0, 100.0);
        let img = render(&o, &p, &style, (0.0, 0.0), 50.0, (8, 4)).unwrap();
        let px = |x: usize, y: usize| &img.data[(y * 8 + x) * 4..(y * 8 + x) * 4 + 4];
        assert_eq!(px(0, 0), [0, 0, 0, 0]);
        assert_eq!(px(2, 0), [255, 0, 0, 255]);
        assert_eq!(px(4, 1), [0, 0, 255, 255]);
        assert_eq!(px(6, 0), [0, 0, 0, 0]);
        assert_eq!(px(2, 2), [0, 0, 0, 0]);
    }

    #[test]
    fn heat_maps_threshold_and_singular_matrices_are_refused() {
        let style = OverlayStyle {
            channels: 1,
            scale_min: 0.0,
            scale_max: 1.0,
            threshold: 0.5,
            alpha: 0.5,
        };
        assert_eq!(style.colour([100, 100, 100]), [0, 0, 0, 0]);
        assert_eq!(style.colour([200, 200, 200]), [200, 0, 55, 128]);
        let flat = Placement {
            m: [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        };
        assert!(render(&two_by_one(), &flat, &style, (0.0, 0.0), 1.0, (1, 1)).is_err());
    }
}
