//! `annotations/verifications/`: one verdict per user and annotation; POST gives (or changes)
//! the requester's verdict.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::AnnotationQuery;
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
            get(show).patch(update).put(update),
        )
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["image"], |r| {
        let annotations: Vec<AnnotationId> = match r.q.u64("annotation")? {
            Some(a) => vec![AnnotationId(a)],
            None => {
                let all = AnnotationQuery {
                    deleted: None,
                    ..Default::default()
                };
                let images: Vec<ImageId> = match r.q.u64("image")? {
                    Some(i) => vec![ImageId(i)],
                    None => r
                        .exact
                        .images()
                        .list(&r.actor)?
                        .iter()
                        .map(|i| i.id)
                        .collect(),
                };
                let mut ids = Vec::new();
                for image in images {
                    ids.extend(
                        r.exact
                            .annotations()
                            .query(&r.actor, image, &all)?
                            .iter()
                            .map(|a| a.id),
                    );
                }
                ids
            }
        };
        let mut items = Vec::new();
        for a in annotations {
            items.extend(
                r.exact
                    .verifications()
                    .of_annotation(&r.actor, a)?
                    .iter()
                    .map(json),
            );
        }
        Ok(items)
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
