//! `annotations/verifications/`: one verdict per user and annotation; POST gives (or changes)
//! the requester's verdict.

use super::{Authed, Body, Id, blocking, json, list, one};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::extract::State;
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

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let annotations: Vec<AnnotationId> = match q.u64("annotation")? {
            Some(a) => vec![AnnotationId(a)],
            None => {
                let all = AnnotationQuery {
                    deleted: None,
                    ..Default::default()
                };
                let mut ids = Vec::new();
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
                for image in images {
                    ids.extend(
                        s.exact
                            .annotations()
                            .query(&actor, image, &all)?
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
                s.exact
                    .verifications()
                    .of_annotation(&actor, a)?
                    .iter()
                    .map(json),
            );
        }
        list(&s.exact, &actor, &q, items, &["image"]).map(Json)
    })
    .await
}

async fn show(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let v = s.exact.verifications().get(&actor, VerificationId(id))?;
        Ok(Json(one(&s.exact, &actor, &q, json(&v))))
    })
    .await
}

async fn create(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let annotation = AnnotationId(b.req_u64("annotation")?);
    let verified = b
        .bool("verified")?
        .ok_or_else(|| ApiError::bad("verified", "This field is required."))?;
    if b.u64("user")?.is_some_and(|u| u != actor.user.0) {
        return Err(ApiError::bad(
            "user",
            "a verification is always the requester's own",
        ));
    }
    blocking(move || {
        let v = s
            .exact
            .verifications()
            .verify(&actor, annotation, verified)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&v))),
        ))
    })
    .await
}

async fn update(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    blocking(move || {
        let old = s.exact.verifications().get(&actor, VerificationId(id))?;
        if old.user != actor.user {
            return Err(ApiError::Core(exact_core::Error::denied(
                "only the verifier changes a verification",
            )));
        }
        let verified = b.bool("verified")?.unwrap_or(old.verified);
        let v = s
            .exact
            .verifications()
            .verify(&actor, old.annotation, verified)?;
        Ok(Json(one(&s.exact, &actor, &q, json(&v))))
    })
    .await
}
