//! `annotations/annotations/`: annotations of the requester's images. POST takes one object or
//! a JSON list (bulk create → list); client `time`/`last_edit_time` are kept as sent; DELETE is
//! a soft delete (nothing a user made is lost). List filters map onto the library's viewport
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
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::model::Annotation;
use exact_core::{AnnotationId, AnnotationTypeId, BBox, ImageId, UserId, Vector};
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
}

/// The parameters handled by the viewport query rather than the generic filters.
const QUERY_PARAMS: &[&str] = &[
    "image",
    "image__in",
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

/// A viewport side given by `vector_x_min` & co.; the open sides are bounded by the image when
/// the query runs (a grid query walks the cells of its rectangle, so it must stay finite).
type Sides = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);

fn bounded(sides: Sides, width: u64, height: u64) -> BBox {
    let (x0, y0, x1, y1) = sides;
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    BBox::new(
        x0.unwrap_or(0.0).clamp(-w, 2.0 * w),
        y0.unwrap_or(0.0).clamp(-h, 2.0 * h),
        x1.unwrap_or(w).clamp(-w, 2.0 * w),
        y1.unwrap_or(h).clamp(-h, 2.0 * h),
    )
}

/// A viewport side: a number, and a finite one (`nan`, `inf` parse as floats but bound
/// nothing).
pub(crate) fn finite(q: &ListQuery, name: &str) -> ApiResult<Option<f64>> {
    match q.f64(name)? {
        Some(v) if !v.is_finite() => {
            Err(ApiError::bad(name, format!("{v} is not a finite number")))
        }
        other => Ok(other),
    }
}

