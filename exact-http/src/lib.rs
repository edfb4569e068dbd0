//! exact-http: the HTTP layer over the [`exact_store::Exact`] library handle. Handlers parse,
//! call the library and map errors; use cases and permission checks live below the handle.
//!
//! [`router`] serves EXACT's REST API v1 under `/api/v1/` (see `routes`), authenticated by
//! [`auth`] (HTTP Basic, `Token` and `Bearer` personal access tokens); [`serve::serve`] runs
//! it behind an accept loop with timeouts and a connection cap.
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod error;
pub mod events;
pub mod expand;
pub mod ldap;
pub mod models;
pub mod openapi;
pub mod ops;
pub mod overview;
pub mod pagination;
pub mod pixels;
pub mod query;
pub mod remote_user;
mod routes;
pub mod serve;
pub mod throttle;
mod ui;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use error::{ApiError, ApiResult};
use exact_store::Exact;
use serde_json::{Value, json};
use std::sync::Arc;

/// What every handler gets: the library handle and the credential cache.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The library handle.
    pub exact: Exact,
    /// Verifies credentials and remembers verified Basic ones.
    pub auth: Arc<auth::Authenticator>,
    /// Open slides, Deep Zoom generators and tile counters.
    pub pixels: Arc<pixels::Pixels>,
    /// The URL clients reach the server at, when configured (links, cookies, login origin).
    pub public_url: Option<url::Url>,
    /// Where the server keeps its data, to be kept out of what clients read.
    pub paths: Arc<ServerPaths>,
    /// Live annotation events and per-image annotation generations.
    pub live: Arc<events::EventHub>,
    /// Annotation overview rasters.
    pub overviews: Arc<overview::Overviews>,
    /// The catalog's change sink; registered weakly, so the state keeps it alive.
    pub change_sink: Arc<events::LiveSink>,
    /// Whether anyone may create an account (`POST /api/v1/auth/register/`).
    pub allow_registration: bool,
    /// Remote-User authentication behind trusted proxies (`exact serve --remote-user-proxy`).
    pub remote_user: Option<Arc<remote_user::RemoteUserOptions>>,
}

/// How the router is set up beyond the library handle.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// The URL clients reach the server at (`EXACT_PUBLIC_URL`, e.g.
    /// `https://exact.example.org/`): absolute links in answers start with it instead of the
    /// request's `Host`, which a client chooses.
    pub public_url: Option<url::Url>,
    /// Limits of the failed-login throttle.
    pub throttle: throttle::ThrottleOptions,
    /// Open self-registration (`exact serve --allow-registration`); off by default.
    pub allow_registration: bool,
    /// Remote-User authentication behind trusted proxies; off (`None`) by default.
    pub remote_user: Option<remote_user::RemoteUserOptions>,
    /// LDAP bind authentication; off (`None`) by default.
    pub ldap: Option<ldap::LdapOptions>,
}

/// The public URL of a request, as a request extension (read by [`query::ListQuery`]).
#[derive(Debug, Clone)]
pub struct PublicUrl(pub url::Url);

/// The application router over `exact`, with default options.
pub fn router(exact: Exact) -> Router {
    router_with(exact, RouterOptions::default())
}

/// The application router over `exact`. Building it starts nothing: conversions of uploaded
/// pictures run in an [`exact_store::ConversionWorker`], which `exact serve` starts once per
/// store (an embedder that accepts uploads starts one too). The router only registers, weakly,
/// the change sink its own live events (`/api/v1/events/`) are fed from.
pub fn router_with(exact: Exact, opts: RouterOptions) -> Router {
    let exact_for_paths = exact.clone();
    let live = Arc::new(events::EventHub::default());
    let overviews = Arc::new(overview::Overviews::new());
    let change_sink = Arc::new(events::LiveSink {
        hub: live.clone(),
        overviews: overviews.clone(),
    });
    let sink: Arc<dyn exact_core::catalog::ChangeSink> = change_sink.clone();
    exact.catalog().add_change_sink(&sink);
    // Several servers on one PostgreSQL: their writes reach this server's events too.
    if let Err(e) = exact.catalog().share_changes() {
        tracing::warn!(error = %e, "live events from other servers are off");
    }
    let state = AppState {
        pixels: Arc::new(pixels::Pixels::new(exact.clone())),
        exact,
        auth: Arc::new(auth::Authenticator::new(opts.throttle).with_ldap(opts.ldap.clone())),
        public_url: opts.public_url.clone(),
        paths: Arc::new(ServerPaths::of(&exact_for_paths)),
        live,
        overviews,
        change_sink,
        allow_registration: opts.allow_registration,
        remote_user: opts.remote_user.clone().map(Arc::new),
    };
    let pixels = state.pixels.clone();
    let fast_state = state.clone();
    let metrics = Arc::new(ops::Metrics::default());
    let secrets = state.paths.clone();
    let public = opts.public_url.map(PublicUrl);
    let app = Router::new()
        .route("/api/v1/", get(status))
        .route("/health", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/api/v1/openapi",
            get(|| async { Json(openapi::document()) }),
        )
        .merge(routes::routes())
        .merge(ui::routes())
        .fallback(|| async {
            (
                axum::http::StatusCode::NOT_FOUND,
                Json(json!({"detail": "Not found."})),
            )
        })
        .method_not_allowed_fallback(|| async {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                Json(json!({"detail": "Method not allowed."})),
            )
        })
        .layer(DefaultBodyLimit::max(body::BODY_LIMIT))
        .with_state(state)
        .layer(axum::middleware::from_fn(
            move |mut req: Request, next: Next| {
                if let Some(p) = &public {
                    req.extensions_mut().insert(p.clone());
                }
                // A browser (it sends `Sec-Fetch-Mode`) gets no Basic challenge on a 401: it
                // would pop up a password dialog over the UI, whose session ran out and which
                // sends the user to the login page itself. API clients keep DRF's challenge.
                let browser = req.headers().contains_key("sec-fetch-mode");
                let res = next.run(req);
                async move {
                    let mut res = res.await;
                    if browser {
                        res.headers_mut()
                            .remove(axum::http::header::WWW_AUTHENTICATE);
                    }
                    res
                }
            },
        ));
    let app = ops::instrument_with(app, pixels, metrics.clone());
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| scrub(secrets.clone(), req, next),
    ));
    // Tiles granted and kept in memory are answered before routing and middleware (issue 11).
    Router::new().fallback_service(routes::tiles::FastTiles::new(fast_state, metrics, app))
}

