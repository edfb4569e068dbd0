//! Deep Zoom: [`DeepZoom`] is the geometry of openslide-python's `DeepZoomGenerator` (same
//! levels, dimensions, tile counts and per-tile source rectangles for a given `tile_size`,
//! `overlap` and `limit_bounds`); [`DeepZoomGenerator`] serves its tiles as JPEG — passing
//! native tiles through untouched in the native grid, rendering the others from the nearest
//! finer level on the CPU pool, with a byte-bounded cache of rendered tiles.

use std::sync::Arc;

use bytes::Bytes;

use crate::cache::ByteCache;
use crate::error::{Error, Result};
use crate::resize;
use crate::slide::Slide;

/// Deep Zoom parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeepZoomOptions {
    /// Tile edge without overlap (OpenSlide's default 254).
    pub tile_size: u32,
    /// Pixels of overlap on each interior edge (default 1).
    pub overlap: u32,
    /// Serve only the slide's bounds (`openslide.bounds-*`) rather than the whole level.
    pub limit_bounds: bool,
    /// JPEG quality of rendered tiles (75, as OpenSlide's example server).
    pub quality: u8,
}

impl Default for DeepZoomOptions {
    fn default() -> Self {
        Self {
            tile_size: 254,
            overlap: 1,
            limit_bounds: false,
            quality: 75,
        }
    }
}

/// Where one Deep Zoom tile comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileInfo {
    /// Level-0 coordinates of the source rectangle (openslide-python's `l0_location`).
    pub l0_location: (i64, i64),
    /// Slide level read.
    pub slide_level: usize,
    /// Size read at that level.
    pub l_size: (u32, u32),
    /// Size of the Deep Zoom tile.
    pub z_size: (u32, u32),
}

/// Deep Zoom geometry for one slide.
#[derive(Debug, Clone)]
pub struct DeepZoom {
    opts: DeepZoomOptions,
    l0_offset: (f64, f64),
    l_dimensions: Vec<(u64, u64)>,
    l0_l_downsamples: Vec<f64>,
    z_dimensions: Vec<(u64, u64)>,
    t_dimensions: Vec<(u32, u32)>,
    slide_from_dz_level: Vec<usize>,
    l_z_downsamples: Vec<f64>,
}

fn prop_num(slide: &Slide, name: &str) -> Option<f64> {
    slide.properties().get(name).and_then(|v| v.parse().ok())
}

impl DeepZoom {
    /// The geometry openslide-python computes for `slide` and `opts`.
    pub fn new(slide: &Slide, opts: DeepZoomOptions) -> Result<Self> {
        if opts.tile_size == 0 {
            return Err(Error::invalid("tile_size", "must be positive"));
        }
        let dims = slide.level_dimensions();
        let (l0_offset, l_dimensions) = if opts.limit_bounds {
            let off = (
                prop_num(slide, "openslide.bounds-x").unwrap_or(0.0).trunc(),
                prop_num(slide, "openslide.bounds-y").unwrap_or(0.0).trunc(),
            );
            let (w0, h0) = (dims[0].0 as f64, dims[0].1 as f64);
            let sx = prop_num(slide, "openslide.bounds-width").map_or(w0, f64::trunc) / w0;
            let sy = prop_num(slide, "openslide.bounds-height").map_or(h0, f64::trunc) / h0;
            let l = dims
                .iter()
                .map(|&(w, h)| ((w as f64 * sx).ceil() as u64, (h as f64 * sy).ceil() as u64))
                .collect();
            (off, l)
        } else {
            ((0.0, 0.0), dims.clone())
        };
        let mut z_size = l_dimensions[0];
        let mut z_dimensions = vec![z_size];
        while z_size.0 > 1 || z_size.1 > 1 {
            z_size = (z_size.0.div_ceil(2).max(1), z_size.1.div_ceil(2).max(1));
            z_dimensions.push(z_size);
        }
        z_dimensions.reverse();
        let ts = u64::from(opts.tile_size);
        let t_dimensions = z_dimensions
            .iter()
            .map(|&(w, h)| (w.div_ceil(ts) as u32, h.div_ceil(ts) as u32))
            .collect();
        let n = z_dimensions.len();
        let l0_z: Vec<f64> = (0..n).map(|z| 2f64.powi((n - z - 1) as i32)).collect();
        let slide_from_dz_level: Vec<usize> = l0_z
            .iter()
            .map(|&d| slide.best_level_for_downsample(d))
            .collect();
        let l0_l_downsamples = slide.level_downsamples();
        let l_z_downsamples = (0..n)
            .map(|z| l0_z[z] / l0_l_downsamples[slide_from_dz_level[z]])
            .collect();
        Ok(Self {
            opts,
            l0_offset,
            l_dimensions,
            l0_l_downsamples,
            z_dimensions,
            t_dimensions,
            slide_from_dz_level,
            l_z_downsamples,
        })
    }

