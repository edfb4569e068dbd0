//! `images/set_tags/` and `images/set_versions/`: tags and snapshots of the requester's sets.
//! A tag or version is visible through its sets; only the visible sets are listed.

use super::{Authed, Body, Id, blocking, json, list, one};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::{ImageSetId, SetVersionId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/set_tags/", get(tags).post(tag))
        .route("/api/v1/images/set_tags/{id}/", get(one_tag))
        .route("/api/v1/images/set_versions/", get(versions).post(snapshot))
        .route("/api/v1/images/set_versions/{id}/", get(one_version))
}

async fn tags(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let items = s
            .exact
            .set_tags()
            .list(&actor)?
            .iter()
            .filter(|t| !t.imagesets.is_empty())
            .map(json)
            .collect();
        list(&s.exact, &actor, &q, items, &[]).map(Json)
    })
    .await
}

async fn one_tag(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        s.exact
            .set_tags()
            .list(&actor)?
            .into_iter()
            .find(|t| t.id.0 == id && !t.imagesets.is_empty())
            .map(|t| Json(one(&s.exact, &actor, &q, json(&t))))
            .ok_or_else(|| ApiError::Core(exact_core::Error::not_found(format!("set tag {id}"))))
    })
    .await
}

/// POST `{name, imagesets}`: tags each set (the tag is shared by name).
async fn tag(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let name = b.req_str("name")?;
    let sets = b.ids("imagesets")?.unwrap_or_default();
    if sets.is_empty() {
        return Err(ApiError::bad(
            "imagesets",
            "name at least one image set to tag",
        ));
    }
    blocking(move || {
        let mut last = None;
        for set in sets {
            last = Some(s.exact.set_tags().tag(&actor, ImageSetId(set), &name)?);
        }
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&last))),
        ))
    })
    .await
}

async fn versions(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let items = s.exact.versions().list(&actor)?.iter().map(json).collect();
        list(&s.exact, &actor, &q, items, &[]).map(Json)
    })
    .await
}

async fn one_version(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let v = s.exact.versions().get(&actor, SetVersionId(id))?;
        Ok(Json(one(&s.exact, &actor, &q, json(&v))))
    })
    .await
}

/// POST `{name, imagesets}`: snapshots every annotation of the sets.
async fn snapshot(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let name = b.req_str("name")?;
    let sets: Vec<ImageSetId> = b
        .ids("imagesets")?
        .unwrap_or_default()
        .into_iter()
        .map(ImageSetId)
        .collect();
    blocking(move || {
        let v = s.exact.versions().create(&actor, &name, &sets)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&v))),
        ))
    })
    .await
}
