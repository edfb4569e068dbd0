//! `annotations/annotations/`: annotations of the requester's images. POST takes one object or
//! a JSON list (bulk create → list); client `time`/`last_edit_time` are kept as sent. DELETE and
//! `multiple_delete` are EXACT's (gone: 404 afterwards, absent from every list) but move the
//! annotation to a trash, listed by `trash/?image=` and undone by `<id>/restore/` for the
//! editors who could delete it; `PATCH deleted=true` stays the visible soft delete. List filters map onto the library's viewport
//! query per image, the rest go through the generic filters. Every answer carries EXACT's
//! derived fields for the requester (`verified_by_user`, `uploaded_media_files`,
//! `annotationversion_set`), computed for the returned page only.

use super::{Body, Id, Req, json};
use crate::AppState;
use crate::body::Obj;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{AnnotationList, NewAnnotation};
use exact_core::model::Annotation;
use exact_core::{AnnotationId, AnnotationTypeId, ImageId, UserId, Vector};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/annotations/annotations/", get(index).post(create))
        .route("/api/v1/annotations/annotations/counts/", get(counts))
        .route(
            "/api/v1/annotations/annotations/multiple_delete/",
            axum::routing::delete(multiple_delete),
        )
        .route(
            "/api/v1/annotations/annotations/{id}/",
            get(show).patch(update).put(update).delete(destroy),
        )
        .route("/api/v1/annotations/annotations/trash/", get(trash))
        .route(
            "/api/v1/annotations/annotations/{id}/restore/",
            axum::routing::post(restore),
        )
}

/// The parameters handled by the library's list query rather than the generic filters.
const QUERY_PARAMS: &[&str] = exact_core::wire::ANNOTATION_FILTERS;

/// A viewport side: a number, and a finite one (`nan`, `inf` parse as floats but bound
/// nothing).
/// The filters annotation counts take: the viewport query's.
const COUNT_PARAMS: &[&str] = &[
    "image",
    "annotation_type",
    "annotation_type__in",
    "deleted",
    "user",
    "last_edit_time__gte",
    "vector_x_min",
    "vector_x_max",
    "vector_y_min",
    "vector_y_max",
];

pub(crate) fn finite(q: &ListQuery, name: &str) -> ApiResult<Option<f64>> {
    match q.f64(name)? {
        Some(v) if !v.is_finite() => {
            Err(ApiError::bad(name, format!("{v} is not a finite number")))
        }
        other => Ok(other),
    }
}

/// Adds the derived fields of `annotations` to their JSON objects `items` (same order).
pub(crate) fn derive_typed(
    r: &Req,
    annotations: &[Annotation],
    items: &mut [Value],
) -> ApiResult<()> {
    let extras = r.exact.annotations().extras(&r.actor, annotations)?;
    for (v, x) in items.iter_mut().zip(extras) {
        if let Value::Object(m) = v {
            m.insert("verified_by_user".into(), Value::Bool(x.verified_by_user));
            m.insert("uploaded_media_files".into(), json(&x.uploaded_media_files));
            m.insert(
                "annotationversion_set".into(),
                json(&x.annotationversion_set),
            );
        }
    }
    Ok(())
}

/// Adds the derived fields to annotation JSON objects (items that are not annotations are
/// left alone).
pub(crate) fn derive(r: &Req, items: &mut [Value]) -> ApiResult<()> {
    let mut at = Vec::new();
    let mut annotations = Vec::new();
    for (n, v) in items.iter().enumerate() {
        if let Ok(a) = serde_json::from_value::<Annotation>(v.clone()) {
            at.push(n);
            annotations.push(a);
        }
    }
    let mut subset: Vec<Value> = at.iter().map(|n| std::mem::take(&mut items[*n])).collect();
    let done = derive_typed(r, &annotations, &mut subset);
    for (n, v) in at.into_iter().zip(subset) {
        items[n] = v;
    }
    done
}

