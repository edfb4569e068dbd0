//! What the management pages need beyond EXACT's API:
//! - `POST /api/v1/annotations/annotations/multiple_update/` `{"ids": [..], "annotation_type"}`
//!   relabels, `{"ids": [..], "deleted": false}` restores from the trash, `"deleted": true`
//!   moves to the trash; each in one atomic batch (`update_many`, `restore_trashed`,
//!   `trash_many`): every id must be one the requester may edit, and all change or none.
//! - `GET /api/v1/images/image_sets/<id>/annotation_counts/`: the live annotations the
//!   requester sees, per image of the set and in total (one request per set instead of one per
//!   image; read from the maintained counts where the requester sees every annotation).

use super::{Body, Id, Req};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::AnnotationPatch;
use exact_core::catalog::AnnotationQuery;
use exact_core::{AnnotationId, AnnotationTypeId, ImageSetId};
use serde_json::{Value, json};

/// At most this many annotations per call (a bounded batch; the page sends pages of 500).
const MAX_IDS: usize = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/annotations/multiple_update/",
            post(multiple_update),
        )
        .route(
            "/api/v1/images/image_sets/{id}/annotation_counts/",
            get(annotation_counts),
        )
}

async fn annotation_counts(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let images = r.exact.image_sets().images(&r.actor, ImageSetId(id))?;
        let live = AnnotationQuery::default();
        let mut per_image = serde_json::Map::new();
        let mut total = 0usize;
        for i in images {
            let n = r.exact.annotations().count(&r.actor, i.id, &live)?;
            total += n;
            per_image.insert(i.id.0.to_string(), json!(n));
        }
        Ok(Json(
            json!({ "image_set": id, "total": total, "images": per_image }),
        ))
    })
    .await
}

async fn multiple_update(r: Req, body: Body) -> ApiResult<Json<Value>> {
    // A list of patches is the bulk update of `annotation_bulk`.
    let body = match body.0 {
        Value::Array(items) => return super::annotation_bulk::update_list(r, items).await,
        other => Body(other),
    };
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
    match (annotation_type, deleted) {
        (None, None) => {
            return Err(ApiError::bad(
                "annotation_type",
                "Give annotation_type (relabel) or deleted (true: to the trash, false: restore).",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad(
                "deleted",
                "Relabel or delete/restore, not both in one call.",
            ));
        }
        _ => {}
    }
    crate::blocking(move || {
        let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
        let annotations = r.exact.annotations();
        let changed = match (annotation_type, deleted) {
            (_, Some(true)) => annotations.trash_many(&r.actor, &ids)?,
            (_, Some(false)) => annotations.restore_trashed(&r.actor, &ids)?,
            (t, None) => {
                let patches = ids
                    .into_iter()
                    .map(|id| {
                        let p = AnnotationPatch {
                            annotation_type: t,
                            ..AnnotationPatch::default()
                        };
                        (id, p)
                    })
                    .collect();
                annotations.update_many(&r.actor, patches)?
            }
        };
        Ok(Json(json!({ "updated": changed.len() })))
    })
    .await
}
