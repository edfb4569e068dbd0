//! EXACT's remaining legacy set endpoints (issue 18) and the v1 deletes on small resources:
//! `images/api/imageset/create/`, `annotations/api/annotation/loadset|loadsetannotationtypes|
//! loadfilteredset/`, `images/api/imageset/tag/add|delete|autocomplete/`,
//! `users/api/user/autocomplete/`, `images/imagelist/<set>/`, `images/imageset/
//! exact_dl_script.py`; DELETE of products, annotation types (deactivated, as EXACT's legacy
//! delete), verifications, set tags and screening modes. Only translation: every rule lives in
//! the use cases.

use super::{Body, Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::{AnnotationQuery, AnnotationTypePatch};
use exact_core::{
    AnnotationTypeId, ImageSetId, ProductId, ScreeningModeId, SetTagId, VerificationId,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub(super) fn routes() -> Router<AppState> {
    let anno = "/annotations/api/annotation";
    Router::new()
        .route("/images/api/imageset/create/", post(create_imageset))
        .route(&format!("{anno}/loadset/"), get(load_set))
        .route(
            &format!("{anno}/loadsetannotationtypes/"),
            get(load_set_types),
        )
        .route(&format!("{anno}/loadfilteredset/"), get(load_filtered_set))
        .route("/images/api/imageset/tag/add/", post(tag_add))
        .route(
            "/images/api/imageset/tag/delete/",
            post(tag_delete).delete(tag_delete),
        )
        .route(
            "/images/api/imageset/tag/autocomplete/",
            get(tag_autocomplete),
        )
        .route("/users/api/user/autocomplete/", get(user_autocomplete))
        .route("/images/imagelist/{id}/", get(image_list))
        .route("/images/imageset/exact_dl_script.py", get(dl_script))
}

fn required(r: &Req, key: &'static str) -> ApiResult<u64> {
    r.q.u64(key)?
        .ok_or_else(|| ApiError::bad(key, "This query parameter is required."))
}

/// EXACT's set creation form or JSON: `{name, team: id | {id}, location, description, public,
/// public_collaboration, image_lock, priority, main_annotation_type, collaboration_type,
/// products: [id | {id}]}` → 201 `{"image_set": …}`.
async fn create_imageset(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut b = body.object()?;
    let id_of = |v: &Value| v.get("id").cloned().unwrap_or_else(|| v.clone());
    if let Some(t) = b.0.get("team").map(id_of) {
        b.0.insert("team".into(), t);
    }
    let products: Vec<ProductId> = match b.0.remove("products") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                let v = id_of(v);
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .map(ProductId)
                    .ok_or_else(|| ApiError::bad("products", format!("{v} is not a product id")))
            })
            .collect::<ApiResult<_>>()?,
        Some(v) => {
            let v = id_of(&v);
            let id = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| ApiError::bad("products", format!("{v} is not a product id")))?;
            vec![ProductId(id)]
        }
    };
    let new = exact_core::wire::new_image_set(&b)?;
    crate::blocking(move || {
        let set = r
            .exact
            .image_sets()
            .create_with_products(&r.actor, new, &products)?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "image_set": json(&set) })),
        ))
    })
    .await
}

/// Every annotation of a set the requester sees, by image name then type sort order.
fn set_annotations(
    r: &Req,
    set: ImageSetId,
    deleted: bool,
) -> ApiResult<Vec<exact_core::model::Annotation>> {
    let mut images = r.exact.image_sets().images(&r.actor, set)?;
    images.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let order: std::collections::HashMap<AnnotationTypeId, (i32, AnnotationTypeId)> = r
        .exact
        .annotation_types()
        .of_set(&r.actor, set)?
        .iter()
        .map(|t| (t.id, (t.sort_order, t.id)))
        .collect();
    let query = AnnotationQuery {
        deleted: Some(deleted),
        ..Default::default()
    };
    let mut out = Vec::new();
    for i in images {
        let mut found = r.exact.annotations().query(&r.actor, i.id, &query)?;
        // Only active types, as EXACT (inactive ones are hidden everywhere).
        found.retain(|a| order.contains_key(&a.annotation_type));
        found.sort_by_key(|a| (order[&a.annotation_type], a.id));
        out.extend(found);
    }
    Ok(out)
}

