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
use exact_core::catalog::{AnnotationList, AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::model::Annotation;
use exact_core::{AnnotationId, AnnotationTypeId, BBox, ImageId, UserId, Vector, VectorType};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/annotations/annotations/", get(index).post(create))
        .route(
            "/api/v1/annotations/annotations/multiple_delete/",
            axum::routing::delete(multiple_delete),
        )
        .route(
            "/api/v1/annotations/annotations/{id}/",
            get(show).patch(update).put(update).delete(destroy),
        )
}

/// The parameters handled by the library's list query rather than the generic filters.
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
    "id",
    "id__in",
    "vector_type",
    "vector_type__in",
    "verified_by",
    "verified_by__in",
    "verified_by__range",
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

/// The library's list query for the request's filters (images, types, viewport, deleted,
/// user, edit time, ids, vector type, verifier), without a window.
fn list_of(r: &Req) -> ApiResult<AnnotationList> {
    let (query, sides) = query_of(&r.q)?;
    let mut images: Vec<ImageId> = Vec::new();
    if let Some(i) = r.q.u64("image")? {
        images.push(ImageId(i));
    }
    if let Some(is) = r.q.ids("image__in")? {
        images.extend(is.into_iter().map(ImageId));
    }
    let mut query = query;
    if let Some(sides) = sides {
        // The open sides are bounded by the image; the library clamps the rest.
        query.viewport = Some(bounded(sides, u32::MAX as u64, u32::MAX as u64));
    }
    let mut ids: Option<Vec<AnnotationId>> = None;
    if let Some(i) = r.q.u64("id")? {
        ids = Some(vec![AnnotationId(i)]);
    }
    if let Some(is) = r.q.ids("id__in")? {
        ids = Some(is.into_iter().map(AnnotationId).collect());
    }
    let mut vector_types: Option<Vec<VectorType>> = None;
    for name in ["vector_type", "vector_type__in"] {
        if let Some(codes) = r.q.ids(name)? {
            vector_types = Some(
                codes
                    .into_iter()
                    .map(|c| {
                        VectorType::from_code(c as i64).ok_or_else(|| {
                            ApiError::bad(name, format!("{c} is not a vector type (1 to 7)"))
                        })
                    })
                    .collect::<ApiResult<_>>()?,
            );
        }
    }
    let mut verified_by = None;
    if let Some(u) = r.q.u64("verified_by")? {
        verified_by = Some((UserId(u), UserId(u)));
    }
    if let Some(v) = r.q.get("verified_by__range") {
        let bad = || {
            ApiError::bad(
                "verified_by__range",
                format!("expected two user ids a,b, got {v:?}"),
            )
        };
        let (a, b) = v.split_once(',').ok_or_else(bad)?;
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        verified_by = Some((UserId(a), UserId(b)));
    }
    Ok(AnnotationList {
        images,
        query,
        ids,
        vector_types,
        verified_by,
        offset: 0,
        limit: None,
    })
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
