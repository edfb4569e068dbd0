//! Regions and thumbnails: `read_region` composes decoded native tiles into an RGBA image like
//! OpenSlide (transparent outside the level), `thumbnail` follows openslide-python.

use std::sync::Arc;

use super::Slide;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::resize;

/// The largest region `read_region` returns (pixels).
pub const MAX_REGION_PIXELS: u64 = 256 << 20;

/// The most native tiles one region may touch (files with absurdly small tiles).
pub const MAX_REGION_TILES: i64 = 1 << 16;

/// pixman's 16.16 fixed point of a sub-pixel offset, then its 7-bit bilinear weight.
fn pixman_weight(f: f64) -> u32 {
    (((f * 65536.0).round() as i64).clamp(0, 65535) >> 9) as u32
}

/// Copy `src` (RGB or RGBA) into `dst` at (`dx`, `dy`), clipped to `dst`; RGBA destinations
/// get alpha 255 from RGB sources.
pub(crate) fn blit(src: &Image, dst: &mut Image, dx: i64, dy: i64) {
    blit_clipped(src, src.width, src.height, dst, dx, dy);
}

/// Like [`blit`] but only the top-left `vw` × `vh` of `src`.
pub(crate) fn blit_clipped(src: &Image, vw: u32, vh: u32, dst: &mut Image, dx: i64, dy: i64) {
    let (sc, dc) = (usize::from(src.channels), usize::from(dst.channels));
    let x0 = dx.max(0);
    let y0 = dy.max(0);
    let x1 = (dx + i64::from(vw.min(src.width))).min(i64::from(dst.width));
    let y1 = (dy + i64::from(vh.min(src.height))).min(i64::from(dst.height));
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let n = (x1 - x0) as usize;
    let (src_stride, dst_stride) = (src.stride(), dst.stride());
    for y in y0..y1 {
        let sy = (y - dy) as usize;
        let sx = (x0 - dx) as usize;
        let s = &src.data[sy * src_stride + sx * sc..][..n * sc];
        let d = &mut dst.data[y as usize * dst_stride + x0 as usize * dc..][..n * dc];
        if sc == dc {
            d.copy_from_slice(s);
        } else if sc == 3 && dc == 4 {
            for (d, s) in d.chunks_exact_mut(4).zip(s.chunks_exact(3)) {
                d.copy_from_slice(&[s[0], s[1], s[2], 255]);
            }
        } else {
            for (d, s) in d.chunks_exact_mut(dc).zip(s.chunks_exact(sc)) {
                d[..3].copy_from_slice(&s[..3]);
            }
        }
    }
}

impl Slide {
    /// The `w` × `h` region of `level` whose top-left corner is at (`x`, `y`) in level-0
    /// coordinates, as straight RGBA: transparent where it lies outside the image.
    ///
    /// Like OpenSlide, a corner that falls between pixels of the level (`x / downsample` not
    /// whole) is rendered with the sub-pixel offset, interpolated bilinearly with 7-bit weights
    /// as cairo/pixman do, so pixels agree with OpenSlide's at every level.
    pub async fn read_region(&self, x: i64, y: i64, level: usize, w: u32, h: u32) -> Result<Image> {
        check_region_size(w, h)?;
        let _held = crate::budget::reserve(
            self.budget(),
            self.region_cost(level, w, h)?,
            &format_args!("a {w}x{h} region of {}", self.name()),
        )?;
        self.region_rgba(x, y, level, w, h).await
    }

