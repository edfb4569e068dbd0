//! `/api/v1/auth/`: the browser's session. `login/` (JSON or form `username`, `password`)
//! sets the HttpOnly, SameSite=Lax `sessionid` cookie and the script-readable `csrftoken`
//! cookie (the session's CSRF token) that unsafe requests repeat as `X-CSRFToken`; `logout/`
//! ends the session, `logout_all/` every session of the requester (tokens stay); `me/` is the
//! requester and says whether self-registration is open (`registration_open`, also in its 401
//! for anonymous pages); `register/` creates a plain account when the server was started with
//! `--allow-registration` (403 with the reason otherwise).
//!
//! Login CSRF: another site could otherwise post its own credentials to `login/` and have the
//! victim's browser work (and upload) in the attacker's account. A browser names the page a
//! request comes from (`Sec-Fetch-Site`, `Origin`, `Referer`); a login from another site is
//! refused. Clients that are not browsers send none of them and are not affected.

use super::{Body, Req, json};
use crate::AppState;
use crate::auth::{CSRF_COOKIE, Cookies, SESSION_COOKIE, SESSION_TTL};
use crate::error::{ApiError, ApiResult};
use crate::serve::ClientAddr;
use axum::extract::{Extension, State};
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
        .route("/api/v1/auth/logout_all/", post(logout_all))
        .route("/api/v1/auth/register/", post(register))
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

fn secure(s: &AppState, headers: &HeaderMap) -> bool {
    s.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https")
}

/// Refuses a login a browser sends from another site's page: `Sec-Fetch-Site` must be
/// `same-origin` or `none` (typed or bookmarked), and `Origin` or else `Referer` must name this
/// server (the public URL when one is set, else the `Host` the request was sent to).
fn same_origin(s: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let refuse = |why: String| {
        Err(ApiError::Core(exact_core::Error::denied(format!(
            "CSRF Failed: {why}; log in from this server's own login page."
        ))))
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return refuse(format!("the login was sent from a {site} page"));
    }
    let expected = match &s.public_url {
        Some(u) => authority(u.as_str()),
        None => header("host").map(str::to_ascii_lowercase),
    };
    let from = match (header("origin"), header("referer")) {
        (Some(o), _) => Some(o),
        (None, Some(r)) => Some(r),
        (None, None) => None,
    };
    if let Some(from) = from {
        let got = authority(from);
        if got.is_none() || got != expected {
            return refuse(format!("the login was sent from {from:?}, another origin"));
        }
    }
    Ok(())
}

/// `host[:port]` of an absolute URL, lower-case.
fn authority(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

pub(super) fn user_json(v: Value) -> Value {
    let mut v = v;
    if let Value::Object(m) = &mut v {
        m.remove("points");
    }
    v
}

async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    same_origin(&s, &headers)?;
    let b = body.object()?;
    let username = b.req_str("username")?;
    let password = b.req_str("password")?;
    let https = secure(&s, &headers);
    let client = client.map(|c| c.0.0);
    let (user, secret, csrf) = crate::blocking(move || {
        let id = s.auth.basic(&s.exact, &username, &password, client)?;
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
    let https = secure(&s, &headers);
    if let Some(secret) = cookies.get(SESSION_COOKIE).map(str::to_owned) {
        crate::blocking(move || s.auth.end_session(&r.exact, &secret)).await?;
    }
    Ok((
        AppendHeaders([
            (SET_COOKIE, cookie(SESSION_COOKIE, "", true, 0, https)),
            (SET_COOKIE, cookie(CSRF_COOKIE, "", false, 0, https)),
        ]),
        Json(json!({ "detail": "Logged out." })),
    ))
}

async fn me(State(s): State<AppState>, r: Result<Req, ApiError>) -> axum::response::Response {
    let open = s.allow_registration;
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            let mut res = e.into_response();
            // The login page asks anonymously whether to offer a sign-up form.
            if res.status() == axum::http::StatusCode::UNAUTHORIZED {
                let detail = "Authentication credentials were not provided.";
                *res.body_mut() = axum::body::Body::from(
                    json!({"detail": detail, "registration_open": open}).to_string(),
                );
                res.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
            }
            return res;
        }
    };
    r.one(move |r| {
        let mut v = user_json(json(&r.exact.users().get(&r.actor, r.actor.user)?));
        v["registration_open"] = Value::Bool(open);
        Ok(v)
    })
    .await
    .into_response()
}

async fn logout_all(r: Req) -> ApiResult<Json<Value>> {
    r.one(|r| {
        let n = r.exact.accounts().logout_all(&r.actor)?;
        Ok(json!({ "detail": "Logged out everywhere.", "sessions_ended": n }))
    })
    .await
}

async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    if !s.allow_registration {
        return Err(ApiError::Core(exact_core::Error::denied(
            "self-registration is off on this server: ask an administrator for an account",
        )));
    }
    same_origin(&s, &headers)?;
    let b = body.object()?;
    let new = exact_core::catalog::NewUser {
        username: b.req_str("username")?,
        email: b.str("email")?.unwrap_or_default(),
        ..Default::default()
    };
    let password = b.req_str("password")?;
    let user =
        crate::blocking(move || Ok(s.exact.trusted_accounts().register(new, Some(&password))?))
            .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(user_json(json(&user))),
    ))
}
