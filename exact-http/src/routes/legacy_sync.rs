//! The rest of EXACT's legacy JSON endpoints that SlideRunner's sync (EXACT-Sync's
//! `ExactManager`) calls, over the same use cases: `timesync/`, `images/api/list_imagesets/`,
//! `images/api/imageset/load/`, `images/api/imageset/product/add|delete/`,
//! `annotations/api/annotation/loadannotationtypes/`, `annotations/api/annotation/mediafile/
//! upload/<annotation>/<type>/`, `administration/api/annotation_type/create|delete/`,
//! `users/api/team/filter/`, and the viewer's `images/api/image/opened|closed/<id>/` log.

use super::annotation_meta::{media_kind, render, store_media};
use super::{Req, json, with};
use crate::AppState;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Multipart, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::{AnnotationTypePatch, NewAnnotationType};
use exact_core::model::{ImageSet, VectorType};
use exact_core::permissions::Actor;
use exact_core::{AnnotationId, AnnotationTypeId, ImageSetId, ProductId, TeamId};
use exact_store::Exact;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/timesync/", get(timesync))
        .route("/timesync", get(timesync))
        .route("/images/api/list_imagesets/", get(list_imagesets))
        .route("/images/api/imageset/load/", get(load_imageset))
        .route("/images/api/imageset/load", get(load_imageset))
        .route("/images/api/imageset/product/add/", post(product_add))
        .route("/images/api/imageset/product/delete/", post(product_delete))
        .route(
            "/annotations/api/annotation/loadannotationtypes/",
            get(load_annotation_types),
        )
        .route(
            "/annotations/api/annotation/mediafile/upload/{annotation}/{kind}/",
            post(mediafile_upload),
        )
        .route(
            "/administration/api/annotation_type/create/",
            post(annotation_type_create),
        )
        .route(
            "/administration/api/annotation_type/delete/",
            post(annotation_type_delete),
        )
        .route("/users/api/team/filter/", get(team_filter))
        // EXACT's viewer calls these with GET; a GET must not change anything (a link or an
        // image tag on another page would write logs in the user's name), so only POST logs
        // and GET answers what it would log.
        .route(
            "/images/api/image/opened/{id}/",
            post(opened).get(not_logged),
        )
        .route(
            "/images/api/image/closed/{id}/",
            post(closed).get(not_logged),
        )
}

/// The viewer's open/close log (`LogImageAction`), with the client's address.
async fn log_action(
    r: Req,
    id: u64,
    action: exact_core::model::LogAction,
    headers: &axum::http::HeaderMap,
) -> ApiResult<Json<Value>> {
    let ip = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .unwrap_or("")
        .trim()
        .to_owned();
    crate::blocking(move || {
        let l = r
            .exact
            .log_image_actions()
            .log(&r.actor, exact_core::ImageId(id), action, &ip)?;
        Ok(Json(json(&l)))
    })
    .await
}

/// `GET …/opened|closed/<id>/`: nothing is written; the image must be readable.
async fn not_logged(r: Req, super::Id(id): super::Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        r.exact.images().get(&r.actor, exact_core::ImageId(id))?;
        Ok(Json(json!({
            "image": id,
            "logged": false,
            "detail": "GET does not change anything: send POST to log the action.",
        })))
    })
    .await
}

async fn opened(
    r: Req,
    super::Id(id): super::Id,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<Value>> {
    log_action(r, id, exact_core::model::LogAction::Open, &headers).await
}

async fn closed(
    r: Req,
    super::Id(id): super::Id,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<Value>> {
    log_action(r, id, exact_core::model::LogAction::Closed, &headers).await
}

/// `{"unixtime": seconds}`: the client checks its clock against the server's.
async fn timesync() -> Json<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Json(json!({ "unixtime": now }))
}

/// A set as the old viewer lists it: its fields, its images (id, name, size) and its
/// products with their annotation types.
fn set_json(exact: &Exact, actor: &Actor, set: &ImageSet) -> ApiResult<Value> {
    let images: Vec<Value> = exact
        .image_sets()
        .images(actor, set.id)?
        .iter()
        .map(|i| {
            json!({"id": i.id, "name": i.name, "filename": i.filename, "width": i.width,
                   "height": i.height, "mpp": i.mpp, "objectivePower": i.objective_power,
                   "state": i.state})
        })
        .collect();
    let types = exact.annotation_types().of_set(actor, set.id)?;
    let products: Vec<Value> = exact
        .products()
        .of_set(actor, set.id)?
        .iter()
        .map(|p| {
            let of_product: Vec<Value> = types
                .iter()
                .filter(|t| t.product == Some(p.id))
                .map(json)
                .collect();
            with(json(p), "annotation_types", Value::Array(of_product))
        })
        .collect();
    let team = match set.team {
        Some(t) => exact
            .teams()
            .get(actor, t)
            .map(|t| json!({"id": t.id, "name": t.name}))
            .unwrap_or(json!({"id": t})),
        None => Value::Null,
    };
    let mut v = json(set);
    v = with(v, "images", Value::Array(images));
    v = with(v, "products", Value::Array(products));
    Ok(with(v, "team", team))
}

async fn list_imagesets(r: Req) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let sets = r.exact.image_sets().list(&r.actor)?;
        let out = sets
            .iter()
            .map(|s| set_json(&r.exact, &r.actor, s))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Json(Value::Array(out)))
    })
    .await
}

fn required_id(r: &Req, key: &str) -> ApiResult<u64> {
    r.q.u64(key)?
        .ok_or_else(|| ApiError::bad(key, "This query parameter is required."))
}

