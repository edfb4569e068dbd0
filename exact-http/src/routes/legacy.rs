//! EXACT's legacy JSON endpoints under `/annotations/api/annotation/` (the viewer and
//! SlideRunner use them): `create/`, `update/`, `delete/`, `load/`, `loadone/`, `verify/`,
//! `blurred_concealed/`. Same use cases and permission checks as the REST v1 routes; only the
//! envelopes (`{"annotations": …}`, `{"annotation": …}`, `tempid`) are EXACT's. Deletes are
//! soft whatever `keep_deleted_element` says: nothing a user made is lost.

use super::{Body, Req};
use crate::AppState;
use crate::body::Obj;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::{AnnotationId, AnnotationTypeId, BBox, ImageId, Timestamp, Vector};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    let base = "/annotations/api/annotation";
    Router::new()
        .route(&format!("{base}/create/"), post(create))
        .route(&format!("{base}/update/"), post(update))
        .route(&format!("{base}/delete/"), delete(destroy))
        .route(&format!("{base}/load/"), get(load))
        .route(&format!("{base}/loadone/"), get(load_one))
        .route(&format!("{base}/verify/"), post(verify))
        .route(
            &format!("{base}/blurred_concealed/"),
            post(blurred_concealed),
        )
}

/// The `vector` field: a JSON object, or a JSON string of one (form posts), or null.
fn vector(b: &Obj) -> ApiResult<Option<Vector>> {
    match b.raw("vector") {
        Some(Value::String(s)) => {
            let v: Value = serde_json::from_str(s)
                .map_err(|e| ApiError::bad("vector", format!("invalid JSON: {e}")))?;
            serde_json::from_value::<Option<Vector>>(v)
                .map_err(|e| ApiError::bad("vector", e.to_string()))
        }
        _ => Ok(b.parse::<Vector>("vector")?),
    }
}

/// An annotation in its REST JSON, with the requester's derived fields.
fn render(r: &Req, a: &exact_core::model::Annotation) -> ApiResult<Value> {
    let mut items = [super::json(a)];
    super::annotations::derive(r, &mut items)?;
    let [v] = items;
    Ok(v)
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image_id")?);
    let kind = AnnotationTypeId(b.req_u64("annotation_type_id")?);
    let mut new = NewAnnotation::new(kind, image, vector(&b)?);
    new.blurred = b.bool("blurred")?.unwrap_or(false);
    new.concealed = b.bool("concealed")?.unwrap_or(false);
    new.description = b.str("description")?.unwrap_or_default();
    new.meta_data = b.raw("meta_data").cloned().unwrap_or(Value::Null);
    new.unique_identifier = b.parse("unique_identifier")?;
    new.last_edit_time = b.time("last_edit_time")?;
    let tempid = b.raw("tempid").cloned().unwrap_or(Value::Bool(false));
    crate::blocking(move || {
        let a = r.exact.annotations().create(&r.actor, new)?;
        // EXACT verifies a new annotation for its creator.
        r.exact.verifications().verify(&r.actor, a.id, true)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "annotations": render(&r, &a)?, "tempid": tempid })),
        ))
    })
    .await
}

async fn update(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let image = ImageId(b.req_u64("image_id")?);
    let id = b.u64("annotation_id")?;
    let uuid: Option<uuid::Uuid> = b.parse("unique_identifier")?;
    if id.is_none() && uuid.is_none() {
        return Err(ApiError::bad("annotation_id", "This field is required."));
    }
    let patch = AnnotationPatch {
        annotation_type: Some(AnnotationTypeId(b.req_u64("annotation_type_id")?)),
        // Without `vector` the geometry stays as it is (`"vector": null` is "not in image").
        vector: if b.has("vector") {
            Some(vector(&b)?)
        } else {
            None
        },
        deleted: Some(b.bool("deleted")?.unwrap_or(false)),
        concealed: Some(b.bool("concealed")?.unwrap_or(false)),
        blurred: Some(b.bool("blurred")?.unwrap_or(false)),
        description: Some(b.str("description")?.unwrap_or_default()),
        meta_data: b.raw("meta_data").cloned(),
        unique_identifier: None,
        last_edit_time: b.time("last_edit_time")?,
        if_match: None,
    };
    crate::blocking(move || {
        let current = match uuid {
            Some(u) => r
                .exact
                .annotations()
                .by_uuid(&r.actor, image, u)?
                .into_iter()
                .next()
                .ok_or_else(|| exact_core::Error::not_found(format!("annotation {u}")))?,
            None => r
                .exact
                .annotations()
                .get(&r.actor, AnnotationId(id.unwrap_or_default()))?,
        };
        if current.image != image {
            return Err(ApiError::bad(
                "image_id",
                "the image id does not match the annotation id.",
            ));
        }
        let a = r.exact.annotations().update(&r.actor, current.id, patch)?;
        r.exact.verifications().verify(&r.actor, a.id, true)?;
        Ok(Json(json!({ "annotations": render(&r, &a)? })))
    })
    .await
}