    /// [`Slide::read_region`] without the budget (its callers reserved it).
    pub(super) async fn region_rgba(
        &self,
        x: i64,
        y: i64,
        level: usize,
        w: u32,
        h: u32,
    ) -> Result<Image> {
        if u64::from(w) * u64::from(h) > MAX_REGION_PIXELS {
            return Err(Error::invalid(
                "size",
                format!("{w}x{h} exceeds {MAX_REGION_PIXELS} pixels"),
            ));
        }
        let ds = self.level(level)?.downsample;
        #[cfg(feature = "openslide")]
        if let Some(osr) = &self.osr {
            return super::openslide::read_region(osr.clone(), x, y, level, w, h, ds, self.name())
                .await;
        }
        if let Some(rt) = &self.runtime {
            return super::runtime::read_region(rt.clone(), x, y, level, w, h, self.name()).await;
        }
        // OpenSlide handles a negative corner by a whole-pixel shift of the output, then reads
        // from 0 on that axis.
        let shift = |v: i64| if v < 0 { ((-v) as f64 / ds) as i64 } else { 0 };
        let (dx, dy) = (shift(x), shift(y));
        if dx > 0 || dy > 0 {
            let mut out = Image::new(w, h, 4);
            if dx < i64::from(w) && dy < i64::from(h) {
                let (iw, ih) = (w - dx as u32, h - dy as u32);
                let inner = Box::pin(self.region_rgba(x.max(0), y.max(0), level, iw, ih)).await?;
                blit(&inner, &mut out, dx, dy);
            }
            return Ok(out);
        }
        let (ox, oy) = (x as f64 / ds, y as f64 / ds);
        let (ix, iy) = (ox.floor(), oy.floor());
        let (wx, wy) = (pixman_weight(ox - ix), pixman_weight(oy - iy));
        let (ix, iy) = (ix as i64, iy as i64);
        if wx == 0 && wy == 0 {
            return self.read_level_region(ix, iy, level, w, h).await;
        }
        let src = self.read_level_region(ix, iy, level, w + 1, h + 1).await?;
        Ok(crate::cpu::run(move || bilinear(&src, w, h, wx, wy)).await)
    }

    /// The region as RGB composited on `background`: exactly
    /// `read_region(..).to_rgb(background)`, but composed straight from the decoded tiles when
    /// the corner falls on whole level pixels and the tiles are RGB (every Deep Zoom tile of a
    /// level that matches a slide level), skipping the RGBA intermediate and the blend.
    pub async fn read_region_rgb(
        &self,
        x: i64,
        y: i64,
        level: usize,
        w: u32,
        h: u32,
        background: [u8; 3],
    ) -> Result<Image> {
        check_region_size(w, h)?;
        let _held = crate::budget::reserve(
            self.budget(),
            self.region_cost(level, w, h)?,
            &format_args!("a {w}x{h} region of {}", self.name()),
        )?;
        self.region_rgb(x, y, level, w, h, background).await
    }

    /// [`Slide::read_region_rgb`] without the budget (its callers reserved it).
    pub(super) async fn region_rgb(
        &self,
        x: i64,
        y: i64,
        level: usize,
        w: u32,
        h: u32,
        background: [u8; 3],
    ) -> Result<Image> {
        let ds = self.level(level)?.downsample;
        #[cfg(feature = "openslide")]
        let direct = self.osr.is_none() && self.runtime.is_none();
        #[cfg(not(feature = "openslide"))]
        let direct = self.runtime.is_none();
        if direct && x >= 0 && y >= 0 && u64::from(w) * u64::from(h) <= MAX_REGION_PIXELS {
            let (ox, oy) = (x as f64 / ds, y as f64 / ds);
            let (ix, iy) = (ox.floor(), oy.floor());
            if pixman_weight(ox - ix) == 0 && pixman_weight(oy - iy) == 0 {
                let (ix, iy) = (ix as i64, iy as i64);
                if let Some(img) = self
                    .read_level_region_rgb(ix, iy, level, w, h, background)
                    .await?
                {
                    return Ok(img);
                }
            }
        }
        let region = self.region_rgba(x, y, level, w, h).await?;
        Ok(crate::cpu::run(move || region.to_rgb(background)).await)
    }

    /// [`Slide::read_level_region`] into RGB on `background`; `None` when a tile is not RGB.
    async fn read_level_region_rgb(
        &self,
        lx: i64,
        ly: i64,
        level: usize,
        w: u32,
        h: u32,
        background: [u8; 3],
    ) -> Result<Option<Image>> {
        let l = self.level(level)?.clone();
        let mut out = Image {
            width: w,
            height: h,
            channels: 3,
            data: background.repeat(w as usize * h as usize),
        };
        let (lw, lh) = (l.width as i64, l.height as i64);
        let (vx1, vy1) = ((lx + i64::from(w)).min(lw), (ly + i64::from(h)).min(lh));
        if lx >= vx1 || ly >= vy1 {
            return Ok(Some(out));
        }
        let (tw, th) = (i64::from(l.tile_width), i64::from(l.tile_height));
        let count = ((vx1 - 1) / tw - lx / tw + 1) * ((vy1 - 1) / th - ly / th + 1);
        if count > MAX_REGION_TILES {
            return Ok(None);
        }
        let tiles: Vec<(u32, u32)> = (ly / th..=(vy1 - 1) / th)
            .flat_map(|r| (lx / tw..=(vx1 - 1) / tw).map(move |c| (c as u32, r as u32)))
            .collect();
        let decoded = self.decoded_tiles(level, &tiles).await?;
        if decoded.iter().any(|t| t.channels != 3) {
            return Ok(None);
        }
        for ((c, r), tile) in tiles.iter().zip(decoded) {
            let (tx, ty) = (i64::from(*c) * tw, i64::from(*r) * th);
            let vw = (lw - tx).min(tw) as u32;
            let vh = (lh - ty).min(th) as u32;
            blit_clipped(&tile, vw, vh, &mut out, tx - lx, ty - ly);
        }
        Ok(Some(out))
    }

