//! EXACT's image registrations at `/api/v1/images/registration/` (EXACT-Sync's
//! `ImageRegistrationApi`): list / create / read / PATCH / DELETE, `convert_coodinates/`
//! (EXACT's spelling; GET `?vector=` → 202 the vector on the target image) and
//! `create_inverse_registration/` (→ 201). Automatic estimation (`images/<id>/register_images/`)
//! is not implemented yet and says so.

use super::{Body, Req, json, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::NewRegistration;
use exact_core::model::{Homography, ImageRegistration};
use exact_core::{ImageId, RegistrationId, Vector};
use serde_json::{Value, json};

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
        .route("/api/v1/images/images/{id}/register_images/", post(not_yet))
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

/// Automatic estimation is not implemented yet: a 501 that says what to do instead.
async fn not_yet(r: Req, super::Id(id): super::Id) -> ApiResult<(StatusCode, Json<Value>)> {
    crate::blocking(move || {
        r.exact.images().get(&r.actor, ImageId(id))?;
        Ok((
            StatusCode::NOT_IMPLEMENTED,
            Json(json!({"detail": "automatic registration is not implemented by exact-rs yet: POST a transformation_matrix to /api/v1/images/registration/"})),
        ))
    })
    .await
}