async fn destroy(r: Req) -> ApiResult<Json<Value>> {
    let id = AnnotationId(
        r.q.u64("annotation_id")?
            .ok_or_else(|| ApiError::bad("annotation_id", "This field is required."))?,
    );
    crate::blocking(move || {
        let a = r.exact.annotations().delete(&r.actor, id)?;
        Ok(Json(json!({ "annotations": render(&r, &a)? })))
    })
    .await
}

/// `?image_id=&since=<unix seconds>&min_x&min_y&max_x&max_y&include_deleted`: EXACT filters
/// on the first point (`x1`,`y1`); here the viewport is the bounding box, which contains
/// every annotation whose first point is inside it and more, never fewer.
async fn load(r: Req) -> ApiResult<Json<Value>> {
    let image = ImageId(
        r.q.u64("image_id")?
            .ok_or_else(|| ApiError::bad("image_id", "This field is required."))?,
    );
    let mut query = AnnotationQuery {
        deleted: if r.q.bool("include_deleted")?.unwrap_or(false) {
            None
        } else {
            Some(false)
        },
        ..Default::default()
    };
    if let Some(since) = r.q.f64("since")? {
        query.edited_since = Some(Timestamp((since * 1e6) as i64));
    }
    let (x0, y0, x1, y1) = (
        super::annotations::finite(&r.q, "min_x")?,
        super::annotations::finite(&r.q, "min_y")?,
        super::annotations::finite(&r.q, "max_x")?,
        super::annotations::finite(&r.q, "max_y")?,
    );
    let since_given = query.edited_since.is_some();
    crate::blocking(move || {
        if x0.is_some() || y0.is_some() || x1.is_some() || y1.is_some() {
            let i = r.exact.images().get(&r.actor, image)?;
            let (w, h) = (i.width.max(1) as f64, i.height.max(1) as f64);
            query.viewport = Some(BBox::new(
                x0.unwrap_or(0.0).clamp(-w, 2.0 * w),
                y0.unwrap_or(0.0).clamp(-h, 2.0 * h),
                x1.unwrap_or(w).clamp(-w, 2.0 * w),
                y1.unwrap_or(h).clamp(-h, 2.0 * h),
            ));
        }
        let mut found = r.exact.annotations().query(&r.actor, image, &query)?;
        // Polling for others' edits: the requester's own are left out, as in EXACT.
        if since_given {
            found.retain(|a| a.last_editor != Some(r.actor.user));
        }
        let mut items: Vec<Value> = found.iter().map(super::json).collect();
        super::annotations::derive(&r, &mut items)?;
        Ok(Json(json!({ "annotations": items })))
    })
    .await
}

async fn load_one(r: Req) -> ApiResult<Json<Value>> {
    let id = AnnotationId(
        r.q.u64("annotation_id")?
            .ok_or_else(|| ApiError::bad("annotation_id", "This field is required."))?,
    );
    crate::blocking(move || {
        let a = r.exact.annotations().get(&r.actor, id)?;
        Ok(Json(json!({ "annotation": render(&r, &a)? })))
    })
    .await
}

async fn verify(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let id = AnnotationId(b.req_u64("annotation_id")?);
    let state = match b.str("state")?.as_deref() {
        Some("accept") => true,
        Some("reject") => false,
        _ => return Err(ApiError::bad("state", "accept or reject")),
    };
    crate::blocking(move || {
        r.exact.verifications().verify(&r.actor, id, state)?;
        let a = r.exact.annotations().get(&r.actor, id)?;
        let detail = if state {
            "you verified the last annotation"
        } else {
            "you rejected the last annotation"
        };
        Ok(Json(
            json!({ "annotation": render(&r, &a)?, "detail": detail }),
        ))
    })
    .await
}

async fn blurred_concealed(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let id = AnnotationId(b.req_u64("annotation_id")?);
    let patch = AnnotationPatch {
        blurred: Some(
            b.bool("blurred")?
                .ok_or_else(|| ApiError::bad("blurred", "This field is required."))?,
        ),
        concealed: Some(
            b.bool("concealed")?
                .ok_or_else(|| ApiError::bad("concealed", "This field is required."))?,
        ),
        ..Default::default()
    };
    crate::blocking(move || {
        r.exact.annotations().update(&r.actor, id, patch)?;
        Ok(Json(json!({ "detail": "you updated the last annotation" })))
    })
    .await
}