fn rendered(r: &Req, found: &[exact_core::model::Annotation]) -> ApiResult<Json<Value>> {
    let mut items: Vec<Value> = found.iter().map(json).collect();
    super::annotations::derive(r, &mut items)?;
    Ok(Json(json!({ "annotations": items })))
}

/// `?imageset_id=&include_deleted=`.
async fn load_set(r: Req) -> ApiResult<Json<Value>> {
    let set = ImageSetId(required(&r, "imageset_id")?);
    let deleted = r.q.bool("include_deleted")?.unwrap_or(false);
    crate::blocking(move || {
        let found = set_annotations(&r, set, deleted)?;
        rendered(&r, &found)
    })
    .await
}

/// The active types that annotations of the set use (`?imageset_id=`), by sort order;
/// counted per image with `count_by_type`.
async fn load_set_types(r: Req) -> ApiResult<Json<Value>> {
    let set = ImageSetId(required(&r, "imageset_id")?);
    crate::blocking(move || {
        let mut used = BTreeSet::new();
        for i in r.exact.image_sets().images(&r.actor, set)? {
            let counts =
                r.exact
                    .annotations()
                    .count_by_type(&r.actor, i.id, &AnnotationQuery::default())?;
            used.extend(counts.keys().copied());
        }
        let types: Vec<Value> = r
            .exact
            .annotation_types()
            .of_set(&r.actor, set)?
            .iter()
            .filter(|t| used.contains(&t.id))
            .map(json)
            .collect();
        Ok(Json(json!({ "annotation_types": types })))
    })
    .await
}

/// `?imageset_id=&annotation_type=<id|-1>&verified=true|false`: with `verified=true`, only
/// the annotations the requester has not judged yet (what EXACT's verification view walks).
async fn load_filtered_set(r: Req) -> ApiResult<Json<Value>> {
    let set = ImageSetId(required(&r, "imageset_id")?);
    let deleted = r.q.bool("include_deleted")?.unwrap_or(false);
    let unjudged_only = r.q.bool("verified")?.unwrap_or(false);
    let kind = match r.q.get("annotation_type").map(str::trim) {
        None | Some("") | Some("-1") => None,
        Some(v) => Some(AnnotationTypeId(v.parse().map_err(|_| {
            ApiError::bad("annotation_type", format!("{v:?} is not a type id or -1"))
        })?)),
    };
    crate::blocking(move || {
        let mut found = set_annotations(&r, set, deleted)?;
        if let Some(k) = kind {
            found.retain(|a| a.annotation_type == k);
        }
        if unjudged_only {
            let mut keep = Vec::with_capacity(found.len());
            for a in found {
                let mine = r.exact.verifications().of_annotation(&r.actor, a.id)?;
                if !mine.iter().any(|v| v.user == r.actor.user) {
                    keep.push(a);
                }
            }
            found = keep;
        }
        found.sort_by_key(|a| (a.image, a.id));
        rendered(&r, &found)
    })
    .await
}

/// Tag names from `tag_name` (one) or `tag_names` (a list).
fn tag_names(b: &exact_core::wire::Obj) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    if let Some(n) = b.str("tag_name")? {
        out.push(n);
    }
    match b.raw("tag_names") {
        Some(Value::Array(items)) => {
            for v in items {
                match v.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => return Err(ApiError::bad("tag_names", "a list of names")),
                }
            }
        }
        Some(Value::String(s)) => out.push(s.clone()),
        _ => {}
    }
    if out.is_empty() {
        return Err(ApiError::bad("tag_name", "This field is required."));
    }
    Ok(out)
}

/// POST `{image_set_id, tag_name | tag_names}` → `{"tags": [the set's tags]}`.
async fn tag_add(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let set = ImageSetId(b.req_u64("image_set_id")?);
    let names = tag_names(&b)?;
    crate::blocking(move || {
        for n in &names {
            r.exact.set_tags().tag(&r.actor, set, n.trim())?;
        }
        set_tags(&r, set)
    })
    .await
}

