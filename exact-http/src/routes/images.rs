//! `images/images/`: image metadata of the requester's sets. Uploads and tiles are another
//! module's; a JSON/form POST here registers an image's metadata (EXACT-Sync's `index_image`).

use super::{Authed, Body, Id, blocking, json, list, one, with};
use crate::AppState;
use crate::body::Obj;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::ImageId;
use exact_core::catalog::ImagePatch;
use exact_core::model::ImageType;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/images/images/",
            get(index)
                .post(create_or_upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/images/images/{id}/",
            get(show).patch(update).put(update).delete(destroy),
        )
        .route(
            "/api/v1/images/images/{id}/channels/",
            get(channels).put(set_channels).patch(set_channels),
        )
}

/// The composited channels of an image as they are shown: name, colour (`#rrggbb`), window
/// (`min`, `max` stored values), bits, and whether the image's own settings chose them.
async fn channels(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let (e, a) = (s.exact.clone(), actor.clone());
    let image = blocking(move || Ok(e.images().get(&a, ImageId(id))?)).await?;
    let slide = s.pixels.slide(&image).await?;
    let ranges = slide
        .display_ranges()
        .await
        .map_err(|e| crate::pixels::slide_error(&image.name, e))?;
    let items: Vec<Value> = slide
        .channels()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let [r, g, b] = c.color;
            let (lo, hi) = ranges.get(i).copied().unwrap_or((0, 255));
            serde_json::json!({
                "channel": i, "name": c.name, "color": format!("#{r:02x}{g:02x}{b:02x}"),
                "min": lo, "max": hi, "bits": c.bits,
                "custom": image.channel_display.iter().any(|d| d.channel as usize == i),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({"image": id, "channels": items})))
}

/// Sets the display of an image's channels (edit rights on its set): `{"channels": [{channel,
/// color?, min?, max?}, …]}` (or the list alone) replaces the settings; `[]` restores the
/// file's colours and the automatic windows. Answers as `GET` does, with the new display.
async fn set_channels(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    body: Body,
) -> ApiResult<Json<Value>> {
    let mut list = match body.0 {
        Value::Object(mut o) => o
            .remove("channels")
            .ok_or_else(|| crate::error::ApiError::bad("channels", "This field is required."))?,
        other => other,
    };
    // A form sends the list as JSON text.
    if let Value::String(text) = &list {
        list = serde_json::from_str(text).map_err(|e| {
            crate::error::ApiError::bad("channels", format!("not a JSON list: {e}"))
        })?;
    }
    let settings: Vec<exact_core::model::ChannelDisplay> = serde_json::from_value(list)
        .map_err(|e| crate::error::ApiError::bad("channels", e.to_string()))?;
    let patch = ImagePatch {
        channel_display: Some(settings),
        ..ImagePatch::default()
    };
    let (e, a) = (s.exact.clone(), actor.clone());
    let image = blocking(move || Ok(e.images().update(&a, ImageId(id), patch)?)).await?;
    s.pixels.invalidate(&image);
    channels(State(s), Authed(actor), Id(id)).await
}

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let images = s.exact.images().list(&actor)?;
        let images = custom_filters(&s.exact, &actor, &q, images)?;
        let with_ids = wants_annotation_ids(&q);
        let items = images
            .iter()
            .map(|i| {
                let v = json(i);
                if !with_ids {
                    return Ok(v);
                }
                Ok(with(
                    v,
                    "annotations",
                    annotation_ids(&s.exact, &actor, i.id)?,
                ))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        // EXACT-Sync spells the filter `objective_power`; the field is `objectivePower`.
        let mut q = q;
        for (k, _) in q.params.iter_mut() {
            if let Some(rest) = k.strip_prefix("objective_power") {
                *k = format!("objectivePower{rest}");
            }
        }
        list(&s.exact, &actor, &q, items, CUSTOM).map(Json)
    })
    .await
}

/// EXACT's custom image filters, applied before the generic ones.
const CUSTOM: &[&str] = &[
    "annotation_type",
    "num_annotations_min",
    "num_annotations_max",
    "verified",
];