    /// The region at whole level coordinates (`lx`, `ly`).
    async fn read_level_region(
        &self,
        lx: i64,
        ly: i64,
        level: usize,
        w: u32,
        h: u32,
    ) -> Result<Image> {
        let l = self.level(level)?.clone();
        let mut out = Image::new(w, h, 4);
        let (lw, lh) = (l.width as i64, l.height as i64);
        let (vx0, vy0) = (lx.max(0), ly.max(0));
        let (vx1, vy1) = ((lx + i64::from(w)).min(lw), (ly + i64::from(h)).min(lh));
        if vx0 >= vx1 || vy0 >= vy1 {
            return Ok(out);
        }
        let (tw, th) = (i64::from(l.tile_width), i64::from(l.tile_height));
        let count = ((vx1 - 1) / tw - vx0 / tw + 1) * ((vy1 - 1) / th - vy0 / th + 1);
        if count > MAX_REGION_TILES {
            return Err(Error::unsupported(format!(
                "{}: a {w}x{h} region spans {count} tiles of {tw}x{th} (limit {MAX_REGION_TILES})",
                self.name()
            )));
        }
        let tiles: Vec<(u32, u32)> = (vy0 / th..=(vy1 - 1) / th)
            .flat_map(|r| (vx0 / tw..=(vx1 - 1) / tw).map(move |c| (c as u32, r as u32)))
            .collect();
        let decoded = self.decoded_tiles(level, &tiles).await?;
        for ((c, r), tile) in tiles.iter().zip(decoded) {
            let (tx, ty) = (i64::from(*c) * tw, i64::from(*r) * th);
            // Clip the tile to the level: edge tiles carry padding OpenSlide does not show.
            let vw = (lw - tx).min(tw) as u32;
            let vh = (lh - ty).min(th) as u32;
            blit_clipped(&tile, vw, vh, &mut out, tx - lx, ty - ly);
        }
        Ok(out)
    }

