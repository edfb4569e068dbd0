//! EXACT's image registrations at `/api/v1/images/registration/` (EXACT-Sync's
//! `ImageRegistrationApi`): list / create / read / PATCH / DELETE, `convert_coodinates/`
//! (EXACT's spelling; GET `?vector=` → 202 the vector on the target image) and
//! `create_inverse_registration/` (→ 201), and automatic estimation at
//! `images/<id>/register_images/` (POST `target_image`, optional `thumbnail_size` and
//! `create_inverse_registration`; → 201 created or 202 recomputed).

use super::{Body, Req, json, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::NewRegistration;
use exact_core::model::{Homography, ImageRegistration};
use exact_core::{ImageId, RegistrationId, Vector};
use exact_store::registration::RegisterOptions;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    let base = "/api/v1/images/registration";
    Router::new()
        .route(&format!("{base}/"), get(index).post(create))
        .route(
            &format!("{base}/{{id}}/"),
            get(show).patch(update).put(update).delete(destroy),
        )
        .route(
            &format!("{base}/{{id}}/convert_coodinates/"),
            get(convert).post(convert),
        )
        .route(
            &format!("{base}/{{id}}/create_inverse_registration/"),
            get(inverse).post(inverse),
        )
        .route(
            "/api/v1/images/images/{id}/register_images/",
            post(register_images),
        )
}

fn render(r: &ImageRegistration) -> Value {
    with(json(r), "file", Value::Null)
}

/// A matrix: an object `{t_00 … t_22}` or its JSON text (form posts).
fn matrix(b: &exact_core::wire::Obj) -> ApiResult<Option<Homography>> {
    let v = match b.raw("transformation_matrix") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|e| ApiError::bad("transformation_matrix", format!("invalid JSON: {e}")))?,
        Some(v) => v.clone(),
    };
    serde_json::from_value(v).map(Some).map_err(|e| {
        ApiError::bad(
            "transformation_matrix",
            format!("{e} (expected t_00 … t_22)"),
        )
    })
}

fn number(b: &exact_core::wire::Obj, key: &'static str) -> ApiResult<Option<f64>> {
    match b.raw(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad(key, format!("{s:?} is not a number"))),
        Some(v) => Err(ApiError::bad(key, format!("{v} is not a number"))),
    }
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .image_registrations()
            .list(&r.actor)?
            .iter()
            .map(render)
            .collect())
    })
    .await
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let new = NewRegistration {
        source_image: ImageId(b.req_u64("source_image")?),
        target_image: ImageId(b.req_u64("target_image")?),
        transformation_matrix: matrix(&b)?.unwrap_or(Homography::IDENTITY),
        registration_error: number(&b, "registration_error")?.unwrap_or(-1.0),
        runtime: number(&b, "runtime")?.unwrap_or(-1.0),
    };
    crate::blocking(move || {
        let made = r.exact.image_registrations().create(&r.actor, new)?;
        Ok((StatusCode::CREATED, Json(render(&made))))
    })
    .await
}

async fn show(r: Req, super::Id(id): super::Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let got = r
            .exact
            .image_registrations()
            .get(&r.actor, RegistrationId(id))?;
        Ok(Json(render(&got)))
    })
    .await
}

async fn update(r: Req, super::Id(id): super::Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let (m, e, t) = (
        matrix(&b)?,
        number(&b, "registration_error")?,
        number(&b, "runtime")?,
    );
    crate::blocking(move || {
        let got = r
            .exact
            .image_registrations()
            .update(&r.actor, RegistrationId(id), m, e, t)?;
        Ok(Json(render(&got)))
    })
    .await
}

async fn destroy(r: Req, super::Id(id): super::Id) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact
            .image_registrations()
            .delete(&r.actor, RegistrationId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `?vector={"x1": …, "y1": …, …}` → 202 the vector in target coordinates.
async fn convert(r: Req, super::Id(id): super::Id) -> ApiResult<(StatusCode, Json<Value>)> {
    let raw =
        r.q.get("vector")
            .ok_or_else(|| ApiError::bad("vector", "This query parameter is required."))?
            .to_owned();
    let v: Value = serde_json::from_str(&raw)
        .map_err(|e| ApiError::bad("vector", format!("invalid JSON: {e}")))?;
    let vector = Vector::from_json(&v)?
        .ok_or_else(|| ApiError::bad("vector", "a vector with at least one node"))?;
    crate::blocking(move || {
        let out = r
            .exact
            .image_registrations()
            .convert(&r.actor, RegistrationId(id), &vector)?;
        Ok((StatusCode::ACCEPTED, Json(out.to_json())))
    })
    .await
}

async fn inverse(r: Req, super::Id(id): super::Id) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::blocking(move || {
        let made = r
            .exact
            .image_registrations()
            .create_inverse(&r.actor, RegistrationId(id))?;
        Ok((StatusCode::CREATED, Json(render(&made))))
    })
    .await
}

/// EXACT's `register_images`: estimates the registration of image `id` onto `target_image`
/// from their pixels and stores it (201 new, 202 recomputed). EXACT's feature-matching knobs
/// (`maxFeatures`, `flann`, `ratio` …) are accepted and ignored: the estimate is exact-rs's
/// own (tissue masks, rotation/flip search, patch refinement).
async fn register_images(
    r: Req,
    super::Id(id): super::Id,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let target = ImageId(b.req_u64("target_image")?);
    let mut opts = RegisterOptions::default();
    match b.raw("thumbnail_size") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let side = match v {
                Value::Array(a) => a.iter().filter_map(Value::as_u64).max(),
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|p| p.parse::<u64>().ok())
                    .max(),
                _ => None,
            };
            let side = side.filter(|s| (128..=4096).contains(s)).ok_or_else(|| {
                ApiError::bad(
                    "thumbnail_size",
                    format!("{v} is not a size from 128 to 4096 pixels (e.g. [1024, 1024])"),
                )
            })?;
            opts.thumbnail_size = side as u32;
        }
    }
    let inverse = match b.raw("create_inverse_registration") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(v)) => *v,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "on"),
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(v) => {
            return Err(ApiError::bad(
                "create_inverse_registration",
                format!("{v} is not a boolean"),
            ));
        }
    };
    let done = r
        .exact
        .register_images(&r.actor, ImageId(id), target, opts, inverse)
        .await?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(render(&done.registration))))
}
