//! Bulk writes and history of annotations, beyond EXACT's API (what `exact_wsi.connect` needs
//! to give the embedded store's answers):
//! - `POST annotations/multiple_update/` with a JSON **list** of patches (`[{"id": 1,
//!   "description": "…"}, …]`, EXACT's field names): one atomic batch through the library's
//!   `update_many`. Every item is checked first — the requester must be able to *edit* each
//!   one (in a competitive or second-opinion set: their own) — and nothing is written unless
//!   all pass; a refusal is a 400/403/404 naming the offending item (`[i]`) and its id. Answers
//!   the changed annotations, in the order given. (The object form `{"ids", …}` of the
//!   management page stays in `manage.rs`.)
//! - `POST annotations/multiple_restore/` `{"ids": [..]}`: puts trashed (DELETEd) annotations
//!   back in one atomic batch; answers them.
//! - `GET annotations/<id>/history/`: the revisions, oldest first; `POST
//!   annotations/<id>/history/<n>/restore/`: back to the state after revision `n` (a new
//!   revision itself).

use super::annotations::derive;
use super::{Body, Id, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::Path;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::AnnotationId;
use exact_core::wire::Obj;
use serde_json::{Value, json};

/// At most this many annotations per call (a bounded batch).
pub(super) const MAX_ITEMS: usize = 10_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/annotations/multiple_restore/",
            post(multiple_restore),
        )
        .route(
            "/api/v1/annotations/annotations/{id}/history/",
            get(history),
        )
        .route(
            "/api/v1/annotations/annotations/{id}/history/{number}/restore/",
            post(restore_revision),
        )
}

/// The list form of `multiple_update/`: one patch per item, all or none.
pub(super) async fn update_list(r: Req, items: Vec<Value>) -> ApiResult<Json<Value>> {
    if items.len() > MAX_ITEMS {
        return Err(ApiError::bad(
            "ids",
            format!(
                "At most {MAX_ITEMS} annotations per call, not {}.",
                items.len()
            ),
        ));
    }
    let patches = items
        .into_iter()
        .enumerate()
        .map(|(n, v)| {
            let Value::Object(m) = v else {
                return Err(ApiError::bad(format!("[{n}]"), "expected an object"));
            };
            let o = Obj(m);
            let id = o.req_u64("id").map_err(|e| at(n, e))?;
            let patch = exact_core::wire::annotation_patch(&o).map_err(|e| at(n, e))?;
            Ok((AnnotationId(id), patch))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    crate::blocking(move || {
        let changed = r.exact.annotations().update_many(&r.actor, patches)?;
        rows(&r, &changed)
    })
    .await
}

/// A bulk item's parse error, prefixed with its index as the library names them (`[i].field`).
fn at(n: usize, e: exact_core::Error) -> ApiError {
    match e {
        exact_core::Error::InvalidInput { field, reason } => {
            ApiError::bad(format!("[{n}].{field}"), reason)
        }
        other => ApiError::Core(other),
    }
}

/// Annotations as the list renders them (with the requester's derived fields), shaped by
/// `fields`/`omit`.
fn rows(r: &Req, annotations: &[exact_core::model::Annotation]) -> ApiResult<Json<Value>> {
    let mut items: Vec<Value> = annotations.iter().map(json).collect();
    derive(r, &mut items)?;
    r.q.shape(&mut items);
    Ok(Json(Value::Array(items)))
}

async fn multiple_restore(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let ids = b
        .ids("ids")?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad("ids", "Give at least one annotation id."))?;
    if ids.len() > MAX_ITEMS {
        return Err(ApiError::bad(
            "ids",
            format!(
                "At most {MAX_ITEMS} annotations per call, not {}.",
                ids.len()
            ),
        ));
    }
    crate::blocking(move || {
        let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
        let back = r.exact.annotations().restore_trashed(&r.actor, &ids)?;
        rows(&r, &back)
    })
    .await
}

async fn history(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let revisions = r.exact.annotations().history(&r.actor, AnnotationId(id))?;
        Ok(Json(Value::Array(
            revisions
                .iter()
                .map(|v| {
                    json!({
                        "number": v.number,
                        "change": v.change,
                        "action": v.action,
                        "user": v.user,
                        "time": v.time,
                        "before": v.before,
                        "after": v.after,
                    })
                })
                .collect(),
        )))
    })
    .await
}

async fn restore_revision(
    r: Req,
    Path((id, number)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let not_found = |what: &str| {
        ApiError::Core(exact_core::Error::not_found(format!(
            "no {what} {:?}",
            if what == "object with id" {
                &id
            } else {
                &number
            }
        )))
    };
    let id: u64 = id.parse().map_err(|_| not_found("object with id"))?;
    let number: usize = number.parse().map_err(|_| not_found("revision"))?;
    crate::blocking(move || {
        let a = r
            .exact
            .annotations()
            .restore(&r.actor, AnnotationId(id), number)?;
        let Json(Value::Array(mut items)) = rows(&r, std::slice::from_ref(&a))? else {
            return Ok(Json(Value::Null));
        };
        Ok(Json(items.pop().unwrap_or(Value::Null)))
    })
    .await
}
