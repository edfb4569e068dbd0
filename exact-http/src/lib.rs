//! exact-http: the HTTP layer over the [`exact_store::Exact`] library handle. Handlers parse,
//! call the library and map errors; use cases and permission checks live below the handle.
//!
//! This first cut serves the server's status; the EXACT-compatible REST API v1 builds on it.
#![warn(missing_docs)]

pub mod error;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use exact_store::Exact;
use serde_json::{Value, json};

/// The application router over `exact`.
pub fn router(exact: Exact) -> Router {
    Router::new()
        .route("/api/v1/", get(status))
        .route("/health", get(|| async { "ok" }))
        .with_state(exact)
}

async fn status(State(exact): State<Exact>) -> Json<Value> {
    let config = exact.config();
    Json(json!({
        "name": "exact-rs",
        "version": env!("CARGO_PKG_VERSION"),
        "meta": config.meta_url(),
        "blobs": config.blobs_url(),
    }))
}
