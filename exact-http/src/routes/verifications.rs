//! `annotations/verifications/`: one verdict per user and annotation; POST gives (or changes)
//! the requester's verdict.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::{AnnotationId, ImageId, VerificationId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/verifications/",
            get(index).post(create),
        )
        .route(
            "/api/v1/annotations/verifications/{id}/",
            get(show)
                .patch(update)
                .put(update)
                .delete(super::parity_sets::delete_verification),
        )
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["image", "annotation"], |r| {
        let annotation = r.q.u64("annotation")?.map(AnnotationId);
        let image = r.q.u64("image")?.map(ImageId);
        Ok(r.exact
            .verifications()
            .list(&r.actor, annotation, image)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(json(
            &r.exact.verifications().get(&r.actor, VerificationId(id))?,
        ))
    })
    .await
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let annotation = AnnotationId(b.req_u64("annotation")?);
    let verified = b
        .bool("verified")?
        .ok_or_else(|| ApiError::bad("verified", "This field is required."))?;
    if b.u64("user")?.is_some_and(|u| u != r.actor.user.0) {
        return Err(ApiError::bad(
            "user",
            "a verification is always the requester's own",
        ));
    }
    r.created(move |r| {
        Ok(json(
            &r.exact
                .verifications()
                .verify(&r.actor, annotation, verified)?,
        ))
    })
    .await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let verified = body.object()?.bool("verified")?;
    r.one(move |r| {
        let old = r.exact.verifications().get(&r.actor, VerificationId(id))?;
        if old.user != r.actor.user {
            return Err(ApiError::Core(exact_core::Error::denied(
                "only the verifier changes a verification",
            )));
        }
        let verified = verified.unwrap_or(old.verified);
        Ok(json(&r.exact.verifications().verify(
            &r.actor,
            old.annotation,
            verified,
        )?))
    })
    .await
}
