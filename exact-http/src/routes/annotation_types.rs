//! `annotations/annotation_types/`: types of the requester's teams' products. EXACT-Sync sends
//! model defaults (`node_count: 1`, integers as booleans); they are accepted.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::body::Obj;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{AnnotationTypePatch, NewAnnotationType};
use exact_core::model::VectorType;
use exact_core::{AnnotationTypeId, ProductId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/annotation_types/",
            get(index).post(create),
        )
        .route(
            "/api/v1/annotations/annotation_types/{id}/",
            get(show).patch(update).put(update),
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
    Ok(AnnotationTypePatch {
        name: b.str("name")?,
        vector_type: b.parse::<VectorType>("vector_type")?,
        node_count: b.u32("node_count")?,
        enable_concealed: b.bool("enable_concealed")?,
        enable_blurred: b.bool("enable_blurred")?,
        color_code: b.str("color_code")?,
        default_width: b.u32("default_width")?,
        default_height: b.u32("default_height")?,
        sort_order: b.i32("sort_order")?,
        closed: b.bool("closed")?,
        area_hit_test: b.bool("area_hit_test")?,
        active: b.bool("active")?,
        multi_frame: b.bool("multi_frame")?,
    })
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let name = b.req_str("name")?;
    let vector_type = b
        .parse::<VectorType>("vector_type")?
        .unwrap_or(VectorType::BoundingBox);
    let product = ProductId(
        b.u64("product")?
            .ok_or_else(|| ApiError::bad("product", "This field is required."))?,
    );
    let p = patch_of(&b)?;
    let mut new = NewAnnotationType::new(name, vector_type, product);
    // Keep the library's defaults where the body says nothing.
    if let Some(v) = p.node_count {
        new.node_count = v;
    }
    if let Some(v) = p.enable_concealed {
        new.enable_concealed = v;
    }
    if let Some(v) = p.enable_blurred {
        new.enable_blurred = v;
    }
    if let Some(v) = p.color_code {
        new.color_code = v;
    }
    if let Some(v) = p.default_width {
        new.default_width = v;
    }
    if let Some(v) = p.default_height {
        new.default_height = v;
    }
    if let Some(v) = p.sort_order {
        new.sort_order = v;
    }
    if let Some(v) = p.closed {
        new.closed = v;
    }
    if let Some(v) = p.area_hit_test {
        new.area_hit_test = v;
    }
    if let Some(v) = p.multi_frame {
        new.multi_frame = v;
    }
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
