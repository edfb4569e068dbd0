//! `images/images/`: image metadata of the requester's sets. Uploads and tiles are another
//! module's; a JSON/form POST here registers an image's metadata (EXACT-Sync's `index_image`).

use super::{Authed, Body, Id, blocking, json, list, one};
use crate::AppState;
use crate::body::Obj;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{ImagePatch, NewImage};
use exact_core::model::ImageType;
use exact_core::{ImageId, ImageSetId};
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
}

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let items = s.exact.images().list(&actor)?.iter().map(json).collect();
        // EXACT-Sync spells the filter `objective_power`; the field is `objectivePower`.
        let mut q = q;
        for (k, _) in q.params.iter_mut() {
            if let Some(rest) = k.strip_prefix("objective_power") {
                *k = format!("objectivePower{rest}");
            }
        }
        list(&s.exact, &actor, &q, items, &[]).map(Json)
    })
    .await
}

async fn show(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let i = s.exact.images().get(&actor, ImageId(id))?;
        Ok(Json(one(&s.exact, &actor, &q, json(&i))))
    })
    .await
}

fn patch_of(b: &Obj) -> ApiResult<ImagePatch> {
    Ok(ImagePatch {
        name: b.str("name")?,
        filename: b.str("filename")?,
        mpp: b.f64("mpp")?,
        objective_power: match b.f64("objectivePower")? {
            Some(v) => Some(v),
            None => b.f64("objective_power")?,
        },
        width: b.u64("width")?,
        height: b.u64("height")?,
        depth: b.u32("depth")?,
        frames: b.u32("frames")?,
        channels: b.u32("channels")?,
        image_type: b.parse::<ImageType>("image_type")?,
        default_frame: b.u32("defaultFrame")?,
        image_set: b.u64("image_set")?.map(ImageSetId),
        checksum: b.str("checksum")?,
    })
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
    let b = body.object()?;
    let set = ImageSetId(b.req_u64("image_set")?);
    let name = b.req_str("name")?;
    let p = patch_of(&b)?;
    let mut new = NewImage::new(set, name, p.width.unwrap_or(0), p.height.unwrap_or(0));
    if let Some(v) = p.filename {
        new.filename = v;
    }
    if let Some(v) = p.mpp {
        new.mpp = v;
    }
    if let Some(v) = p.objective_power {
        new.objective_power = v;
    }
    if let Some(v) = p.depth {
        new.depth = v;
    }
    if let Some(v) = p.frames {
        new.frames = v;
    }
    if let Some(v) = p.channels {
        new.channels = v;
    }
    if let Some(v) = p.image_type {
        new.image_type = v;
    }
    if let Some(v) = p.default_frame {
        new.default_frame = v;
    }
    if let Some(v) = p.checksum {
        new.checksum = v;
    }
    if new.image_type == ImageType::FileLink {
        crate::ingest::link_slide(&actor, &mut new).await?;
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
