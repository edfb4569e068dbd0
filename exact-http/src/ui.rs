//! The browser UI: page shells at EXACT's URLs (`/user/login/`, `/annotations/<image_id>/`,
//! `/annotations/<annotation_id>/verify/`, `/`) and the bundled assets under `/static/`.
//!
//! The bundle (`ui/dist/`, built from `ui/src/` by `scripts/build-ui`) is committed and
//! embedded into the binary, so `exact serve` needs neither Node nor a network. Pages are static
//! shells; all data comes from the authenticated API. A page request without a live session is
//! redirected to the login page here, so the browser never meets the API's Basic challenge on
//! first load; a session that ends while a page is open is handled by the page itself.

use crate::AppState;
use crate::auth::{CSRF_COOKIE, Cookies, SESSION_COOKIE};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::borrow::Cow;
use std::sync::OnceLock;

/// The built bundle, embedded at compile time (also in debug builds: `debug-embed`).
#[derive(rust_embed::Embed)]
#[folder = "ui/dist/"]
struct Assets;

/// The page routes and `/static/*`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/user/login/", get(login))
        .route("/annotations/{id}/", get(viewer))
        .route("/annotations/{id}/verify/", get(verify))
        .route("/static/{*path}", get(asset))
        .merge(manage_routes())
}

/// The management pages (issue 13): home, set, team, product, annotation management,
/// account and administration, at EXACT's URLs where EXACT has one.
fn manage_routes() -> Router<AppState> {
    async fn sets(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
        page(&s, &headers, &uri, "sets", None, "Image sets").await
    }
    async fn account(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
        page(&s, &headers, &uri, "account", None, "My account").await
    }
    async fn admin(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
        page(&s, &headers, &uri, "admin", None, "Administration").await
    }
    macro_rules! with_id {
        ($name:ident, $page:literal, $title:literal) => {
            async fn $name(
                State(s): State<AppState>,
                Path(id): Path<String>,
                headers: HeaderMap,
                uri: Uri,
            ) -> Response {
                match id.parse::<u64>() {
                    Ok(id) => page(&s, &headers, &uri, $page, Some(id), $title).await,
                    Err(_) => not_found(&id),
                }
            }
        };
    }
    with_id!(imageset, "imageset", "Image set");
    with_id!(team, "team", "Team");
    with_id!(product, "product", "Product");
    with_id!(manage, "manage", "Manage annotations");
    Router::new()
        .route("/images/", get(sets))
        .route("/images/imageset/{id}/", get(imageset))
        .route("/users/team/{id}/", get(team))
        .route("/administration/product/{id}/", get(product))
        .route("/annotations/manage/annotation/{id}/", get(manage))
        .route("/users/account/", get(account))
        .route("/administration/", get(admin))
}

/// Hashed names of the entry points, from the build's `manifest.json`.
struct Manifest {
    js: String,
    css: String,
}

fn manifest() -> &'static Manifest {
    static M: OnceLock<Manifest> = OnceLock::new();
    M.get_or_init(|| {
        let parsed: serde_json::Value = Assets::get("manifest.json")
            .and_then(|f| serde_json::from_slice(&f.data).ok())
            .unwrap_or_default();
        let name = |k: &str| parsed[k].as_str().unwrap_or_default().to_owned();
        Manifest {
            js: name("app.js"),
            css: name("app.css"),
        }
    })
}

/// The shell every page shares: the page's name and id for the bundle, and nothing else.
fn shell(page: &str, id: Option<u64>, title: &str) -> Response {
    shell_with(page, id, title, "")
}

/// [`shell`] with extra attributes on `<body>` (` data-…="…"`, from the server only).
fn shell_with(page: &str, id: Option<u64>, title: &str, attrs: &str) -> Response {
    let m = manifest();
    let id = id.map(|i| format!(" data-id=\"{i}\"")).unwrap_or_default() + attrs;
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · EXACT</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/static/{css}\"></head>\
         <body data-page=\"{page}\"{id}><div id=\"app\"><noscript>EXACT needs JavaScript.</noscript></div>\
         <script src=\"/static/{js}\"></script></body></html>\n",
        css = m.css,
        js = m.js,
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                 script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
            ),
        ],
        html,
    )
        .into_response()
}

