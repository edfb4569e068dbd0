//! Slides read by OpenSlide itself (the `openslide` feature): formats the pure-Rust reader
//! does not handle (MRXS, NDPI, VMS, SCN, BIF, Philips …), local files only. Levels and
//! properties come from OpenSlide; regions and associated images are OpenSlide's pixels
//! (premultiplied ARGB turned into straight RGBA); there are no passthrough tiles.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use openslide_rs::{Address, OpenSlide, Region, Size};

use super::{Level, Slide};
use crate::cache::ByteCache;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::source::Source;
use crate::tiff::Directory;

fn err(name: &str, e: openslide_rs::errors::OpenSlideError) -> Error {
    Error::unsupported(format!("{name}: OpenSlide: {e}"))
}

impl Slide {
    /// Open a local file with OpenSlide.
    pub async fn open_with_openslide(path: &Path) -> Result<Slide> {
        let source = Source::from_file(path)?;
        let name = source.name().to_string();
        let p = path.to_path_buf();
        let osr = crate::cpu::run(move || OpenSlide::new(&p))
            .await
            .map_err(|e| err(&name, e))?;
        let mut properties = BTreeMap::new();
        for k in osr.property_names().map_err(|e| err(&name, e))? {
            if let Ok(v) = osr.property_value(&k) {
                properties.insert(k, v);
            }
        }
        let dims = osr.all_level_dimensions().to_vec();
        let downs = osr.all_level_downsamples().to_vec();
        let num = |k: String| properties.get(&k).and_then(|v| v.parse::<u32>().ok());
        let levels = dims
            .iter()
            .zip(downs)
            .enumerate()
            .map(|(i, (s, d))| {
                let tw = num(format!("openslide.level[{i}].tile-width"))
                    .unwrap_or(256)
                    .max(1);
                let th = num(format!("openslide.level[{i}].tile-height"))
                    .unwrap_or(256)
                    .max(1);
                Level {
                    width: u64::from(s.w),
                    height: u64::from(s.h),
                    downsample: d,
                    tile_width: tw,
                    tile_height: th,
                    tiles_across: s.w.div_ceil(tw),
                    tiles_down: s.h.div_ceil(th),
                    compression: 0,
                    dir: Arc::new(Directory::default()),
                    codec: Err("tiles are read through OpenSlide".to_string()),
                    passthrough_prefix: None,
                    channel_dirs: Vec::new(),
                }
            })
            .collect::<Vec<_>>();
        if levels.is_empty() {
            return Err(Error::corrupt(&name, "OpenSlide reports no levels"));
        }
        let vendor = properties
            .get("openslide.vendor")
            .cloned()
            .unwrap_or_else(|| "openslide".into());
        let associated = osr
            .associated_image_names()
            .unwrap_or_default()
            .into_iter()
            .map(|n| {
                (
                    n,
                    super::Associated {
                        dir: Arc::new(Directory::default()),
                    },
                )
            })
            .collect();
        Ok(Slide {
            source,
            vendor,
            levels,
            properties,
            associated,
            tiles: ByteCache::new(0),
            budget: None,
            osr: Some(Arc::new(osr)),
            runtime: None,
            planes: None,
            display: None,
            series: Vec::new(),
            series_name: None,
        })
    }
}

fn argb_to_rgba(buf: &[u8], w: u32, h: u32) -> Image {
    let mut out = Image::new(w, h, 4);
    for (d, s) in out.data.chunks_exact_mut(4).zip(buf.chunks_exact(4)) {
        let v = u32::from_ne_bytes([s[0], s[1], s[2], s[3]]);
        let a = (v >> 24) & 0xFF;
        if a == 0 {
            continue;
        }
        for (i, shift) in [16, 8, 0].into_iter().enumerate() {
            let c = (v >> shift) & 0xFF;
            d[i] = ((c * 255 + a / 2) / a).min(255) as u8;
        }
        d[3] = a as u8;
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn read_region(
    osr: Arc<OpenSlide>,
    x: i64,
    y: i64,
    level: usize,
    w: u32,
    h: u32,
    ds: f64,
    name: &str,
) -> Result<Image> {
    // OpenSlide shifts the output for negative corners; its Rust binding takes unsigned ones.
    let shift = |v: i64| if v < 0 { ((-v) as f64 / ds) as i64 } else { 0 };
    let (dx, dy) = (shift(x), shift(y));
    let mut out = Image::new(w, h, 4);
    if dx >= i64::from(w) || dy >= i64::from(h) {
        return Ok(out);
    }
    let (iw, ih) = (w - dx as u32, h - dy as u32);
    let (ux, uy) = (x.max(0), y.max(0));
    let (Ok(ux), Ok(uy)) = (u32::try_from(ux), u32::try_from(uy)) else {
        return Ok(out);
    };
    let name = name.to_string();
    let region = Region {
        address: Address { x: ux, y: uy },
        level: level as u32,
        size: Size { w: iw, h: ih },
    };
    let buf = crate::cpu::run(move || osr.read_region(&region))
        .await
        .map_err(|e| err(&name, e))?;
    let inner = argb_to_rgba(&buf, iw, ih);
    super::region::blit(&inner, &mut out, dx, dy);
    Ok(out)
}

pub(super) async fn associated(osr: Arc<OpenSlide>, which: &str, name: &str) -> Result<Image> {
    let which = which.to_string();
    let n = name.to_string();
    let (size, buf) = crate::cpu::run(move || osr.read_associated_buffer(&which))
        .await
        .map_err(|e| Error::not_found(format!("{n}: {e}")))?;
    Ok(argb_to_rgba(&buf, size.w, size.h).to_rgb([255, 255, 255]))
}
