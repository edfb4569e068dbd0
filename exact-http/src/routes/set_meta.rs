//! `images/set_tags/` and `images/set_versions/`: tags and snapshots of the requester's sets.
//! A tag or version is visible through its sets; only the visible sets are listed.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::{ImageSetId, SetVersionId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/set_tags/", get(tags).post(tag))
        .route(
            "/api/v1/images/set_tags/{id}/",
            get(one_tag)
                .delete(super::parity_sets::delete_set_tag)
                .patch(super::parity_sets::rename_set_tag),
        )
        .route("/api/v1/images/set_versions/", get(versions).post(snapshot))
        .route("/api/v1/images/set_versions/{id}/", get(one_version))
}

async fn tags(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .set_tags()
            .list(&r.actor)?
            .iter()
            .filter(|t| !t.imagesets.is_empty())
            .map(json)
            .collect())
    })
    .await
}

async fn one_tag(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        r.exact
            .set_tags()
            .list(&r.actor)?
            .into_iter()
            .find(|t| t.id.0 == id && !t.imagesets.is_empty())
            .map(|t| json(&t))
            .ok_or_else(|| ApiError::Core(exact_core::Error::not_found(format!("set tag {id}"))))
    })
    .await
}

/// POST `{name, imagesets}`: tags each set (the tag is shared by name).
async fn tag(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let name = b.req_str("name")?;
    let sets = b.ids("imagesets")?.unwrap_or_default();
    if sets.is_empty() {
        return Err(ApiError::bad(
            "imagesets",
            "name at least one image set to tag",
        ));
    }
    r.created(move |r| {
        let mut last = None;
        for set in sets {
            last = Some(r.exact.set_tags().tag(&r.actor, ImageSetId(set), &name)?);
        }
        Ok(json(&last))
    })
    .await
}

async fn versions(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .versions()
            .list(&r.actor)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn one_version(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| Ok(json(&r.exact.versions().get(&r.actor, SetVersionId(id))?)))
        .await
}

/// POST `{name, imagesets}`: snapshots every annotation of the sets.
async fn snapshot(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let name = b.req_str("name")?;
    let sets: Vec<ImageSetId> = b
        .ids("imagesets")?
        .unwrap_or_default()
        .into_iter()
        .map(ImageSetId)
        .collect();
    r.created(move |r| Ok(json(&r.exact.versions().create(&r.actor, &name, &sets)?)))
        .await
}