/// Whether the request carries a live session cookie (a catalog lookup, no password work).
async fn logged_in(state: &AppState, headers: &HeaderMap) -> bool {
    let cookies = Cookies::from_headers(headers);
    let Some(secret) = cookies.get(SESSION_COOKIE).map(str::to_owned) else {
        return false;
    };
    let state = state.clone();
    crate::blocking(move || Ok(state.auth.session(&state.exact, &secret)?.is_some()))
        .await
        .unwrap_or(false)
}

/// The page itself unless the user must log in first (then back here afterwards).
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    page: &str,
    id: Option<u64>,
    title: &str,
) -> Response {
    if !logged_in(state, headers).await {
        let here = uri.path_and_query().map_or("/", |p| p.as_str());
        let next = url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
        return Redirect::to(&format!("/user/login/?next={next}")).into_response();
    }
    shell(page, id, title)
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "detail": format!("Not found: {what} is not a numeric id.") })),
    )
        .into_response()
}

/// `/`: the home page is EXACT's `/images/` (as EXACT redirects its root).
async fn home() -> axum::response::Redirect {
    axum::response::Redirect::to("/images/")
}

async fn viewer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match id.parse::<u64>() {
        Ok(id) => page(&s, &headers, &uri, "viewer", Some(id), "Annotate").await,
        Err(_) => not_found(&id),
    }
}

async fn verify(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    match id.parse::<u64>() {
        Ok(id) => page(&s, &headers, &uri, "verify", Some(id), "Verify").await,
        Err(_) => not_found(&id),
    }
}

/// The login form. It also hands out a CSRF cookie when there is none, so that the login POST
/// can repeat it as `X-CSRFToken` (a double-submit pair) like every other unsafe request.
async fn login(State(s): State<AppState>, headers: HeaderMap) -> Response {
    // The login page offers "create an account" where self-registration is open.
    let attrs = if s.allow_registration {
        " data-registration=\"1\""
    } else {
        ""
    };
    let mut res = shell_with("login", None, "Log in", attrs);
    if Cookies::from_headers(&headers).get(CSRF_COOKIE).is_none() {
        let (token, _) = crate::auth::new_token();
        let secure = headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes() == b"https");
        let cookie = format!(
            "{CSRF_COOKIE}={token}; Path=/; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Built names carry a content hash (`app-XTPGV5LI.js`): they never change, so browsers keep
/// them for a year. Everything else (OpenSeadragon's button images) is revalidated daily.
fn hashed(path: &str) -> bool {
    let stem = path.rsplit('/').next().unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or_default();
    stem.rsplit_once('-').is_some_and(|(_, hash)| {
        hash.len() == 8
            && hash
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

async fn asset(Path(path): Path<String>) -> Response {
    let Some(file) = Assets::get(&path) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "detail": format!("No static file {path:?}.") })),
        )
            .into_response();
    };
    let cache = if hashed(&path) {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=86400"
    };
    // Embedded files are static slices: served without copying.
    let body = match file.data {
        Cow::Borrowed(b) => axum::body::Body::from(b),
        Cow::Owned(v) => axum::body::Body::from(v),
    };
    (
        [
            (header::CONTENT_TYPE, content_type(&path)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_recognised() {
        assert!(hashed("app-XTPGV5LI.js"));
        assert!(hashed("style-DX356E3P.css"));
        assert!(!hashed("osd/images/zoomin_rest.png"));
        assert!(!hashed("manifest.json"));
    }

    #[test]
    fn the_manifest_names_embedded_files() {
        let m = manifest();
        assert!(Assets::get(&m.js).is_some(), "{} not embedded", m.js);
        assert!(Assets::get(&m.css).is_some(), "{} not embedded", m.css);
    }
}
