//! `/api/v1/auth/`: the browser's session. `login/` (JSON or form `username`, `password`)
//! sets the HttpOnly, SameSite=Lax `sessionid` cookie and the script-readable `csrftoken`
//! cookie that unsafe requests repeat as `X-CSRFToken`; `logout/` ends the session; `me/` is
//! the requester.

use super::{Body, Req, json};
use crate::AppState;
use crate::auth::{CSRF_COOKIE, Cookies, SESSION_COOKIE, SESSION_TTL};
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{AppendHeaders, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login/", post(login))
        .route("/api/v1/auth/logout/", post(logout))
        .route("/api/v1/auth/me/", get(me))
}

/// A `Set-Cookie` value; `Secure` when the request came over HTTPS (as a proxy reports it).
fn cookie(name: &str, value: &str, http_only: bool, max_age: u64, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes() == b"https")
}

fn user_json(v: Value) -> Value {
    let mut v = v;
    if let Value::Object(m) = &mut v {
        m.remove("points");
    }
    v
}

async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let b = body.object()?;
    let username = b.req_str("username")?;
    let password = b.req_str("password")?;
    let (user, secret, csrf) = crate::blocking(move || {
        let id = s.auth.basic(&s.exact, &username, &password)?;
        // An inactive user has a password but no actor: no session for them.
        s.exact
            .actor(id)
            .map_err(|_| ApiError::Unauthenticated("User inactive or deleted.".into()))?;
        let (secret, csrf) = s.auth.start_session(&s.exact, id)?;
        let user = s.exact.users().touch_login(id)?;
        Ok((user, secret, csrf))
    })
    .await?;
    let max_age = SESSION_TTL.as_secs();
    let https = secure(&headers);
    Ok((
        AppendHeaders([
            (
                SET_COOKIE,
                cookie(SESSION_COOKIE, &secret, true, max_age, https),
            ),
            (
                SET_COOKIE,
                cookie(CSRF_COOKIE, &csrf, false, max_age, https),
            ),
        ]),
        Json(json!({ "user": user_json(json(&user)), "csrftoken": csrf })),
    ))
}

async fn logout(
    State(s): State<AppState>,
    r: Req,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let cookies = Cookies::from_headers(&headers);
    if let Some(secret) = cookies.get(SESSION_COOKIE).map(str::to_owned) {
        crate::blocking(move || s.auth.end_session(&r.exact, &secret)).await?;
    }
    let https = secure(&headers);
    Ok((
        AppendHeaders([
            (SET_COOKIE, cookie(SESSION_COOKIE, "", true, 0, https)),
            (SET_COOKIE, cookie(CSRF_COOKIE, "", false, 0, https)),
        ]),
        Json(json!({ "detail": "Logged out." })),
    ))
}

async fn me(r: Req) -> ApiResult<Json<Value>> {
    r.one(|r| {
        Ok(user_json(json(
            &r.exact.users().get(&r.actor, r.actor.user)?,
        )))
    })
    .await
}
