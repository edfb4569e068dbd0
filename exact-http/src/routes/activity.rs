//! `annotations/log_image_actions/` (the image open/close log) and `images/screening_modes/`
//! (a user's progress through an image's tile grid; PATCH `current_index` marks that tile
//! screened).

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use exact_core::model::LogAction;
use exact_core::{ImageId, ScreeningModeId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/log_image_actions/",
            get(logs).post(log),
        )
        .route(
            "/api/v1/images/screening_modes/",
            post(open).get(super::parity_sets::screening_modes),
        )
        .route(
            "/api/v1/images/screening_modes/{id}/",
            patch(advance)
                .put(advance)
                .get(super::parity_sets::screening_mode)
                .delete(super::parity_sets::delete_screening_mode),
        )
}

async fn logs(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["image"], |r| {
        let image = r.q.u64("image")?.map(ImageId);
        Ok(r.exact
            .log_image_actions()
            .list(&r.actor, image)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn log(r: Req, headers: HeaderMap, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image")?);
    let action = b
        .parse::<LogAction>("action")?
        .ok_or_else(|| ApiError::bad("action", "This field is required."))?;
    // The client's address as a proxy reports it; the body's `ip` is not trusted.
    let ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    r.created(move |r| {
        Ok(json(
            &r.exact
                .log_image_actions()
                .log(&r.actor, image, action, &ip)?,
        ))
    })
    .await
}

async fn open(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image")?);
    let x = b.u32("x_resolution")?.unwrap_or(1024);
    let y = b.u32("y_resolution")?.unwrap_or(1024);
    r.created(move |r| {
        Ok(json(
            &r.exact.screening_modes().open(&r.actor, image, x, y)?,
        ))
    })
    .await
}

async fn advance(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let index = b
        .u32("current_index")?
        .ok_or_else(|| ApiError::bad("current_index", "This field is required."))?;
    let tiles = b.raw("screening_tiles").cloned();
    r.one(move |r| {
        Ok(json(&r.exact.screening_modes().advance(
            &r.actor,
            ScreeningModeId(id),
            index,
            tiles,
        )?))
    })
    .await
}