async fn load_imageset(r: Req) -> ApiResult<Json<Value>> {
    let id = ImageSetId(required_id(&r, "image_set_id")?);
    // EXACT's image-list filter (`-1`, `All` or absent: every image).
    let filter =
        r.q.get("filter_annotation_type_id")
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty() && f != "-1" && f != "All");
    crate::blocking(move || {
        let set = r.exact.image_sets().get(&r.actor, id)?;
        let mut v = set_json(&r.exact, &r.actor, &set)?;
        if let Some(f) = filter {
            let keep = super::parity_sets::image_filter(&r, id, &f)?;
            if let Some(Value::Array(images)) = v.get_mut("images") {
                images.retain(|i| {
                    i["id"]
                        .as_u64()
                        .is_some_and(|i| keep.contains(&exact_core::ImageId(i)))
                });
            }
        }
        Ok(Json(json!({ "image_set": v })))
    })
    .await
}

async fn load_annotation_types(r: Req) -> ApiResult<Json<Value>> {
    let id = ImageSetId(required_id(&r, "imageset_id")?);
    crate::blocking(move || {
        let types: Vec<Value> = r
            .exact
            .annotation_types()
            .of_set(&r.actor, id)?
            .iter()
            .filter(|t| t.active)
            .map(json)
            .collect();
        Ok(Json(json!({ "annotation_types": types })))
    })
    .await
}

/// `{image_set_id, product_id}` from a form or JSON body.
fn set_and_product(body: Body) -> ApiResult<(ImageSetId, ProductId)> {
    let b = body.object()?;
    Ok((
        ImageSetId(b.req_u64("image_set_id")?),
        ProductId(b.req_u64("product_id")?),
    ))
}

async fn product_add(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let (set, product) = set_and_product(body)?;
    crate::blocking(move || {
        let p = r.exact.products().attach(&r.actor, product, set)?;
        Ok(Json(json!({"success": true, "product": json(&p)})))
    })
    .await
}

async fn product_delete(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let (set, product) = set_and_product(body)?;
    crate::blocking(move || {
        let p = r.exact.products().detach(&r.actor, product, set)?;
        Ok(Json(json!({"success": true, "product": json(&p)})))
    })
    .await
}

async fn annotation_type_create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let product = ProductId(b.req_u64("product_id")?);
    let name = b.req_str("name")?;
    let code = b.req_u64("vector_type")?;
    let vector_type: VectorType = serde_json::from_value(json!(code))
        .map_err(|e| ApiError::bad("vector_type", e.to_string()))?;
    let mut new = NewAnnotationType::new(name, vector_type, product);
    if let Some(v) = b.str("color_code")? {
        new.color_code = v;
    }
    if let Some(v) = b.u32("default_width")? {
        new.default_width = v;
    }
    if let Some(v) = b.u32("default_height")? {
        new.default_height = v;
    }
    if let Some(v) = b.u64("sort_order")? {
        new.sort_order = i32::try_from(v).map_err(|_| ApiError::bad("sort_order", "too large"))?;
    }
    if let Some(v) = b.bool("area_hit_test")? {
        new.area_hit_test = v;
    }
    if let Some(v) = b.bool("closed")? {
        new.closed = v;
    }
    crate::blocking(move || {
        let t = r.exact.annotation_types().create(&r.actor, new)?;
        Ok((StatusCode::CREATED, Json(json(&t))))
    })
    .await
}

/// Deactivates the type (EXACT's soft delete of annotation types).
async fn annotation_type_delete(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let id = AnnotationTypeId(body.object()?.req_u64("annotation_type_id")?);
    crate::blocking(move || {
        let patch = AnnotationTypePatch {
            active: Some(false),
            ..Default::default()
        };
        let t = r.exact.annotation_types().update(&r.actor, id, patch)?;
        Ok(Json(json!({"success": true, "annotation_type": json(&t)})))
    })
    .await
}

/// `files[]` parts attached to an annotation; answers the list of new media files.
async fn mediafile_upload(
    r: Req,
    Path((annotation, kind)): Path<(String, String)>,
    mut multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let annotation = AnnotationId(annotation.parse().map_err(|_| {
        ApiError::Core(exact_core::Error::not_found(format!(
            "annotation {annotation:?}"
        )))
    })?);
    let kind = media_kind(Some(&kind))?;
    let mut made = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad("files[]", e.body_text()))?
    {
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad("files[]", e.body_text()))?;
        let m = store_media(&r.exact, &r.actor, annotation, &name, kind, bytes).await?;
        made.push(render(&m));
    }
    if made.is_empty() {
        return Err(ApiError::bad("files[]", "No file was submitted."));
    }
    Ok(Json(json!({ "files": made })))
}

/// Teams of the requester, filtered by `name` and `id` (`-1` or absent: any).
async fn team_filter(r: Req) -> ApiResult<Json<Value>> {
    let name = r.q.get("name").map(str::to_owned).filter(|n| !n.is_empty());
    let id =
        r.q.get("id")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v >= 0)
            .map(|v| TeamId(v as u64));
    crate::blocking(move || {
        let teams: Vec<Value> = r
            .exact
            .teams()
            .list(&r.actor)?
            .iter()
            .filter(|t| name.as_deref().is_none_or(|n| t.name == n))
            .filter(|t| id.is_none_or(|i| t.id == i))
            .map(json)
            .collect();
        Ok(Json(json!({ "teams": teams })))
    })
    .await
}
