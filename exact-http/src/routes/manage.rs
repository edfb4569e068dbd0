//! `POST /api/v1/annotations/annotations/multiple_update/` `{"ids": [..], "annotation_type"?,
//! "deleted"?}`: the annotation management page's bulk relabel and bulk restore (or delete),
//! in one atomic batch: every id must be one the requester may edit, and either all change or
//! none (`Annotations::update_many`).

use super::{Body, Req};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::routing::post;
use axum::{Json, Router};
use exact_core::catalog::AnnotationPatch;
use exact_core::{AnnotationId, AnnotationTypeId};
use serde_json::{Value, json};

/// At most this many annotations per call (a bounded batch; the page sends pages of 500).
const MAX_IDS: usize = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/annotations/annotations/multiple_update/",
        post(multiple_update),
    )
}

async fn multiple_update(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let mut ids = b
        .ids("ids")?
        .ok_or_else(|| ApiError::bad("ids", "This field is required."))?;
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(ApiError::bad("ids", "Give at least one annotation id."));
    }
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad(
            "ids",
            format!("At most {MAX_IDS} annotations per call, not {}.", ids.len()),
        ));
    }
    let annotation_type = b.u64("annotation_type")?.map(AnnotationTypeId);
    let deleted = b.bool("deleted")?;
    if annotation_type.is_none() && deleted.is_none() {
        return Err(ApiError::bad(
            "annotation_type",
            "Give annotation_type (relabel) or deleted (delete/restore).",
        ));
    }
    crate::blocking(move || {
        let patches = ids
            .into_iter()
            .map(|id| {
                let p = AnnotationPatch {
                    annotation_type,
                    deleted,
                    ..AnnotationPatch::default()
                };
                (AnnotationId(id), p)
            })
            .collect();
        let changed = r.exact.annotations().update_many(&r.actor, patches)?;
        Ok(Json(json!({ "updated": changed.len() })))
    })
    .await
}
