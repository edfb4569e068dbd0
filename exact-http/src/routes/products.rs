//! `administration/products/`: labelling schemas of the requester's teams.

use super::{Body, Id, Req, json, with};
use crate::AppState;
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::ProductId;
use exact_core::model::{AnnotationType, Product};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/administration/products/", get(index).post(create))
        .route(
            "/api/v1/administration/products/{id}/",
            get(show)
                .patch(update)
                .put(update)
                .delete(super::parity_sets::delete_product),
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

/// A product with its annotation types, as the requester sees them.
fn rendered(r: &Req, p: &Product) -> ApiResult<Value> {
    Ok(render(p, &r.exact.annotation_types().list(&r.actor)?))
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["annotationtype"], |r| {
        let types = r.exact.annotation_types().list(&r.actor)?;
        let annotationtype = r.q.u64("annotationtype")?;
        Ok(r.exact
            .products()
            .list(&r.actor)?
            .iter()
            .filter(|p| {
                annotationtype
                    .is_none_or(|t| types.iter().any(|x| x.id.0 == t && x.product == Some(p.id)))
            })
            .map(|p| render(p, &types))
            .collect())
    })
    .await
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| rendered(r, &r.exact.products().get(&r.actor, ProductId(id))?))
        .await
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = exact_core::wire::new_product(&body.object()?)?;
    r.created(move |r| Ok(render(&r.exact.products().create(&r.actor, new)?, &[])))
        .await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let patch = exact_core::wire::product_patch(&body.object()?)?;
    r.one(move |r| {
        let p = r.exact.products().update(&r.actor, ProductId(id), patch)?;
        rendered(r, &p)
    })
    .await
}
