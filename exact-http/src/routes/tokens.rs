//! `/users/api/tokens/`: the requester's personal access tokens. POST `{name, expires_at?}`
//! answers the secret once; only its digest is stored. `…/<id>/revoke/` revokes one.

use super::{Authed, Body, Id, blocking};
use crate::AppState;
use crate::auth::{SESSION_NAME, new_token};
use crate::error::ApiResult;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::model::{AccessToken, AccessTokenId};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users/api/tokens/", get(index).post(create))
        .route("/users/api/tokens/{id}/revoke/", post(revoke))
}

/// A token without its digest.
fn render(t: &AccessToken) -> Value {
    json!({
        "id": t.id.0,
        "name": t.name,
        "created_at": t.created,
        "expires_at": t.expires,
        "revoked": t.revoked,
    })
}

async fn index(State(s): State<AppState>, Authed(actor): Authed) -> ApiResult<Json<Value>> {
    blocking(move || {
        let tokens = s.exact.catalog().credentials().tokens(actor.user)?;
        // Browser sessions are tokens too, but not personal ones.
        Ok(Json(Value::Array(
            tokens
                .iter()
                .filter(|t| t.name != SESSION_NAME)
                .map(render)
                .collect(),
        )))
    })
    .await
}

async fn create(
    State(s): State<AppState>,
    Authed(actor): Authed,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = match body.0 {
        Value::Null => crate::body::Obj::default(),
        other => crate::body::Body(other).object()?,
    };
    let name = b.str("name")?.unwrap_or_default();
    if name == SESSION_NAME {
        return Err(crate::error::ApiError::bad(
            "name",
            format!("{SESSION_NAME:?} is reserved for browser sessions"),
        ));
    }
    let expires = b.time("expires_at")?;
    blocking(move || {
        let (secret, digest) = new_token();
        let t = s
            .exact
            .catalog()
            .credentials()
            .add_token(actor.user, &name, digest, expires)?;
        let mut v = render(&t);
        v["token"] = Value::String(secret);
        Ok((StatusCode::CREATED, Json(v)))
    })
    .await
}

async fn revoke(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let t = s
            .exact
            .catalog()
            .credentials()
            .revoke(actor.user, AccessTokenId(id))?;
        Ok(Json(render(&t)))
    })
    .await
}
