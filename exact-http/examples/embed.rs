//! Embedding exact-rs in your own axum server: the library handle opens a store, the
//! `exact_http` router serves EXACT's API (and the UI) beside this app's own routes, and the
//! app's own handlers call the same use cases through the handle, with the same permission checks
//! — also those that touch pixels (`exact.pixels(&actor, image, grid)`: the slide and its Deep
//! Zoom generator, or a typed not-ready / unservable / not-found error). Building the router
//! starts nothing in the background: the app starts the store's conversion worker itself, once,
//! because it accepts uploads (pictures are converted into pyramids by it).
//!
//! ```bash
//! cargo run -p exact-http --example embed -- ./my-data 127.0.0.1:8080
//! curl http://127.0.0.1:8080/lab/summary
//! curl http://127.0.0.1:8080/lab/images/1/levels
//! ```

use axum::extract::{Path, State};
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

/// The app's own pixel route: the levels of an image, read as the first superuser, through
/// the same checked use case the tile server uses.
async fn levels(State(exact): State<Exact>, Path(id): Path<u64>) -> Json<Value> {
    let answer = async {
        let admin = exact
            .users()
            .by_username("exact")?
            .ok_or_else(|| exact_core::Error::not_found("user `exact` (run `exact serve` once)"))?;
        let me = exact.actor(admin.id)?;
        let (image, deepzoom) = exact.pixels(&me, exact_core::ImageId(id), None).await?;
        Ok::<_, exact_core::Error>(json!({
            "name": image.name,
            "levels": deepzoom.slide().level_dimensions(),
        }))
    };
    Json(
        answer
            .await
            .unwrap_or_else(|e| json!({"detail": e.to_string()})),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "./exact-data".into());
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let exact = Exact::open(ExactConfig::in_dir(dir))?;
    // Conversions of uploaded pictures (and resuming those a previous run left): one worker
    // per store, stopped when dropped.
    let _worker = exact_store::ConversionWorker::start(&exact)?;
    // Import jobs a previous run left unfinished read on from their last written batch.
    exact.resume_imports()?;
    let app = Router::new()
        .route("/lab/summary", get(summary))
        .route("/lab/images/{id}/levels", get(levels))
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
