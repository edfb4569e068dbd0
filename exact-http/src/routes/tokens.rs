//! `/users/api/tokens/`: the requester's personal access tokens. POST `{name,
//! expires_in_days?}` (or an absolute `expires_at`) answers the secret once; only its digest is
//! stored. `…/<id>/revoke/` revokes one. The rules (the reserved name, expiry bounds) are the
//! accounts use cases'.

use super::{Authed, Body, Id, blocking};
use crate::AppState;
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
        let tokens = s.exact.accounts().tokens(&actor)?;
        Ok(Json(Value::Array(tokens.iter().map(render).collect())))
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
    let expires = b.time("expires_at")?;
    let days = b.u32("expires_in_days")?;
    blocking(move || {
        let accounts = s.exact.accounts();
        let expires = match days {
            Some(d) => Some(exact_core::catalog::expiry_in_days(
                s.exact.catalog().now(),
                d,
            )?),
            None => expires,
        };
        let t = accounts.mint_token(&actor, &name, expires)?;
        let mut v = render(&t.token);
        v["token"] = Value::String(t.secret);
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
        let t = s.exact.accounts().revoke_token(&actor, AccessTokenId(id))?;
        Ok(Json(render(&t)))
    })
    .await
}
