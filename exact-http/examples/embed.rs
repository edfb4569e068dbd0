//! Embedding exact-rs in your own axum server: the library handle opens a store, the
//! `exact_http` router serves EXACT's API (and the UI) beside this app's own routes, and the
//! app's own handlers call the same use cases through the handle, with the same permission checks.
//!
//! ```bash
//! cargo run -p exact-http --example embed -- ./my-data 127.0.0.1:8080
//! curl http://127.0.0.1:8080/lab/summary
//! ```

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use exact_store::{Exact, ExactConfig};
use serde_json::{Value, json};

/// The app's own route: counts what the store holds, as the store's first superuser sees it.
async fn summary(State(exact): State<Exact>) -> Json<Value> {
    let answer = tokio::task::spawn_blocking(move || -> exact_core::Result<Value> {
        let Some(admin) = exact.users().by_username("exact")? else {
            return Ok(json!({"detail": "no user `exact` yet: run `exact serve` once"}));
        };
        let me = exact.actor(admin.id)?;
        let teams = exact.teams().list(&me)?;
        Ok(json!({"teams": teams.iter().map(|t| &t.name).collect::<Vec<_>>()}))
    })
    .await
    .expect("summary task");
    Json(answer.unwrap_or_else(|e| json!({"detail": e.to_string()})))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "./exact-data".into());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let exact = Exact::open(ExactConfig::in_dir(dir))?;
    let app = Router::new()
        .route("/lab/summary", get(summary))
        .with_state(exact.clone())
        // EXACT's REST API, Deep Zoom tiles and pages, beside the routes above.
        .merge(exact_http::router(exact));
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{bind}/ (EXACT's API under /api/v1/, ours under /lab/)");
    // exact-http's accept loop: header/body/idle timeouts and connection caps, Ctrl-C to stop.
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    exact_http::serve::serve(
        listener,
        app,
        exact_http::serve::ServeOptions::default(),
        stop,
    )
    .await?;
    Ok(())
}
