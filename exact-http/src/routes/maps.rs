//! Annotation maps at EXACT's paths: `/images/imageset/<id>/annotation_map/create/` (201,
//! `{"Names": {"<product>_<type>.tiff": count}}`) and `…/annotation_map/sync/` (201,
//! `{"Updates": {"<id>": "Id: … Original Type: … New Type: …"}}`). EXACT answers both on GET;
//! POST is accepted too. `?annotation_type=<id>` maps one type only (ours; EXACT maps all).

use super::{Authed, Id};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use exact_core::{AnnotationTypeId, ImageSetId};
use serde_json::{Map, Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/images/imageset/{id}/annotation_map/create/",
            get(create).post(create),
        )
        .route(
            "/images/imageset/{id}/annotation_map/sync/",
            get(sync).post(sync),
        )
}

/// `annotation_type` from the query string, if given.
fn only_type(raw: Option<&str>) -> Result<Option<AnnotationTypeId>, ApiError> {
    let mut only = None;
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k == "annotation_type" {
            let id = v.trim().parse::<u64>().map_err(|_| {
                ApiError::bad(
                    "annotation_type",
                    format!("{v:?} is not an annotation type id"),
                )
            })?;
            only = Some(AnnotationTypeId(id));
        }
    }
    Ok(only)
}

async fn create(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    RawQuery(raw): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let only = only_type(raw.as_deref())?;
    let made = s
        .exact
        .annotation_maps()
        .create(&actor, ImageSetId(id), only)
        .await?;
    let mut names = Map::new();
    let mut images = Map::new();
    for m in &made {
        names.insert(m.image.name.clone(), json!(m.annotations));
        images.insert(m.image.name.clone(), json!(m.image.id.0));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"Names": names, "Images": images})),
    ))
}

async fn sync(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let updates = s
        .exact
        .annotation_maps()
        .sync(&actor, ImageSetId(id))
        .await?;
    let updates: Map<String, Value> = updates
        .into_iter()
        .map(|(id, text)| (id.0.to_string(), Value::String(text)))
        .collect();
    Ok((StatusCode::CREATED, Json(json!({"Updates": updates}))))
}