    /// The options this geometry was built with.
    pub fn options(&self) -> DeepZoomOptions {
        self.opts
    }

    /// Number of Deep Zoom levels.
    pub fn level_count(&self) -> usize {
        self.z_dimensions.len()
    }

    /// Tiles across and down per level.
    pub fn level_tiles(&self) -> &[(u32, u32)] {
        &self.t_dimensions
    }

    /// Pixel size of each level.
    pub fn level_dimensions(&self) -> &[(u64, u64)] {
        &self.z_dimensions
    }

    /// Total number of tiles.
    pub fn tile_count(&self) -> u64 {
        self.t_dimensions
            .iter()
            .map(|&(w, h)| u64::from(w) * u64::from(h))
            .sum()
    }

    /// The slide level each Deep Zoom level is read from.
    pub fn slide_levels(&self) -> &[usize] {
        &self.slide_from_dz_level
    }

    /// Source rectangle and size of one tile, exactly as openslide-python's `_get_tile_info`.
    pub fn tile_info(&self, level: usize, col: u32, row: u32) -> Result<TileInfo> {
        let Some(&(tx, ty)) = self.t_dimensions.get(level) else {
            return Err(Error::not_found(format!("Deep Zoom level {level}")));
        };
        if col >= tx || row >= ty {
            return Err(Error::not_found(format!(
                "Deep Zoom tile {level}/{col}_{row}"
            )));
        }
        let slide_level = self.slide_from_dz_level[level];
        let ov = u64::from(self.opts.overlap);
        let ts = u64::from(self.opts.tile_size);
        let lz = self.l_z_downsamples[level];
        let ll = self.l0_l_downsamples[slide_level];
        let (zw, zh) = self.z_dimensions[level];
        let (lw, lh) = self.l_dimensions[slide_level];
        let axis = |t: u32, t_lim: u32, z_lim: u64, l_lim: u64, off: f64| {
            let t = u64::from(t);
            let tl = if t != 0 { ov } else { 0 };
            let br = if t != u64::from(t_lim) - 1 { ov } else { 0 };
            let z_size = ts.min(z_lim - ts * t) + tl + br;
            let z_loc = ts * t;
            let l_loc = lz * (z_loc - tl) as f64;
            let l0 = (ll * l_loc + off).trunc() as i64;
            let l_size = (lz * z_size as f64).ceil().min(l_lim as f64 - l_loc.ceil());
            (l0, l_size.max(0.0) as u32, z_size as u32)
        };
        let (x0, lsx, zsx) = axis(col, tx, zw, lw, self.l0_offset.0);
        let (y0, lsy, zsy) = axis(row, ty, zh, lh, self.l0_offset.1);
        Ok(TileInfo {
            l0_location: (x0, y0),
            slide_level,
            l_size: (lsx, lsy),
            z_size: (zsx, zsy),
        })
    }

    /// The DZI XML document for this geometry.
    pub fn dzi(&self, format: &str) -> String {
        let (w, h) = self.z_dimensions[self.z_dimensions.len() - 1];
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"{format}\" Overlap=\"{}\" TileSize=\"{}\"><Size Height=\"{h}\" Width=\"{w}\"/></Image>",
            self.opts.overlap, self.opts.tile_size
        )
    }
}

/// Serves Deep Zoom tiles of one slide as JPEG.
#[derive(Debug)]
pub struct DeepZoomGenerator {
    slide: Arc<Slide>,
    dz: DeepZoom,
    cache: ByteCache<(usize, u32, u32), Bytes>,
}

/// The largest native tile size the native grid uses as its Deep Zoom tile size.
pub const MAX_NATIVE_TILE: u32 = 2048;

/// Default bytes of rendered tiles kept per generator.
pub const DEFAULT_RENDERED_CACHE_BYTES: usize = 32 << 20;

impl DeepZoomGenerator {
    /// A generator with openslide-python's geometry for `opts`.
    pub fn new(slide: Arc<Slide>, opts: DeepZoomOptions) -> Result<Self> {
        let dz = DeepZoom::new(&slide, opts)?;
        Ok(Self {
            slide,
            dz,
            cache: ByteCache::new(DEFAULT_RENDERED_CACHE_BYTES),
        })
    }