/// One annotation with its derived fields.
fn derived(r: &Req, a: &Annotation) -> ApiResult<Value> {
    let mut items = [json(a)];
    derive(r, &mut items)?;
    let [v] = items;
    Ok(v)
}

/// The library's list query for the request's filters (images, types, viewport, deleted,
/// user, edit time, ids, vector type, verifier), without a window.
fn list_of(r: &Req) -> ApiResult<AnnotationList> {
    let params = exact_core::wire::Obj::from_pairs(
        r.q.params
            .iter()
            .filter(|(k, _)| QUERY_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    Ok(exact_core::wire::annotation_list(&params)?)
}

/// Every annotation the list query selects, by id.
fn select(r: &Req) -> ApiResult<Vec<Annotation>> {
    Ok(r.exact.annotations().list(&r.actor, &list_of(r)?)?.items)
}

/// An annotation with every field set, whose JSON names the fields (and their types) the
/// generic filters may test.
fn sample() -> Value {
    let mut a = NewAnnotation::new(
        AnnotationTypeId(1),
        ImageId(1),
        Some(Vector::rect(0.0, 0.0, 1.0, 1.0)),
    );
    a.user = Some(UserId(1));
    let mut v = json(&Annotation {
        id: AnnotationId(1),
        annotation_type: a.annotation_type,
        vector: a.vector,
        image: a.image,
        user: a.user,
        last_editor: a.user,
        time: exact_core::Timestamp(0),
        last_edit_time: exact_core::Timestamp(0),
        deleted: false,
        concealed: false,
        blurred: false,
        description: String::new(),
        unique_identifier: uuid::Uuid::nil(),
        meta_data: Value::Null,
    });
    if let Value::Object(m) = &mut v {
        m.insert("meta_data".into(), Value::Object(Default::default()));
    }
    v
}

/// One page of annotations with their derived fields, serialized straight to bytes (no JSON
/// tree): the viewer's viewport queries take this path.
#[derive(serde::Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    a: &'a Annotation,
    verified_by_user: bool,
    uploaded_media_files: &'a [exact_core::MediaFileId],
    annotationversion_set: &'a [exact_core::AnnotationVersionId],
}

#[derive(serde::Serialize)]
struct Page<'a> {
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Row<'a>>,
}

async fn index(r: Req) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let shaped = ["fields", "omit", "expand"].iter().any(|k| r.q.has(k));
    if shaped {
        return r
            .list_models(QUERY_PARAMS, select, |a: &Annotation| a.id.0, derive_typed)
            .await
            .map(IntoResponse::into_response);
    }
    crate::blocking(move || {
        let mut list = list_of(&r)?;
        let (count, items) = if r.q.filters(&sample(), QUERY_PARAMS)? {
            // Generic filters work on JSON: the general path.
            let mut items = r.exact.annotations().list(&r.actor, &list)?.items;
            let v = r.q.filter(items.iter().map(json).collect(), QUERY_PARAMS)?;
            let keep: std::collections::HashSet<u64> =
                v.iter().filter_map(|v| v["id"].as_u64()).collect();
            items.retain(|a| keep.contains(&a.id.0));
            let count = items.len();
            let window = crate::pagination::window(&r.q, count)?;
            (count, items.drain(window).collect::<Vec<_>>())
        } else {
            // The library pages: only the window is decoded.
            let (limit, offset) = crate::pagination::limit_offset(&r.q)?;
            list.offset = usize::try_from(offset).unwrap_or(usize::MAX);
            list.limit = Some(usize::try_from(limit).unwrap_or(usize::MAX));
            let page = r.exact.annotations().list(&r.actor, &list)?;
            (page.count, page.items)
        };
        let page = &items[..];
        let extras = r.exact.annotations().extras(&r.actor, page)?;
        let (next, previous) = crate::pagination::links(&r.q, count)?;
        let body = Page {
            count,
            next,
            previous,
            results: page
                .iter()
                .zip(&extras)
                .map(|(a, x)| Row {
                    a,
                    verified_by_user: x.verified_by_user,
                    uploaded_media_files: &x.uploaded_media_files,
                    annotationversion_set: &x.annotationversion_set,
                })
                .collect(),
        };
        // About 440 bytes per box annotation: one buffer, no regrowing copies.
        let mut bytes = Vec::with_capacity(512 * body.results.len() + 256);
        serde_json::to_writer(&mut bytes, &body).map_err(|e| {
            ApiError::Core(exact_core::Error::backend(
                "json",
                std::io::Error::other(e.to_string()),
            ))
        })?;
        Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response())
    })
    .await
}