/// `annotation_type=<id>`: images with a live annotation of that type; `num_annotations_min`
/// / `_max`: bounds on the count of live annotations the requester sees; `verified=True`:
/// images with a live annotation someone verified, `False`: with one nobody verified.
fn custom_filters(
    exact: &exact_store::Exact,
    actor: &exact_core::permissions::Actor,
    q: &ListQuery,
    images: Vec<exact_core::model::Image>,
) -> ApiResult<Vec<exact_core::model::Image>> {
    let ty = q.u64("annotation_type")?;
    let min = q.u64("num_annotations_min")?;
    let max = q.u64("num_annotations_max")?;
    let images = match q.bool("verified")? {
        Some(verified) => {
            let ids: Vec<ImageId> = images.iter().map(|i| i.id).collect();
            let keep = exact
                .annotations()
                .images_by_verification(actor, &ids, verified)?;
            images
                .into_iter()
                .filter(|i| keep.contains(&i.id))
                .collect()
        }
        None => images,
    };
    if ty.is_none() && min.is_none() && max.is_none() {
        return Ok(images);
    }
    let mut out = Vec::new();
    for image in images {
        let mut query = exact_core::catalog::AnnotationQuery::default();
        if let Some(t) = ty {
            query.annotation_types = Some(vec![exact_core::AnnotationTypeId(t)]);
        }
        let n = exact.annotations().count(actor, image.id, &query)? as u64;
        if ty.is_some() && n == 0 {
            continue;
        }
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            continue;
        }
        out.push(image);
    }
    Ok(out)
}

/// EXACT lists the ids of an image's annotations unless the client leaves them out
/// (`omit=annotations`, as EXACT-Sync always does, or `fields` without them).
fn wants_annotation_ids(q: &ListQuery) -> bool {
    let names = |key: &str| {
        q.get(key)
            .map(|v| v.split(',').any(|f| f.trim() == "annotations"))
    };
    !matches!(
        (names("omit"), names("fields")),
        (Some(true), _) | (_, Some(false))
    )
}

fn annotation_ids(
    exact: &exact_store::Exact,
    actor: &exact_core::permissions::Actor,
    image: ImageId,
) -> ApiResult<Value> {
    let mut ids = Vec::new();
    exact.annotations().query_each(
        actor,
        image,
        &exact_core::catalog::AnnotationQuery::default(),
        |a| ids.push(Value::from(a.id.0)),
    )?;
    Ok(Value::Array(ids))
}

async fn show(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let i = s.exact.images().get(&actor, ImageId(id))?;
        let mut v = json(&i);
        if wants_annotation_ids(&q) {
            v = with(v, "annotations", annotation_ids(&s.exact, &actor, i.id)?);
        }
        Ok(Json(one(&s.exact, &actor, &q, v)))
    })
    .await
}

fn patch_of(b: &Obj) -> ApiResult<ImagePatch> {
    Ok(exact_core::wire::image_patch(b)?)
}

/// Multipart bodies are uploads; JSON and form bodies register an image by its metadata, or a
/// slide by URL (`image_type` 2, `filename` = `s3://…`, `file:///…` or a server path;
/// superusers only, since the server reads the URL with its own credentials).
async fn create_or_upload(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let multipart = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if multipart {
        use axum::extract::FromRequest;
        let m = axum::extract::Multipart::from_request(req, &s)
            .await
            .map_err(|e| crate::error::ApiError::bad("body", e.body_text()))?;
        return super::files::api_upload(s, actor, q, m).await;
    }
    // Metadata bodies keep the ordinary body limit (the route lifts it for uploads).
    let req = req
        .map(|b| axum::body::Body::new(http_body_util::Limited::new(b, crate::body::BODY_LIMIT)));
    let body = <Body as axum::extract::FromRequest<AppState>>::from_request(req, &s).await?;
    create(s, actor, q, body).await
}

async fn destroy(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    super::files::delete_image(s, actor, id).await
}

async fn create(
    s: AppState,
    actor: exact_core::permissions::Actor,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = exact_core::wire::new_image(&body.object()?)?;
    if new.image_type == ImageType::FileLink {
        let i = s.exact.images().link(&actor, new).await?;
        return Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&i))),
        ));
    }
    blocking(move || {
        let i = s.exact.images().add(&actor, new)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&i))),
        ))
    })
    .await
}

async fn update(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let patch = patch_of(&body.object()?)?;
    blocking(move || {
        let i = s.exact.images().update(&actor, ImageId(id), patch)?;
        Ok(Json(one(&s.exact, &actor, &q, json(&i))))
    })
    .await
}
