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
        .route("/api/v1/images/images/", get(index).post(create))
        .route(
            "/api/v1/images/images/{id}/",
            get(show).patch(update).put(update),
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

async fn create(
    State(s): State<AppState>,
    Authed(actor): Authed,
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
