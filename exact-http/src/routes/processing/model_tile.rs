//! `GET processing/model_tile/`: a region of one image for a model that fetches its pixels
//! itself (plugins with `model_input: url`). The credential is the short-lived image read
//! token the job worker minted (`Authorization: Bearer …` or `?token=`): it reads that one
//! image, as the job's creator, and nothing else; no other credential is taken here.

use super::*;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Largest side of a region served.
const MAX_SIDE: u32 = 4096;

fn field(q: &HashMap<String, String>, key: &str, default: Option<u64>) -> ApiResult<u64> {
    match q.get(key) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::bad(key, format!("expected a whole number, got {v:?}"))),
        None => default.ok_or_else(|| ApiError::bad(key, "This field is required.")),
    }
}

pub(super) async fn model_tile(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let secret = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token"))
        .map(|(_, t)| t.trim().to_owned())
        .or_else(|| q.get("token").cloned())
        .ok_or_else(|| {
            ApiError::Unauthenticated("An image read token is required (Bearer or ?token=).".into())
        })?;
    let (x, y) = (field(&q, "x", None)?, field(&q, "y", None)?);
    let level = field(&q, "level", Some(0))?;
    let (w, h) = (field(&q, "w", None)?, field(&q, "h", None)?);
    if !(1..=u64::from(MAX_SIDE)).contains(&w) || !(1..=u64::from(MAX_SIDE)).contains(&h) {
        return Err(ApiError::bad(
            "w",
            format!("w and h must be 1 to {MAX_SIDE}"),
        ));
    }
    let jpeg = match q.get("format").map(String::as_str) {
        None | Some("png") => false,
        Some("jpeg" | "jpg") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "format",
                format!("{other:?} is not png or jpeg"),
            ));
        }
    };
    let exact = s.exact.clone();
    let (actor, image) = crate::blocking(move || {
        let (user, image) = exact
            .trusted_accounts()
            .image_token(&secret)?
            .ok_or_else(|| ApiError::Unauthenticated("Invalid or expired image token.".into()))?;
        Ok((exact.actor(user)?, image))
    })
    .await?;
    let (_, dz) = s.exact.pixels(&actor, image, None).await?;
    let slide = dz.slide().clone();
    let level = usize::try_from(level)
        .ok()
        .filter(|l| *l < slide.level_count())
        .ok_or_else(|| {
            ApiError::bad(
                "level",
                format!("{image} has {} levels", slide.level_count()),
            )
        })?;
    let (width, height) = slide.dimensions();
    if x >= width || y >= height {
        return Err(ApiError::bad("x", format!("({x}, {y}) is outside {image}")));
    }
    let (bytes, mime) = crate::models::region_for_model(
        &slide,
        (x as i64, y as i64),
        level,
        (w as u32, h as u32),
        jpeg,
    )
    .await
    .map_err(|e| match e {
        crate::models::RegionError::Read(_) => ApiError::bad("x", e.to_string()),
        crate::models::RegionError::Encode(_) => ApiError::bad("format", e.to_string()),
    })?;
    Ok((
        [
            (CONTENT_TYPE, mime.to_owned()),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