    /// The native grid: tile size = level 0's tile width (256 for strips and tiles wider than
    /// [`MAX_NATIVE_TILE`]), overlap 0, whole image; tiles of
    /// Deep Zoom levels that coincide with a native level pass through untouched.
    pub fn native(slide: Arc<Slide>) -> Result<Self> {
        let l0 = &slide.levels()[0];
        // Strips (a striped TIFF's "tile" is a full-width band) and absurdly wide tiles would
        // make one Deep Zoom tile a whole image: those get ordinary 256-pixel tiles.
        let tile_size = if l0.is_tiled() && l0.tile_width <= MAX_NATIVE_TILE {
            l0.tile_width
        } else {
            256
        };
        let opts = DeepZoomOptions {
            tile_size,
            overlap: 0,
            limit_bounds: false,
            ..DeepZoomOptions::default()
        };
        Self::new(slide, opts)
    }

    /// The geometry.
    pub fn geometry(&self) -> &DeepZoom {
        &self.dz
    }

    /// The slide.
    pub fn slide(&self) -> &Arc<Slide> {
        &self.slide
    }

    /// The native tile a Deep Zoom tile is identical to, if any: same level size, square native
    /// tiles of `tile_size`, no overlap, not a cropped edge tile, JPEG.
    pub fn passthrough_source(
        &self,
        level: usize,
        col: u32,
        row: u32,
    ) -> Option<(usize, u32, u32)> {
        let o = self.dz.opts;
        if o.overlap != 0 || (o.limit_bounds && self.dz.l0_offset != (0.0, 0.0)) {
            return None;
        }
        // The native level this Deep Zoom level coincides with. Deep Zoom halves with ceil,
        // some writers (libvips) with floor, and OpenSlide's downsample rule may then pick the
        // finer level: a native level within one pixel still shares the grid, so its whole
        // tiles pass through.
        let (zw, zh) = *self.dz.z_dimensions.get(level)?;
        let (sl, l) = self
            .slide
            .levels()
            .iter()
            .enumerate()
            .find(|(_, l)| zw.abs_diff(l.width) <= 1 && zh.abs_diff(l.height) <= 1)?;
        if !l.is_passthrough() || l.tile_width != o.tile_size || l.tile_height != o.tile_size {
            return None;
        }
        let ts = u64::from(o.tile_size);
        let full_w = (u64::from(col) + 1) * ts <= l.width.min(zw);
        let full_h = (u64::from(row) + 1) * ts <= l.height.min(zh);
        (full_w && full_h && col < l.tiles_across && row < l.tiles_down).then_some((sl, col, row))
    }

    /// One tile's pixels (RGB, composited on white), rendered as openslide-python's
    /// `get_tile` does: the source rectangle read with `read_region`, then reduced to the tile
    /// size with PIL's thumbnail rules when they differ.
    pub async fn render(&self, level: usize, col: u32, row: u32) -> Result<crate::Image> {
        let info = self.dz.tile_info(level, col, row)?;
        // A low-zoom tile of a slide without a coarse enough level covers a large region:
        // `read_region_resized` reduces it as it decodes instead of composing it whole.
        let out = (info.l_size != info.z_size)
            .then(|| resize::pil_thumbnail_size(info.l_size, info.z_size));
        self.slide
            .read_region_resized(
                info.l0_location.0,
                info.l0_location.1,
                info.slide_level,
                info.l_size.0,
                info.l_size.1,
                out,
                [255, 255, 255],
            )
            .await
    }

    /// The rendered tile if the cache holds it (no rendering).
    pub fn cached_tile(&self, level: usize, col: u32, row: u32) -> Option<Bytes> {
        self.cache.get(&(level, col, row))
    }

    /// One tile as JPEG bytes: passed through untouched when it is a native tile, else
    /// rendered ([`DeepZoomGenerator::render`]), encoded and cached.
    pub async fn tile(&self, level: usize, col: u32, row: u32) -> Result<Bytes> {
        if let Some((sl, c, r)) = self.passthrough_source(level, col, row) {
            return Ok(self.slide.native_tile(sl, c, r).await?.to_bytes());
        }
        if let Some(b) = self.cache.get(&(level, col, row)) {
            return Ok(b);
        }
        let quality = self.dz.opts.quality;
        let img = self.render(level, col, row).await?;
        let bytes = crate::cpu::run(move || -> Result<Bytes> {
            let jpeg = img
                .encode_jpeg(quality)
                .map_err(|e| Error::invalid("tile", format!("JPEG encode: {e}")))?;
            Ok(Bytes::from(jpeg))
        })
        .await?;
        self.cache.insert((level, col, row), bytes.clone());
        Ok(bytes)
    }
}
