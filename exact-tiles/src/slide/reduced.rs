//! Large regions made small: [`Slide::read_region_resized`] renders a region and resizes it as
//! openslide-python's Deep Zoom and thumbnails do (composite on a background, PIL's `resize`
//! with `reducing_gap=2`), but when the region is large it never composes it whole: PIL first
//! averages whole `fx` × `fy` blocks (`Image.reduce`), and those block sums are accumulated
//! straight from the decoded tiles or strips, a few at a time. A low-zoom tile of a 16,384²
//! single-level image then holds a few MiB (the block sums and one batch of decoded tiles)
//! instead of the 805 MB of the composed level, with the same pixels.

use super::Slide;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::resize;

/// Regions up to this many pixels are composed whole (exactly OpenSlide's pixels, sub-pixel
/// corners included); larger ones are reduced as they are decoded.
pub const DIRECT_REGION_PIXELS: u64 = 16 << 20;

/// Decoded bytes of one batch of tiles accumulated at a time (at least one tile).
const BATCH_BYTES: u64 = 32 << 20;

/// Per-cell sums of a reduction in progress.
struct Sums {
    /// Cells across and down.
    cw: u32,
    ch: u32,
    /// Block size.
    fx: u32,
    fy: u32,
    /// Region size.
    w: u32,
    h: u32,
    /// RGB sums, 3 per cell.
    rgb: Vec<u64>,
    /// Pixels summed per cell (the rest of the cell is background).
    counts: Vec<u32>,
}

impl Sums {
    /// Add the top-left `vw` × `vh` of `tile`, whose top-left pixel lands at region
    /// coordinates (`dx`, `dy`), clipped to the region.
    fn add(&mut self, tile: &Image, vw: u32, vh: u32, dx: i64, dy: i64) {
        let c = usize::from(tile.channels);
        let x0 = dx.max(0);
        let x1 = (dx + i64::from(vw.min(tile.width))).min(i64::from(self.w));
        let y0 = dy.max(0);
        let y1 = (dy + i64::from(vh.min(tile.height))).min(i64::from(self.h));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let stride = tile.stride();
        let (fx, fy) = (i64::from(self.fx), i64::from(self.fy));
        for y in y0..y1 {
            let row = &tile.data[(y - dy) as usize * stride..];
            let cy = (y / fy) as usize;
            let mut x = x0;
            while x < x1 {
                // One run of pixels falling in the same cell.
                let cx = x / fx;
                let end = ((cx + 1) * fx).min(x1);
                let mut acc = [0u64; 3];
                for p in row[(x - dx) as usize * c..(end - dx) as usize * c].chunks_exact(c) {
                    acc[0] += u64::from(p[0]);
                    acc[1] += u64::from(p[1]);
                    acc[2] += u64::from(p[2]);
                }
                let cell = cy * self.cw as usize + cx as usize;
                for (k, a) in acc.iter().enumerate() {
                    self.rgb[cell * 3 + k] += a;
                }
                self.counts[cell] += (end - x) as u32;
                x = end;
            }
        }
    }

    /// The reduced image: each cell's mean, with background for pixels nothing covered.
    fn finish(self, background: [u8; 3]) -> Image {
        let mut out = Image::new(self.cw, self.ch, 3);
        for cy in 0..self.ch {
            let ch = ((cy + 1) * self.fy).min(self.h) - cy * self.fy;
            for cx in 0..self.cw {
                let cw = ((cx + 1) * self.fx).min(self.w) - cx * self.fx;
                let n = cw * ch;
                let cell = (cy * self.cw + cx) as usize;
                let missing = u64::from(n - self.counts[cell].min(n));
                for (k, bg) in background.iter().enumerate() {
                    let acc = self.rgb[cell * 3 + k] + missing * u64::from(*bg);
                    out.data[cell * 3 + k] = resize::pillow_mean(acc, n);
                }
            }
        }
        out
    }
}

