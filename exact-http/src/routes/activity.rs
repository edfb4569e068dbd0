//! `annotations/log_image_actions/` (the image open/close log) and `images/screening_modes/`
//! (a user's progress through an image's tile grid; PATCH `current_index` marks that tile
//! screened).

use super::{Authed, Body, Id, blocking, json, list, one};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::extract::State;
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
        .route("/api/v1/images/screening_modes/", post(open))
        .route(
            "/api/v1/images/screening_modes/{id}/",
            patch(advance).put(advance),
        )
}

async fn logs(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let images: Vec<ImageId> = match q.u64("image")? {
            Some(i) => vec![ImageId(i)],
            None => s
                .exact
                .images()
                .list(&actor)?
                .iter()
                .map(|i| i.id)
                .collect(),
        };
        let mut items = Vec::new();
        for image in images {
            items.extend(
                s.exact
                    .log_image_actions()
                    .of_image(&actor, image)?
                    .iter()
                    .map(json),
            );
        }
        list(&s.exact, &actor, &q, items, &[]).map(Json)
    })
    .await
}

async fn log(
    State(s): State<AppState>,
    Authed(actor): Authed,
    headers: HeaderMap,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    blocking(move || {
        let l = s
            .exact
            .log_image_actions()
            .log(&actor, image, action, &ip)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&l))),
        ))
    })
    .await
}

async fn open(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image")?);
    let x = b.u32("x_resolution")?.unwrap_or(1024);
    let y = b.u32("y_resolution")?.unwrap_or(1024);
    blocking(move || {
        let m = s.exact.screening_modes().open(&actor, image, x, y)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&m))),
        ))
    })
    .await
}

async fn advance(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let index = b
        .u32("current_index")?
        .ok_or_else(|| ApiError::bad("current_index", "This field is required."))?;
    let tiles = b.raw("screening_tiles").cloned();
    blocking(move || {
        let m = s
            .exact
            .screening_modes()
            .advance(&actor, ScreeningModeId(id), index, tiles)?;
        Ok(Json(one(&s.exact, &actor, &q, json(&m))))
    })
    .await
}