fn set_tags(r: &Req, set: ImageSetId) -> ApiResult<Json<Value>> {
    let tags: Vec<Value> = r
        .exact
        .set_tags()
        .list(&r.actor)?
        .into_iter()
        .filter(|t| t.imagesets.contains(&set))
        .map(|t| json!({"id": t.id, "name": t.name}))
        .collect();
    Ok(Json(json!({ "tags": tags })))
}

/// `{image_set_id, tag_name}`: removes the tag from the set.
async fn tag_delete(r: Req, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let set = ImageSetId(b.req_u64("image_set_id")?);
    let names = tag_names(&b)?;
    crate::blocking(move || {
        for n in &names {
            let tag = r
                .exact
                .set_tags()
                .by_name(n.trim())?
                .ok_or_else(|| ApiError::bad("tag_name", format!("no tag named {n:?}")))?;
            r.exact.set_tags().untag(&r.actor, set, tag.id)?;
        }
        set_tags(&r, set)
    })
    .await
}

/// `?query=` → `{"tags": [names]}`.
async fn tag_autocomplete(r: Req) -> ApiResult<Json<Value>> {
    let q = r.q.get("query").unwrap_or("").to_owned();
    crate::blocking(move || {
        let names = r.exact.set_tags().suggest(&q)?;
        Ok(Json(json!({ "tags": names })))
    })
    .await
}

/// `?username_query=` (or `query=`) → `{"usernames": […], "users": [{id, username}]}`,
/// among the users the requester shares a team with.
async fn user_autocomplete(r: Req) -> ApiResult<Json<Value>> {
    let q =
        r.q.get("username_query")
            .or_else(|| r.q.get("query"))
            .unwrap_or("")
            .to_owned();
    crate::blocking(move || {
        let users = r.exact.users().suggest(&r.actor, &q)?;
        let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
        let rows: Vec<Value> = users
            .iter()
            .map(|u| json!({"id": u.id, "username": u.username}))
            .collect();
        Ok(Json(json!({ "usernames": names, "users": rows })))
    })
    .await
}

/// The server's own base URL, from the request's Host (what EXACT's `build_absolute_uri`
/// uses).
fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// One download URL per image of the set, a line each (text/plain).
async fn image_list(
    r: Req,
    super::Id(id): super::Id,
    headers: axum::http::HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let base = base_url(&headers);
    crate::blocking(move || {
        let mut images = r.exact.image_sets().images(&r.actor, ImageSetId(id))?;
        images.sort_by_key(|i| i.id);
        let text: String = images
            .iter()
            .map(|i| {
                format!(
                    "{base}/images/api/image/download/{}/?original_image=True\n",
                    i.id.0
                )
            })
            .collect();
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
    })
    .await
}

/// A Python script that downloads every image of a set through `imagelist/`, with the
/// user's credentials from the environment (never embedded).
async fn dl_script(r: Req, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let _ = r;
    let base = base_url(&headers);
    let script = format!(
        r#"#!/usr/bin/env python3
"""Downloads every image of an EXACT image set: python3 exact_dl_script.py SET_ID [DIR].
Credentials come from EXACT_USER and EXACT_PASSWORD (HTTP Basic)."""
import base64, os, sys, urllib.request

SERVER = os.environ.get("EXACT_SERVER", {base:?})


def get(url):
    token = base64.b64encode(
        (os.environ["EXACT_USER"] + ":" + os.environ["EXACT_PASSWORD"]).encode()
    ).decode()
    req = urllib.request.Request(url, headers={{"Authorization": "Basic " + token}})
    return urllib.request.urlopen(req)


def main():
    set_id, out = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else ".")
    os.makedirs(out, exist_ok=True)
    urls = get(f"{{SERVER}}/images/imagelist/{{set_id}}/").read().decode().split()
    for url in urls:
        with get(url) as res:
            cd = res.headers.get("Content-Disposition", "")
            name = cd.split("filename=")[-1].strip('"') if "filename=" in cd else url.rstrip("/").split("/")[-2]
            path = os.path.join(out, os.path.basename(name))
            with open(path, "wb") as f:
                while chunk := res.read(1 << 20):
                    f.write(chunk)
            print(path)


if __name__ == "__main__":
    main()
"#
    );
    (
        [
            (header::CONTENT_TYPE, "text/x-python; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"exact_dl_script.py\"",
            ),
        ],
        script,
    )
}

