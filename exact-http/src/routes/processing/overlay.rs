//! Result bitmaps as Deep Zoom overlays aligned with their slide:
//! `pluginresultbitmaps/{id}/overlay.dzi` (the slide's level-0 size, 256-pixel PNG tiles,
//! overlap 0) and `…/overlay_files/{level}/{col}_{row}.png`, rendered by
//! [`exact_tiles::overlay`] from the stored file with its placement (transformation matrix,
//! else location rectangle, else the whole slide), channels, scale, threshold and alpha.
//! Read rights are the slide's: whoever may read the bitmap's image. Decoded bitmaps are
//! kept in a small cache keyed by their file.

use super::*;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use exact_tiles::overlay::{Overlay, OverlayStyle, Placement};
use std::sync::{Arc, Mutex, OnceLock};

/// Side of an overlay tile.
const TILE: u32 = 256;
/// Decoded bitmaps kept (each at most `MAX_OVERLAY_PIXELS` × 3 bytes).
const CACHED: usize = 4;

/// Decoded bitmaps by blob key, least recently decoded first.
type Decoded = Mutex<Vec<(String, Arc<Overlay>)>>;

fn cache() -> &'static Decoded {
    static CACHE: OnceLock<Decoded> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The bitmap the requester may read, with its slide's level-0 size.
async fn bitmap_and_size(r: &Req, id: u64) -> ApiResult<(PluginResultBitmap, (u64, u64))> {
    let (e, a) = (r.exact.clone(), r.actor.clone());
    crate::blocking(move || {
        let b = e
            .catalog()
            .processing()
            .bitmap(&a, PluginResultBitmapId(id))?;
        let image = e.catalog().images().get(&a, b.image)?;
        Ok((b, (image.width.max(1), image.height.max(1))))
    })
    .await
}

/// Deep Zoom's top level for a `w` × `h` image: ⌈log2(max(w, h))⌉.
fn top_level(w: u64, h: u64) -> u32 {
    let m = w.max(h).max(1);
    64 - (m - 1).leading_zeros()
}

fn bad_bitmap(e: exact_tiles::Error) -> ApiError {
    ApiError::bad("bitmap", e.to_string())
}

async fn decoded(r: &Req, b: &PluginResultBitmap) -> ApiResult<Arc<Overlay>> {
    if let Some((_, o)) = cache()
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| *k == b.bitmap).cloned())
    {
        return Ok(o);
    }
    let bytes = r.exact.blobs().get(&b.bitmap).await?;
    let name = format!("plugin result bitmap {}", b.id.0);
    let o = crate::blocking(move || Overlay::decode(&name, bytes).map_err(bad_bitmap)).await?;
    let o = Arc::new(o);
    if let Ok(mut c) = cache().lock() {
        c.retain(|(k, _)| *k != b.bitmap);
        if c.len() >= CACHED {
            c.remove(0);
        }
        c.push((b.bitmap.clone(), o.clone()));
    }
    Ok(o)
}

fn number(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64))
}

/// Where the bitmap lies: its 3 × 3 (or flat 6/9) bitmap → slide matrix, else its
/// `location_rect` (`x, y, w|width, h|height`), else stretched over the whole slide.
fn placement(b: &PluginResultBitmap, o: &Overlay, (w, h): (u64, u64)) -> ApiResult<Placement> {
    let flat: Vec<f64> = match &b.transformation_matrix {
        Value::Array(rows) => rows
            .iter()
            .flat_map(|r| match r {
                Value::Array(c) => c.iter().filter_map(Value::as_f64).collect::<Vec<_>>(),
                v => v.as_f64().into_iter().collect(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if flat.len() == 6 || flat.len() == 9 {
        let mut m = [0.0; 6];
        m.copy_from_slice(&flat[..6]);
        return Ok(Placement { m });
    }
    if !flat.is_empty() {
        return Err(ApiError::bad(
            "transformation_matrix",
            "expected a 3 × 3 (or 2 × 3) matrix",
        ));
    }
    let r = &b.location_rect;
    if let (Some(x), Some(y), Some(rw), Some(rh)) = (
        number(r, &["x"]),
        number(r, &["y"]),
        number(r, &["w", "width"]),
        number(r, &["h", "height"]),
    ) {
        return Ok(Placement::rect((o.width, o.height), x, y, rw, rh));
    }
    Ok(Placement::rect(
        (o.width, o.height),
        0.0,
        0.0,
        w as f64,
        h as f64,
    ))
}

/// `GET pluginresultbitmaps/{id}/overlay.dzi`.
pub(super) async fn overlay_dzi(r: Req, Id(id): Id) -> ApiResult<Response> {
    let (_, (w, h)) = bitmap_and_size(&r, id).await?;
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" \
         Format=\"png\" Overlap=\"0\" TileSize=\"{TILE}\"><Size Width=\"{w}\" Height=\"{h}\"/></Image>"
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        xml,
    )
        .into_response())
}

/// `GET pluginresultbitmaps/{id}/overlay_files/{level}/{col}_{row}.png`.
pub(super) async fn overlay_tile(
    r: Req,
    Path((id, level, tile)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let bad = || {
        ApiError::bad(
            "tile",
            format!("{level}/{tile} is not <level>/<col>_<row>.png"),
        )
    };
    let id: u64 = id.parse().map_err(|_| {
        ApiError::Core(exact_core::Error::not_found(format!(
            "no object with id {id:?}"
        )))
    })?;
    let lvl: u32 = level.parse().map_err(|_| bad())?;
    let (col, row) = tile
        .strip_suffix(".png")
        .and_then(|s| s.split_once('_'))
        .ok_or_else(bad)?;
    let (col, row): (u64, u64) = (
        col.parse().map_err(|_| bad())?,
        row.parse().map_err(|_| bad())?,
    );
    let (b, (w, h)) = bitmap_and_size(&r, id).await?;
    let top = top_level(w, h);
    let missing = || {
        ApiError::Core(exact_core::Error::not_found(format!(
            "overlay tile {lvl}/{col}_{row} of plugin result bitmap {id}"
        )))
    };
    if lvl > top {
        return Err(missing());
    }
    let shift = top - lvl;
    let (lw, lh) = (w.div_ceil(1 << shift), h.div_ceil(1 << shift));
    let (x, y) = (col * u64::from(TILE), row * u64::from(TILE));
    if x >= lw || y >= lh {
        return Err(missing());
    }
    let size = (
        (lw - x).min(TILE.into()) as u32,
        (lh - y).min(TILE.into()) as u32,
    );
    let o = decoded(&r, &b).await?;
    let place = placement(&b, &o, (w, h))?;
    let style = OverlayStyle {
        channels: b.channels,
        scale_min: b.scale_min,
        scale_max: b.scale_max,
        threshold: b.default_threshold,
        alpha: b.default_alpha,
    };
    let scale = (1u64 << shift) as f64;
    let png = crate::blocking(move || {
        let img = exact_tiles::overlay::render(
            &o,
            &place,
            &style,
            (x as f64 * scale, y as f64 * scale),
            scale,
            size,
        )
        .map_err(bad_bitmap)?;
        img.encode_png()
            .map_err(|e| ApiError::bad("bitmap", e.to_string()))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    )
        .into_response())
}
