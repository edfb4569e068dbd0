//! `annotations/annotation_types/`: types of the requester's teams' products. EXACT-Sync sends
//! model defaults (`node_count: 1`, integers as booleans); they are accepted.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::body::Obj;
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::AnnotationTypeId;
use exact_core::catalog::AnnotationTypePatch;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/annotation_types/",
            get(index).post(create),
        )
        .route(
            "/api/v1/annotations/annotation_types/{id}/",
            get(show)
                .patch(update)
                .put(update)
                .delete(super::parity_sets::delete_annotation_type),
        )
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .annotation_types()
            .list(&r.actor)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(json(
            &r.exact
                .annotation_types()
                .get(&r.actor, AnnotationTypeId(id))?,
        ))
    })
    .await
}

fn patch_of(b: &Obj) -> ApiResult<AnnotationTypePatch> {
    Ok(exact_core::wire::annotation_type_patch(b)?)
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = exact_core::wire::new_annotation_type(&body.object()?)?;
    r.created(move |r| Ok(json(&r.exact.annotation_types().create(&r.actor, new)?)))
        .await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let patch = patch_of(&body.object()?)?;
    r.one(move |r| {
        Ok(json(&r.exact.annotation_types().update(
            &r.actor,
            AnnotationTypeId(id),
            patch,
        )?))
    })
    .await
}