/// `GET annotations/counts/?image=<id>&…`: how many annotations of one image match the
/// viewport query's filters (types, deleted, user, last edit, viewport), in total and per type
/// (`{"image", "count", "by_type": {"<type id>": n}}`), without listing them: the viewer's
/// per-type counts and its "is this view crowded?" question cost a scan of record heads.
async fn counts(r: Req) -> ApiResult<Json<Value>> {
    if let Some(other) = r.q.names().find(|n| !COUNT_PARAMS.contains(n)) {
        return Err(ApiError::bad(
            other,
            "not a filter of annotation counts (image, annotation_type(__in), deleted, user, last_edit_time__gte, vector_x/y_min/max)",
        ));
    }
    let image =
        r.q.u64("image")?
            .ok_or_else(|| ApiError::bad("image", "counts are of one image: give image=<id>"))?;
    crate::blocking(move || {
        // The library clamps the viewport to the image.
        let query = list_of(&r)?.query;
        let by_type = r
            .exact
            .annotations()
            .count_by_type(&r.actor, ImageId(image), &query)?;
        let count: usize = by_type.values().sum();
        let by_type: serde_json::Map<String, Value> = by_type
            .into_iter()
            .map(|(t, n)| (t.0.to_string(), Value::from(n)))
            .collect();
        Ok(Json(serde_json::json!({
            "image": image,
            "count": count,
            "by_type": by_type,
        })))
    })
    .await
}

/// `If-Match` of a write: the annotation versions the client last saw (`ETag`s of earlier
/// answers). `*` and no header check nothing (last writer wins, as EXACT); a weak or unknown
/// tag matches no version (RFC 9110 compares `If-Match` strongly), so the write is a 412.
pub(crate) struct IfMatch(Option<Vec<u64>>);

impl axum::extract::FromRequestParts<AppState> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut versions = Vec::new();
        let mut any = false;
        let headers = parts.headers.get_all(axum::http::header::IF_MATCH);
        for h in headers.iter() {
            any = true;
            let text = h
                .to_str()
                .map_err(|_| ApiError::bad("If-Match", "not ASCII"))?;
            for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    return Ok(IfMatch(None));
                }
                let quoted = tag.strip_prefix("W/").unwrap_or(tag);
                if !(quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"')) {
                    return Err(ApiError::bad(
                        "If-Match",
                        format!("{tag:?} is not a quoted entity tag such as \"0123456789abcdef\""),
                    ));
                }
                if tag.starts_with("W/") {
                    continue;
                }
                if let Ok(v) = u64::from_str_radix(&quoted[1..quoted.len() - 1], 16) {
                    versions.push(v);
                }
            }
        }
        Ok(IfMatch(any.then_some(versions)))
    }
}

/// `ETag` of an annotation: its version, as a strong entity tag.
fn etag(a: &Annotation) -> [(axum::http::HeaderName, String); 1] {
    [(
        axum::http::header::ETAG,
        format!("\"{:016x}\"", a.version()),
    )]
}

/// One annotation's JSON (derived fields, `fields`/`omit`) with its `ETag`.
fn tagged(r: &Req, a: &Annotation) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let v = derived(r, a)?;
    Ok((etag(a), Json(super::one(&r.exact, &r.actor, &r.q, v))).into_response())
}

async fn show(r: Req, Id(id): Id) -> ApiResult<axum::response::Response> {
    crate::blocking(move || tagged(&r, &r.exact.annotations().get(&r.actor, AnnotationId(id))?))
        .await
}