    /// Decoded tiles of one level, reading the missing ones with coalesced reads and decoding
    /// them in parallel on the CPU pool.
    pub(crate) async fn decoded_tiles(
        &self,
        level: usize,
        tiles: &[(u32, u32)],
    ) -> Result<Vec<Arc<Image>>> {
        let mut out: Vec<Option<Arc<Image>>> = tiles
            .iter()
            .map(|&(c, r)| self.tiles.get(&(level, c, r)))
            .collect();
        let missing: Vec<usize> = (0..tiles.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let l = self.level(level)?;
            if !l.channel_dirs.is_empty() {
                let want: Vec<_> = missing.iter().map(|&i| tiles[i]).collect();
                let decoded = self.composite_tiles(level, &want).await?;
                for (&i, img) in missing.iter().zip(decoded) {
                    let img = Arc::new(img);
                    let (c, r) = tiles[i];
                    self.tiles.insert((level, c, r), img.clone());
                    out[i] = Some(img);
                }
                return Ok(out.into_iter().flatten().collect());
            }
            let codec = l.codec.clone().map_err(Error::unsupported)?;
            let mut ranges = Vec::with_capacity(missing.len());
            for &i in &missing {
                let (c, r) = tiles[i];
                ranges.push(self.tile_range(level, c, r)?.1);
            }
            let raws = self.source.read_many(&ranges).await?;
            let (w, h) = (l.tile_width, l.tile_height);
            let jobs = raws.into_iter().map(|raw| {
                let codec = codec.clone();
                let name = self.name().to_string();
                crate::cpu::run(move || {
                    if raw.is_empty() {
                        super::blank_tile(w, h, &name)
                    } else {
                        codec.decode(&raw, w, h, &name)
                    }
                })
            });
            let decoded = futures::future::try_join_all(jobs).await?;
            for (&i, img) in missing.iter().zip(decoded) {
                let img = Arc::new(img);
                let (c, r) = tiles[i];
                self.tiles.insert((level, c, r), img.clone());
                out[i] = Some(img);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// A thumbnail fitting in `max_width` × `max_height`, as openslide-python's
    /// `get_thumbnail`: the whole of the best level, composited on white, resized (Lanczos)
    /// keeping the aspect ratio.
    pub async fn thumbnail(&self, max_width: u32, max_height: u32) -> Result<Image> {
        if max_width == 0 || max_height == 0 {
            return Err(Error::invalid("size", "thumbnail size must be positive"));
        }
        let (w0, h0) = self.dimensions();
        let ds = (w0 as f64 / f64::from(max_width)).max(h0 as f64 / f64::from(max_height));
        let level = self.best_level_for_downsample(ds);
        let l = self.level(level)?;
        let (lw, lh) = (u32::try_from(l.width), u32::try_from(l.height));
        let (Ok(lw), Ok(lh)) = (lw, lh) else {
            return Err(Error::unsupported("level too large for a thumbnail"));
        };
        let size = resize::pil_thumbnail_size((lw, lh), (max_width, max_height));
        // Composed on white then resized; a large level is reduced block by block as it is
        // decoded rather than composed whole (see `read_region_resized`).
        self.read_region_resized(0, 0, level, lw, lh, Some(size), [255, 255, 255])
            .await
    }

    /// Peak bytes of a `w` × `h` region of `level` read by [`Slide::read_region`] or
    /// [`Slide::read_region_rgb`]: the RGBA composition with its sub-pixel copy and RGB
    /// result (11 bytes a pixel), plus the decoded tiles it touches.
    pub(super) fn region_cost(&self, level: usize, w: u32, h: u32) -> Result<u64> {
        let l = self.level(level)?;
        let (tw, th) = (u64::from(l.tile_width), u64::from(l.tile_height));
        let tiles = (u64::from(w).div_ceil(tw) + 1) * (u64::from(h).div_ceil(th) + 1);
        let tiles = tiles.min(u64::from(l.tiles_across) * u64::from(l.tiles_down));
        // Saturating: tile and strip sizes come from the file.
        let tile_bytes = tw.saturating_mul(th).saturating_mul(3);
        Ok((u64::from(w) * u64::from(h))
            .saturating_mul(11)
            .saturating_add(tiles.saturating_mul(tile_bytes)))
    }
}

/// [`Error::InvalidInput`] for regions beyond [`MAX_REGION_PIXELS`].
pub(super) fn check_region_size(w: u32, h: u32) -> Result<()> {
    if u64::from(w) * u64::from(h) > MAX_REGION_PIXELS {
        return Err(Error::invalid(
            "size",
            format!("{w}x{h} exceeds {MAX_REGION_PIXELS} pixels"),
        ));
    }
    Ok(())
}

/// Shift straight-RGBA `src` ((w+1) × (h+1)) left/up by `wx`/128 and `wy`/128 of a pixel:
/// bilinear interpolation in premultiplied space, as pixman does for a fractional translate.
fn bilinear(src: &Image, w: u32, h: u32, wx: u32, wy: u32) -> Image {
    let mut out = Image::new(w, h, 4);
    let stride = src.stride();
    let px = |x: usize, y: usize| -> [u32; 4] {
        let p = &src.data[y * stride + x * 4..][..4];
        let a = u32::from(p[3]);
        // premultiply (sources are opaque or fully transparent, so this is exact)
        [
            u32::from(p[0]) * a / 255,
            u32::from(p[1]) * a / 255,
            u32::from(p[2]) * a / 255,
            a,
        ]
    };
    let weights = [
        (128 - wx) * (128 - wy),
        wx * (128 - wy),
        (128 - wx) * wy,
        wx * wy,
    ];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let q = [px(x, y), px(x + 1, y), px(x, y + 1), px(x + 1, y + 1)];
            let mut acc = [0u32; 4];
            for (p, wgt) in q.iter().zip(weights) {
                for c in 0..4 {
                    acc[c] += p[c] * wgt;
                }
            }
            let v = acc.map(|a| (a + 8192) >> 14);
            let d = &mut out.data[(y * w as usize + x) * 4..][..4];
            let a = v[3];
            if a == 0 {
                continue;
            }
            for c in 0..3 {
                d[c] = ((v[c] * 255 + a / 2) / a).min(255) as u8;
            }
            d[3] = a as u8;
        }
    }
    out
}
