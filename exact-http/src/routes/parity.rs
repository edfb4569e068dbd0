//! EXACT's remaining legacy endpoints around images (issue 18): the viewer's statistics panel
//! (`images/api/image/statistics/`) and whole-image verification (`images/api/image/verify/`).
//! Same use cases and permission checks as everywhere; only EXACT's envelopes are added here.

use super::{Body, Req};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::ImageId;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/api/image/statistics/", get(statistics))
        .route("/images/api/image/verify/", post(verify_image))
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
        let rows: Vec<Value> = stats
            .iter()
            .map(|s| {
                let t = &s.annotation_type;
                json!({
                    "id": t.id,
                    "name": t.name,
                    "vector_type": t.vector_type,
                    "color_code": t.color_code,
                    "sort_order": t.sort_order,
                    "count": s.count,
                    "in_image_count": s.in_image_count,
                    "not_in_image_count": s.not_in_image_count,
                    "verified_count": s.verified_count,
                    "unverified_count": s.unverified_count,
                })
            })
            .collect();
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
