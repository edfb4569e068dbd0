//! exact-http: the HTTP layer over the [`exact_store::Exact`] library handle. Handlers parse,
//! call the library and map errors; use cases and permission checks live below the handle.
//!
//! [`router`] serves EXACT's REST API v1 under `/api/v1/` (see `routes`), authenticated by
//! [`auth`] (HTTP Basic, `Token` and `Bearer` personal access tokens).
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod error;
pub mod expand;
pub mod ingest;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod pixels;
pub mod query;
mod routes;
mod ui;

use axum::extract::{DefaultBodyLimit, State};
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
}

/// The application router over `exact`.
pub fn router(exact: Exact) -> Router {
    let state = AppState {
        pixels: Arc::new(pixels::Pixels::new(exact.blobs().clone())),
        exact,
        auth: Arc::new(auth::Authenticator::default()),
    };
    resume_conversions(&state);
    let pixels = state.pixels.clone();
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
        .with_state(state);
    ops::instrument(app, pixels)
}

/// Restarts conversions a previous run left unfinished (when called inside a runtime).
fn resume_conversions(state: &AppState) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    match state.exact.images().converting() {
        Ok(images) => {
            for image in images {
                tracing::info!(image = image.id.0, "resuming conversion");
                ingest::spawn_conversion(state.clone(), image);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot list unfinished conversions"),
    }
}

async fn status(State(state): State<AppState>) -> Json<Value> {
    let config = state.exact.config();
    Json(json!({
        "name": "exact-rs",
        "version": env!("CARGO_PKG_VERSION"),
        "meta": config.meta_url(),
        "blobs": config.blobs_url(),
    }))
}

/// Runs synchronous library work (store reads and writes, password hashing) on the blocking
/// pool, so async workers never wait on disk or CPU.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ApiError::Core(exact_core::Error::Backend {
            backend: "exact-http".into(),
            source: Box::new(std::io::Error::other(format!("handler task failed: {e}"))),
        }))
    })
}