fn query_of(q: &ListQuery) -> ApiResult<(AnnotationQuery, Option<Sides>)> {
    let mut types: Option<Vec<AnnotationTypeId>> = None;
    if let Some(t) = q.u64("annotation_type")? {
        types = Some(vec![AnnotationTypeId(t)]);
    }
    if let Some(ts) = q.ids("annotation_type__in")? {
        types = Some(ts.into_iter().map(AnnotationTypeId).collect());
    }
    let (x0, x1, y0, y1) = (
        finite(q, "vector_x_min")?,
        finite(q, "vector_x_max")?,
        finite(q, "vector_y_min")?,
        finite(q, "vector_y_max")?,
    );
    let viewport =
        (x0.is_some() || x1.is_some() || y0.is_some() || y1.is_some()).then_some((x0, y0, x1, y1));
    Ok((
        AnnotationQuery {
            viewport: None,
            annotation_types: types,
            // EXACT's API lists deleted annotations too unless asked.
            deleted: q.bool("deleted")?,
            user: q.u64("user")?.map(UserId),
            edited_since: match q.get("last_edit_time__gte") {
                Some(t) => Some(exact_core::Timestamp::parse("last_edit_time__gte", t)?),
                None => None,
            },
        },
        viewport,
    ))
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

/// The annotations the list query selects (images, types, viewport, deleted, user, time).
fn select(r: &Req) -> ApiResult<Vec<Annotation>> {
    let (mut query, sides) = query_of(&r.q)?;
    let mut images: Vec<u64> = Vec::new();
    if let Some(i) = r.q.u64("image")? {
        images.push(i);
    }
    if let Some(is) = r.q.ids("image__in")? {
        images.extend(is);
    }
    if images.is_empty() {
        images = r
            .exact
            .images()
            .list(&r.actor)?
            .iter()
            .map(|i| i.id.0)
            .collect();
    }
    images.sort_unstable();
    images.dedup();
    let mut items = Vec::new();
    for image in images {
        if let Some(sides) = sides {
            let i = r.exact.images().get(&r.actor, ImageId(image))?;
            query.viewport = Some(bounded(sides, i.width, i.height));
        }
        items.extend(
            r.exact
                .annotations()
                .query(&r.actor, ImageId(image), &query)?,
        );
    }
    Ok(items)
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
        let mut items = select(&r)?;
        if let Some(first) = items.first()
            && r.q.filters(&json(first), QUERY_PARAMS)?
        {
            // Generic filters work on JSON: the general path.
            let v = r.q.filter(items.iter().map(json).collect(), QUERY_PARAMS)?;
            let keep: std::collections::HashSet<u64> =
                v.iter().filter_map(|v| v["id"].as_u64()).collect();
            items.retain(|a| keep.contains(&a.id.0));
        }
        items.sort_by_key(|a| a.id.0);
        let count = items.len();
        let page = &items[crate::pagination::window(&r.q, count)?];
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
        let bytes = serde_json::to_vec(&body).map_err(|e| {
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
    if let Some(other) =
        r.q.names()
            .find(|n| !QUERY_PARAMS.contains(n) || *n == "image__in")
    {
        return Err(ApiError::bad(
            other,
            "not a filter of annotation counts (image, annotation_type(__in), deleted, user, last_edit_time__gte, vector_x/y_min/max)",
        ));
    }
    let image =
        r.q.u64("image")?
            .ok_or_else(|| ApiError::bad("image", "counts are of one image: give image=<id>"))?;
    crate::blocking(move || {
        let (mut query, sides) = query_of(&r.q)?;
        if let Some(sides) = sides {
            let i = r.exact.images().get(&r.actor, ImageId(image))?;
            query.viewport = Some(bounded(sides, i.width, i.height));
        }
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

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| derived(r, &r.exact.annotations().get(&r.actor, AnnotationId(id))?))
        .await
}

fn new_of(b: &Obj) -> ApiResult<NewAnnotation> {
    let annotation_type = AnnotationTypeId(b.req_u64("annotation_type")?);
    let image = ImageId(b.req_u64("image")?);
    let mut new = NewAnnotation::new(annotation_type, image, b.parse::<Vector>("vector")?);
    new.concealed = b.bool("concealed")?.unwrap_or(false);
    new.blurred = b.bool("blurred")?.unwrap_or(false);
    new.description = b.str("description")?.unwrap_or_default();
    new.meta_data = b.raw("meta_data").cloned().unwrap_or(Value::Null);
    new.unique_identifier = b.parse("unique_identifier")?;
    new.deleted = b.bool("deleted")?.unwrap_or(false);
    new.time = b.time("time")?;
    new.last_edit_time = b.time("last_edit_time")?;
    new.user = b.u64("user")?.map(UserId);
    Ok(new)
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
        ApiError::BadRequest { field, reason } => ApiError::bad(format!("{n}.{field}"), reason),
        other => other,
    }
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let patch = AnnotationPatch {
        annotation_type: b.u64("annotation_type")?.map(AnnotationTypeId),
        vector: if b.has("vector") {
            Some(b.parse::<Vector>("vector")?)
        } else {
            None
        },
        deleted: b.bool("deleted")?,
        concealed: b.bool("concealed")?,
        blurred: b.bool("blurred")?,
        description: b.str("description")?,
        meta_data: b.raw("meta_data").cloned(),
        unique_identifier: b.parse("unique_identifier")?,
        last_edit_time: b.time("last_edit_time")?,
    };
    r.one(move |r| {
        let a = r
            .exact
            .annotations()
            .update(&r.actor, AnnotationId(id), patch)?;
        derived(r, &a)
    })
    .await
}

async fn destroy(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        r.exact.annotations().delete(&r.actor, AnnotationId(id))?;
        Ok(())
    })
    .await
}

/// `DELETE multiple_delete/?id__in=1,2,3`: EXACT hard-deletes; here each is soft-deleted (kept
/// with its history, hidden from `deleted=False` lists). All or nothing: every id must be one
/// the requester may edit, checked before one atomic batch deletes them all.
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
        let deleted = r.exact.annotations().delete_many(&r.actor, &ids)?;
        Ok(Json(serde_json::json!({ "deleted": deleted.len() })))
    })
    .await
}