impl Slide {
    /// The `w` × `h` region of `level` at level-0 (`x`, `y`), composited on `background`, and
    /// resized to `out` with [`resize::pil_resize`] when given: exactly
    /// `pil_resize(read_region_rgb(..), out)`. Regions above [`DIRECT_REGION_PIXELS`] that PIL
    /// would first reduce by whole blocks are reduced while their tiles are decoded, in
    /// batches, so memory stays bounded by the output, not the region; there the corner is
    /// taken at whole level pixels (OpenSlide interpolates a sub-pixel corner, a difference
    /// below what a reduction by 2× or more shows).
    ///
    /// The peak memory is reserved from the slide's budget first ([`Error::Busy`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn read_region_resized(
        &self,
        x: i64,
        y: i64,
        level: usize,
        w: u32,
        h: u32,
        out: Option<(u32, u32)>,
        background: [u8; 3],
    ) -> Result<Image> {
        let what = format!("a {w}x{h} region of {}", self.name());
        let (fx, fy) = out.map_or((1, 1), |o| resize::pil_reduce_factors((w, h), o));
        #[cfg(feature = "openslide")]
        let streamable = self.osr.is_none() && self.runtime.is_none();
        #[cfg(not(feature = "openslide"))]
        let streamable = self.runtime.is_none();
        let large = u64::from(w) * u64::from(h) > DIRECT_REGION_PIXELS;
        let Some((ow, oh)) = out.filter(|_| streamable && large && (fx > 1 || fy > 1)) else {
            super::region::check_region_size(w, h)?;
            let _held =
                crate::budget::reserve(self.budget(), self.region_cost(level, w, h)?, &what)?;
            let rgb = self.region_rgb(x, y, level, w, h, background).await?;
            let Some((ow, oh)) = out else { return Ok(rgb) };
            return crate::cpu::run(move || resize::pil_resize(&rgb, ow, oh)).await;
        };
        let l = self.level(level)?.clone();
        let (cw, ch) = (w.div_ceil(fx), h.div_ceil(fy));
        let cells = u64::from(cw) * u64::from(ch);
        let (tw, th) = (u64::from(l.tile_width), u64::from(l.tile_height));
        let tile_bytes = tw.saturating_mul(th).saturating_mul(3);
        // Sums and counts, the reduced image, a batch of tiles, the output.
        let cost = (cells * 31)
            .saturating_add(BATCH_BYTES.max(tile_bytes))
            .saturating_add(u64::from(ow) * u64::from(oh) * 3);
        let _held = crate::budget::reserve(self.budget(), cost, &what)?;

        let ds = l.downsample;
        let (lx, ly) = (
            (x as f64 / ds).floor() as i64,
            (y as f64 / ds).floor() as i64,
        );
        let (lw, lh) = (l.width as i64, l.height as i64);
        let mut sums = Sums {
            cw,
            ch,
            fx,
            fy,
            w,
            h,
            rgb: vec![0; cells as usize * 3],
            counts: vec![0; cells as usize],
        };
        let (vx0, vy0) = (lx.max(0), ly.max(0));
        let (vx1, vy1) = ((lx + i64::from(w)).min(lw), (ly + i64::from(h)).min(lh));
        if vx0 < vx1 && vy0 < vy1 {
            let (tw, th) = (tw as i64, th as i64);
            let count = ((vx1 - 1) / tw - vx0 / tw + 1) * ((vy1 - 1) / th - vy0 / th + 1);
            if count > super::region::MAX_REGION_TILES {
                return Err(Error::unsupported(format!(
                    "{}: a {w}x{h} region spans {count} tiles of {tw}x{th} (limit {})",
                    self.name(),
                    super::region::MAX_REGION_TILES
                )));
            }
            let cols = (vx0 / tw) as u32..=((vx1 - 1) / tw) as u32;
            let per_batch = (BATCH_BYTES / tile_bytes.max(1)).max(1) as usize;
            for r in (vy0 / th) as u32..=((vy1 - 1) / th) as u32 {
                // Sparse tiles store nothing and paint nothing (background): skipped.
                let row: Vec<(u32, u32)> = cols
                    .clone()
                    .map(|c| (c, r))
                    .filter(|&(c, r)| {
                        self.tile_range(level, c, r)
                            .map_or(true, |(_, range)| !range.is_empty())
                    })
                    .collect();
                for batch in row.chunks(per_batch) {
                    let decoded = self.decoded_tiles(level, batch).await?;
                    let batch = batch.to_vec();
                    sums = crate::cpu::run(move || {
                        for ((c, r), tile) in batch.iter().zip(decoded) {
                            let (tx, ty) = (i64::from(*c) * tw, i64::from(*r) * th);
                            // Edge tiles carry padding OpenSlide does not show.
                            let vw = (lw - tx).min(tw) as u32;
                            let vh = (lh - ty).min(th) as u32;
                            sums.add(&tile, vw, vh, tx - lx, ty - ly);
                        }
                        sums
                    })
                    .await;
                }
            }
        }
        let box_ = (f64::from(w) / f64::from(fx), f64::from(h) / f64::from(fy));
        crate::cpu::run(move || {
            let reduced = sums.finish(background);
            Ok(resize::pil_resample(
                &reduced,
                ow,
                oh,
                (0.0, 0.0, box_.0, box_.1),
            ))
        })
        .await
    }
}
