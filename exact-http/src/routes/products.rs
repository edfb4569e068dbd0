//! `administration/products/`: labelling schemas of the requester's teams.

use super::{Authed, Body, Id, blocking, json, list, one, with};
use crate::AppState;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{NewProduct, ProductPatch};
use exact_core::model::{AnnotationType, Product};
use exact_core::{ImageSetId, ProductId, TeamId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/administration/products/", get(index).post(create))
        .route(
            "/api/v1/administration/products/{id}/",
            get(show).patch(update).put(update),
        )
}

fn render(p: &Product, types: &[AnnotationType]) -> Value {
    let ids: Vec<u64> = types
        .iter()
        .filter(|t| t.product == Some(p.id))
        .map(|t| t.id.0)
        .collect();
    with(json(p), "annotationtype_set", json(&ids))
}

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let types = s.exact.annotation_types().list(&actor)?;
        let annotationtype = q.u64("annotationtype")?;
        let items = s
            .exact
            .products()
            .list(&actor)?
            .iter()
            .map(|p| render(p, &types))
            .filter(|v| {
                annotationtype.is_none_or(|t| {
                    v["annotationtype_set"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x.as_u64() == Some(t)))
                })
            })
            .collect();
        list(&s.exact, &actor, &q, items, &["annotationtype"]).map(Json)
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
        let p = s.exact.products().get(&actor, ProductId(id))?;
        let types = s.exact.annotation_types().list(&actor)?;
        Ok(Json(one(&s.exact, &actor, &q, render(&p, &types))))
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
    let new = NewProduct {
        name: b.req_str("name")?,
        description: b.str("description")?.unwrap_or_default(),
        team: b.u64("team")?.map(TeamId),
        imagesets: b
            .ids("imagesets")?
            .unwrap_or_default()
            .into_iter()
            .map(ImageSetId)
            .collect(),
    };
    blocking(move || {
        let p = s.exact.products().create(&actor, new)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, render(&p, &[]))),
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
    let patch = ProductPatch {
        name: b.str("name")?,
        description: b.str("description")?,
        imagesets: b
            .ids("imagesets")?
            .map(|v| v.into_iter().map(ImageSetId).collect()),
    };
    blocking(move || {
        let p = s.exact.products().update(&actor, ProductId(id), patch)?;
        let types = s.exact.annotation_types().list(&actor)?;
        Ok(Json(one(&s.exact, &actor, &q, render(&p, &types))))
    })
    .await
}
