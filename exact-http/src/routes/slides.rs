//! An image's pixels with OpenSlide's semantics, for clients that open a slide by image id over
//! HTTP (`exact_wsi.connect(...).slide(image)`): the pyramid and properties
//! (`slide/`), a region anywhere (`slide/region/`, transparent outside the level as
//! OpenSlide's `read_region`, not clipped as EXACT's `get_patch/`), a thumbnail of any size up
//! to [`MAX_SIDE`] (`slide/thumbnail/`), the associated images (`slide/associated/<name>/`)
//! and a native tile of a slide level as stored (`slide/native/<level>/<col>/<row>/`, the bytes
//! of `read_native_tile`: a JPEG level's tile with its tables spliced in, never decoded).
//! Every read goes through the library's pixel use case with the requester's rights: another
//! team's image is a 404, one being converted a 202, one whose conversion failed a 422.

use super::{Authed, Id, blocking};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use exact_core::ImageId;
use exact_tiles::Slide;
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest region or thumbnail side served in one request (the client tiles bigger reads).
pub(crate) const MAX_SIDE: u32 = 2048;

/// Furthest a region's corner may lie from the origin (level-0 pixels), either way.
const MAX_COORD: i64 = 1 << 40;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/images/{id}/slide/", get(info))
        .route("/api/v1/images/images/{id}/slide/region/", get(region))
        .route(
            "/api/v1/images/images/{id}/slide/thumbnail/",
            get(thumbnail),
        )
        .route(
            "/api/v1/images/images/{id}/slide/associated/{name}/",
            get(associated),
        )
        .route(
            "/api/v1/images/images/{id}/slide/native/{level}/{col}/{row}/",
            get(native),
        )
}

/// The slide of an image the requester may read, through the library's pixel use case.
async fn slide_of(
    s: &AppState,
    actor: exact_core::permissions::Actor,
    id: u64,
) -> ApiResult<Arc<Slide>> {
    let exact = s.exact.clone();
    let image = blocking(move || Ok(exact.images().get(&actor, ImageId(id))?)).await?;
    s.pixels.slide(&image).await
}

async fn png(slide: &Slide, img: exact_tiles::Result<exact_tiles::Image>) -> ApiResult<Response> {
    let img = img.map_err(|e| crate::pixels::slide_error(slide.name(), e))?;
    let png = super::tiles::encode_png(img).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        png,
    )
        .into_response())
}

/// `slide/`: what `openslide.OpenSlide` answers without reading pixels.
async fn info(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let slide = slide_of(&s, actor, id).await?;
    Ok(Json(json!({
        "id": id,
        "dimensions": slide.dimensions(),
        "level_count": slide.level_count(),
        "level_dimensions": slide.level_dimensions(),
        "level_downsamples": slide.level_downsamples(),
        "properties": slide.properties(),
        "associated_images": slide.associated_image_names(),
    })))
}

/// A side length in `1..=MAX_SIDE`.
fn side(q: &ListQuery, name: &str) -> ApiResult<u32> {
    let v = q
        .u64(name)?
        .ok_or_else(|| ApiError::bad(name, "This parameter is required."))?;
    match u32::try_from(v) {
        Ok(v) if (1..=MAX_SIDE).contains(&v) => Ok(v),
        _ => Err(ApiError::bad(
            name,
            format!("{v}: sides are 1 to {MAX_SIDE} pixels (read bigger regions in parts)"),
        )),
    }
}

/// A level-0 coordinate (negative allowed, as OpenSlide's).
fn coord(q: &ListQuery, name: &str) -> ApiResult<i64> {
    let raw = q
        .get(name)
        .ok_or_else(|| ApiError::bad(name, "This parameter is required."))?;
    match raw.trim().parse::<i64>() {
        Ok(v) if v.abs() <= MAX_COORD => Ok(v),
        _ => Err(ApiError::bad(
            name,
            format!("{raw:?} is not an integer pixel coordinate within ±2^40"),
        )),
    }
}

/// `slide/region/?x&y&level&width&height`: RGBA PNG of `width` × `height` pixels of `level`
/// whose top-left corner is (`x`, `y`) in level-0 pixels; outside the level it is transparent.
async fn region(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Response> {
    let (x, y) = (coord(&q, "x")?, coord(&q, "y")?);
    let (w, h) = (side(&q, "width")?, side(&q, "height")?);
    let level = q.u64("level")?.unwrap_or(0);
    let slide = slide_of(&s, actor, id).await?;
    let count = slide.level_count();
    let level = usize::try_from(level)
        .ok()
        .filter(|l| *l < count)
        .ok_or_else(|| {
            ApiError::bad(
                "level",
                format!(
                    "{level}: the image has levels 0..{}",
                    count.saturating_sub(1)
                ),
            )
        })?;
    let img = slide.read_region(x, y, level, w, h).await;
    png(&slide, img).await
}

/// `slide/thumbnail/?width&height`: an RGB PNG fitting in `width` × `height`, as
/// openslide-python's `get_thumbnail` makes it.
async fn thumbnail(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Response> {
    let (w, h) = (side(&q, "width")?, side(&q, "height")?);
    let slide = slide_of(&s, actor, id).await?;
    let img = slide.thumbnail(w, h).await;
    png(&slide, img).await
}

/// `slide/associated/<name>/`: an associated image (label, macro …) as PNG.
async fn associated(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id: u64 = id.parse().map_err(|_| {
        ApiError::Core(exact_core::Error::not_found(format!(
            "no object with id {id:?}"
        )))
    })?;
    let slide = slide_of(&s, actor, id).await?;
    if !slide.associated_image_names().contains(&name.as_str()) {
        return Err(ApiError::Core(exact_core::Error::not_found(format!(
            "associated image {name:?} of image {id} (it has {:?})",
            slide.associated_image_names()
        ))));
    }
    let img = slide.associated_image(&name).await;
    png(&slide, img).await
}

/// `slide/native/<level>/<col>/<row>/`: a native tile of slide level `level` as stored (JPEG
/// tables spliced in front), without decoding; a level that is not JPEG-tiled is a 422.
async fn native(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path((id, level, col, row)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let id: u64 = id.parse().map_err(|_| {
        ApiError::Core(exact_core::Error::not_found(format!(
            "no object with id {id:?}"
        )))
    })?;
    let num = |name: &str, raw: &str| {
        raw.parse::<u32>()
            .map_err(|_| ApiError::bad(name, format!("{raw:?} is not a non-negative integer")))
    };
    let (level, col, row) = (num("level", &level)?, num("col", &col)?, num("row", &row)?);
    let slide = slide_of(&s, actor, id).await?;
    let count = slide.level_count();
    let level = usize::try_from(level)
        .ok()
        .filter(|l| *l < count)
        .ok_or_else(|| {
            ApiError::bad(
                "level",
                format!(
                    "{level}: the image has levels 0..{}",
                    count.saturating_sub(1)
                ),
            )
        })?;
    let t = slide
        .native_tile(level, col, row)
        .await
        .map_err(|e| crate::pixels::slide_error(slide.name(), e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        axum::body::Body::new(super::tiles::Chunks::new([t.prefix, t.body])),
    )
        .into_response())
}