/// Strings that name where the server keeps its data (directories, store URLs), longest
/// first, with what replaces them: error answers must not tell a client about the server's
/// file system or buckets.
#[derive(Debug)]
pub struct ServerPaths(Vec<(String, &'static str)>);

impl ServerPaths {
    fn of(exact: &Exact) -> Self {
        ServerPaths(server_paths(exact))
    }

    /// `text` with every server path replaced by a placeholder (`<data>`, `<blobs>`, …).
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (secret, placeholder) in &self.0 {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), placeholder);
            }
        }
        text
    }
}

fn server_paths(exact: &Exact) -> Vec<(String, &'static str)> {
    let config = exact.config();
    let mut out = vec![
        (config.blobs_url(), "<blobs>"),
        (config.meta_url(), "<meta>"),
        (exact.blobs().url().to_owned(), "<blobs>"),
    ];
    if let Ok(Some(p)) = exact.blobs().local_path("x")
        && let Some(dir) = p.parent()
    {
        out.push((dir.display().to_string(), "<blobs>"));
    }
    if let Ok(dir) = std::path::absolute(&config.data_dir) {
        out.push((dir.display().to_string(), "<data>"));
    }
    if config.data_dir != std::path::Path::new(".") {
        out.push((config.data_dir.display().to_string(), "<data>"));
    }
    let tmp = std::env::temp_dir().display().to_string();
    out.push((tmp.trim_end_matches('/').to_owned() + "/", "<tmp>/"));
    out.retain(|(s, _)| s.len() >= 4 && s != "memory://");
    out.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Replaces server paths in error answers (JSON bodies of 4xx/5xx, at most 1 MiB).
async fn scrub(secrets: Arc<ServerPaths>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(res.status().is_client_error() || res.status().is_server_error()) || !is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, axum::body::Body::from("{}"));
    };
    let text = secrets.scrub(&String::from_utf8_lossy(&bytes));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

/// `GET /api/v1/`: name and version; where the data lives only for a superuser (the paths
/// and bucket names help an attacker more than a client).
async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<axum::Extension<serve::ClientAddr>>,
    extensions: axum::http::Extensions,
) -> ApiResult<Json<Value>> {
    let mut v = json!({"name": "exact-rs", "version": env!("CARGO_PKG_VERSION")});
    // A trusted proxy's Remote-User, as the API's extractor takes it (a name that is not a
    // valid username gives the anonymous view here: a public route).
    if let Some(name) = state
        .remote_user
        .as_ref()
        .and_then(|r| r.claimed_by(&headers, &extensions))
    {
        let st = state.clone();
        let actor = blocking(move || auth::remote_actor(&st.exact, &name)).await;
        if actor.is_ok_and(|a| a.superuser) {
            let config = state.exact.config();
            v["meta"] = json!(config.meta_url());
            v["blobs"] = json!(config.blobs_url());
        }
        return Ok(Json(v));
    }
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let cookies = auth::Cookies::from_headers(&headers);
    if authorization.is_none() && cookies.get(auth::SESSION_COOKIE).is_none() {
        return Ok(Json(v));
    }
    let st = state.clone();
    let client = client.map(|c| c.0.0);
    // A public route: credentials that do not check out give the anonymous view (they
    // still count as a failed login).
    let actor = blocking(move || {
        st.auth
            .authenticate_request(&st.exact, authorization.as_deref(), &cookies, false, client)
    })
    .await;
    if actor.is_ok_and(|a| a.superuser) {
        let config = state.exact.config();
        v["meta"] = json!(config.meta_url());
        v["blobs"] = json!(config.blobs_url());
    }
    Ok(Json(v))
}

/// Runs synchronous library work (store reads and writes, password hashing) on the blocking
/// pool, so async workers never wait on disk or CPU.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        // A panicked handler is our bug (500), not a storage outage (a `Backend` error is 503).
        tracing::error!(error = %e, "handler task failed");
        Err(ApiError::Rejected {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            detail: "internal server error".into(),
        })
    })
}