fn new_of(b: &Obj) -> ApiResult<NewAnnotation> {
    Ok(exact_core::wire::new_annotation(b, None)?)
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    match body.0 {
        Value::Array(items) => {
            let news = items
                .into_iter()
                .enumerate()
                .map(|(n, v)| match v {
                    Value::Object(m) => new_of(&Obj(m)).map_err(|e| at(n, e)),
                    _ => Err(ApiError::bad(format!("{n}"), "expected an object")),
                })
                .collect::<ApiResult<Vec<_>>>()?;
            crate::blocking(move || {
                let created = r.exact.annotations().create_many(&r.actor, news)?;
                let mut items: Vec<Value> = created.iter().map(json).collect();
                derive(&r, &mut items)?;
                r.q.shape(&mut items);
                Ok((StatusCode::CREATED, Json(Value::Array(items))))
            })
            .await
        }
        other => {
            let mut new = new_of(&Body(other).object()?)?;
            // The requester is the creator unless a superuser imports for someone else.
            if new.user == Some(r.actor.user) {
                new.user = None;
            }
            r.created(move |r| derived(r, &r.exact.annotations().create(&r.actor, new)?))
                .await
        }
    }
}

/// Prefixes a bulk item's error with its index.
fn at(n: usize, e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest { field, reason }
        | ApiError::Core(exact_core::Error::InvalidInput { field, reason }) => {
            ApiError::bad(format!("{n}.{field}"), reason)
        }
        other => other,
    }
}

/// PATCH/PUT: with `If-Match`, only if the annotation is still at that version (else 412 and
/// nothing written); the answer carries the new `ETag`.
async fn update(
    r: Req,
    Id(id): Id,
    IfMatch(if_match): IfMatch,
    body: Body,
) -> ApiResult<axum::response::Response> {
    let mut patch = exact_core::wire::annotation_patch(&body.object()?)?;
    if if_match.is_some() {
        // The header wins over an `if_match` field of the body.
        patch.if_match = if_match;
    }
    crate::blocking(move || {
        let a = r
            .exact
            .annotations()
            .update(&r.actor, AnnotationId(id), patch)?;
        tagged(&r, &a)
    })
    .await
}

async fn destroy(r: Req, Id(id): Id, IfMatch(if_match): IfMatch) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        r.exact
            .annotations()
            .trash_if(&r.actor, AnnotationId(id), if_match)?;
        Ok(())
    })
    .await
}

/// `DELETE multiple_delete/?id__in=1,2,3`: EXACT's delete (gone from every read) into the
/// trash, restorable. All or nothing: every id must be one the requester may edit, checked
/// before one atomic batch deletes them all.
async fn multiple_delete(r: Req) -> ApiResult<Json<Value>> {
    let ids =
        r.q.ids("id__in")?
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::Core(exact_core::Error::not_found(
                    "annotations: give id__in=1,2,3",
                ))
            })?;
    crate::blocking(move || {
        let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
        let deleted = r.exact.annotations().trash_many(&r.actor, &ids)?;
        Ok(Json(serde_json::json!({ "deleted": deleted.len() })))
    })
    .await
}

/// `POST <id>/restore/`: puts a trashed annotation back (a new history entry).
async fn restore(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let mut back = r
            .exact
            .annotations()
            .restore_trashed(&r.actor, &[AnnotationId(id)])?;
        derived(r, &back.remove(0))
    })
    .await
}

/// `GET trash/?image=`: the image's trashed annotations the requester could restore.
async fn trash(r: Req) -> ApiResult<Json<Value>> {
    let image =
        r.q.u64("image")?
            .ok_or_else(|| ApiError::bad("image", "give ?image=<id>"))?;
    r.list(&["image"], move |r| {
        Ok(r.exact
            .annotations()
            .trashed(&r.actor, ImageId(image))?
            .iter()
            .map(json)
            .collect())
    })
    .await
}