// ---- v1 deletes (mounted by the resources' own routers) ----

pub(super) async fn delete_product(r: Req, super::Id(id): super::Id) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact.products().delete(&r.actor, ProductId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// EXACT keeps annotation types its annotations use (PROTECT); its legacy delete
/// deactivates them, and so does this one: hidden everywhere, restorable by PATCH active.
pub(super) async fn delete_annotation_type(
    r: Req,
    super::Id(id): super::Id,
) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        let patch = AnnotationTypePatch {
            active: Some(false),
            ..Default::default()
        };
        r.exact
            .annotation_types()
            .update(&r.actor, AnnotationTypeId(id), patch)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub(super) async fn delete_verification(r: Req, super::Id(id): super::Id) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact
            .verifications()
            .delete(&r.actor, VerificationId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

pub(super) async fn delete_set_tag(r: Req, super::Id(id): super::Id) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact.set_tags().delete(&r.actor, SetTagId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// PATCH `{name}`: renames a tag.
pub(super) async fn rename_set_tag(
    r: Req,
    super::Id(id): super::Id,
    body: Body,
) -> ApiResult<Json<Value>> {
    let name = body.object()?.req_str("name")?;
    crate::blocking(move || {
        let t = r.exact.set_tags().rename(&r.actor, SetTagId(id), &name)?;
        Ok(Json(json(&t)))
    })
    .await
}

/// `?image=`: the requester's screening progress.
pub(super) async fn screening_modes(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["image"], |r| {
        let image = r.q.u64("image")?.map(exact_core::ImageId);
        Ok(r.exact
            .screening_modes()
            .list(&r.actor, image)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

pub(super) async fn screening_mode(r: Req, super::Id(id): super::Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let m = r
            .exact
            .screening_modes()
            .get(&r.actor, ScreeningModeId(id))?;
        Ok(Json(json(&m)))
    })
    .await
}

pub(super) async fn delete_screening_mode(
    r: Req,
    super::Id(id): super::Id,
) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact
            .screening_modes()
            .delete(&r.actor, ScreeningModeId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// The images of `set` that EXACT's image-list filter keeps: a type id (images with a live
/// annotation of it), `Unverified` / `Verified` (with an annotation nobody / somebody judged),
/// `NoAnnotations`, `ComputerGenerated` (server-generated images).
pub(super) fn image_filter(
    r: &Req,
    set: ImageSetId,
    filter: &str,
) -> ApiResult<BTreeSet<exact_core::ImageId>> {
    let images = r.exact.image_sets().images(&r.actor, set)?;
    let ids: Vec<_> = images.iter().map(|i| i.id).collect();
    let count = |i, kind: Option<AnnotationTypeId>| -> ApiResult<usize> {
        let query = AnnotationQuery {
            annotation_types: kind.map(|k| vec![k]),
            ..Default::default()
        };
        Ok(r.exact.annotations().count(&r.actor, i, &query)?)
    };
    let keep: Vec<exact_core::ImageId> = match filter {
        "Unverified" | "Verified" => {
            r.exact
                .annotations()
                .images_by_verification(&r.actor, &ids, filter == "Verified")?
        }
        "NoAnnotations" => {
            let mut out = Vec::new();
            for i in ids {
                if count(i, None)? == 0 {
                    out.push(i);
                }
            }
            out
        }
        "ComputerGenerated" => images
            .iter()
            .filter(|i| i.image_type == exact_core::model::ImageType::ServerGenerated)
            .map(|i| i.id)
            .collect(),
        other => {
            let kind = AnnotationTypeId(other.parse().map_err(|_| {
                ApiError::bad(
                    "filter_annotation_type_id",
                    format!(
                        "{other:?} is not a type id, Unverified, Verified, NoAnnotations or ComputerGenerated"
                    ),
                )
            })?);
            let mut out = Vec::new();
            for i in ids {
                if count(i, Some(kind))? > 0 {
                    out.push(i);
                }
            }
            out
        }
    };
    Ok(keep.into_iter().collect())
}
