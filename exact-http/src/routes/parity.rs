//! EXACT's remaining legacy endpoints around images (issue 18): the viewer's statistics panel
//! (`images/api/image/statistics/`), whole-image verification (`images/api/image/verify/`),
//! copies of images between sets (`/api/v1/images/images/<id>/copy/`) and of annotations
//! between images (`annotations/api/annotation/copy/<annotation>/<image>`).
//! Same use cases and permission checks as everywhere; only EXACT's envelopes are added here.

use super::{Body, Req};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::{AnnotationId, ImageId, ImageSetId};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/api/image/statistics/", get(statistics))
        .route("/images/api/image/verify/", post(verify_image))
        .route("/api/v1/images/images/{id}/copy/", post(copy_image))
        .route(
            "/annotations/api/annotation/copy/{annotation}/{image}",
            post(copy_annotation),
        )
        .route(
            "/annotations/api/annotation/copy/{annotation}/{image}/",
            post(copy_annotation),
        )
}

/// A required id in the query string.
fn query_id(r: &Req, field: &'static str) -> ApiResult<u64> {
    r.q.u64(field)?
        .ok_or_else(|| ApiError::bad(field, "This field is required."))
}

/// `?image_id=` → `{"statistics": [{id, name, vector_type, color_code, sort_order, count,
/// in_image_count, verified_count, unverified_count, not_in_image_count}]}` (the viewer's
/// JavaScript reads `id`, `name`, `vector_type` and the counts).
async fn statistics(r: Req) -> ApiResult<Json<Value>> {
    let image = ImageId(query_id(&r, "image_id")?);
    crate::blocking(move || {
        let stats = r.exact.annotations().statistics(&r.actor, image)?;
        let rows: Vec<Value> = stats.iter().map(|s| s.to_json()).collect();
        Ok(Json(json!({ "statistics": rows })))
    })
    .await
}

/// POST `{image_id, state: accept|reject}`: the requester's verdict on every annotation of
/// the image, all or nothing.
async fn verify_image(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image_id")?);
    let state = match b.str("state")?.as_deref() {
        Some("accept") => true,
        Some("reject") => false,
        _ => return Err(ApiError::bad("state", "accept or reject")),
    };
    crate::blocking(move || {
        let n = r
            .exact
            .verifications()
            .verify_image(&r.actor, image, state)?;
        let word = if state { "verified" } else { "rejected" };
        Ok(Json(json!({
            "detail": format!("you {word} {n} annotations of the image"),
            "count": n,
        })))
    })
    .await
}

/// POST `{image_set, copy_annotations?, name?}` → 201 the new image (sharing the source's
/// files) plus `annotations_copied`, `annotations_skipped` and `skipped_types` (types the
/// target set does not offer by name and vector type).
async fn copy_image(
    r: Req,
    super::Id(id): super::Id,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let target = ImageSetId(b.req_u64("image_set")?);
    let with_annotations = b.bool("copy_annotations")?.unwrap_or(false);
    let name = b.str("name")?;
    crate::blocking(move || {
        let made = r
            .exact
            .images()
            .copy(&r.actor, ImageId(id), target, with_annotations, name)?;
        let mut v = super::json(&made.image);
        v = super::with(v, "annotations_copied", json!(made.annotations.len()));
        v = super::with(v, "annotations_skipped", json!(made.skipped));
        v = super::with(v, "skipped_types", json!(made.skipped_types));
        Ok((StatusCode::CREATED, Json(v)))
    })
    .await
}

/// EXACT's `copy/<annotation>/<target image>` (POST): 201 `{"annotations": the copy}`.
async fn copy_annotation(
    r: Req,
    Path((annotation, image)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let num = |field: &'static str, raw: &str| {
        raw.parse::<u64>()
            .map_err(|_| ApiError::bad(field, format!("{raw:?} is not an id")))
    };
    let (annotation, image) = (
        AnnotationId(num("annotation", &annotation)?),
        ImageId(num("image", &image)?),
    );
    crate::blocking(move || {
        let a = r.exact.annotations().copy(&r.actor, annotation, image)?;
        let mut items = [super::json(&a)];
        super::annotations::derive(&r, &mut items)?;
        let [v] = items;
        Ok((StatusCode::CREATED, Json(json!({ "annotations": v }))))
    })
    .await
}
