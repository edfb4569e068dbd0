//! A PostgreSQL metadata store that goes away (issue 15): requests get a 503 with a JSON
//! reason and `Retry-After` (never a 500, never the database password), a bulk write cut off
//! is all or nothing, and the same server answers again once the database is back (the pool
//! reconnects). Runs on a private PostgreSQL (`scripts/postgres`) that the test stops and
//! starts; skipped, with a note, where `EXACT_TEST_POSTGRES` says PostgreSQL is not available.

use crate::kit::Api;
use crate::raw;
use axum::http::StatusCode;
use exact_store::{Exact, ExactConfig};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres");

fn postgres(cmd: &str, dir: &Path) -> String {
    let out = Command::new(SCRIPT).arg(cmd).arg(dir).output().unwrap();
    assert!(
        out.status.success(),
        "scripts/postgres {cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Stops the private server however the test ends.
struct Server(PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).arg("stop").arg(&self.0).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_503_with_a_reason_and_the_server_recovers() {
    if std::env::var("EXACT_TEST_POSTGRES").is_err() {
        eprintln!("EXACT_TEST_POSTGRES is not set: PostgreSQL outage not tested");
        return;
    }
    let dir = std::env::temp_dir().join(format!("exact-outage-{}", std::process::id()));
    let url = postgres("start", &dir);
    let server = Server(dir);
    // Trust auth accepts any password: this one must never be shown.
    let url = url.replacen("postgres@", "postgres:hunter2-secret@", 1);
    let config = ExactConfig {
        meta: Some(url),
        ..ExactConfig::memory()
    };
    let exact = Exact::open(config).unwrap();
    let api = Api {
        app: exact_http::router(exact.clone()),
        exact,
    };
    let admin = api.user("admin", false);
    let (_, _, kind, image) = api.world(&admin, "outage").await;
    let auth = [("authorization", admin.as_str())];
    let list = format!("/api/v1/annotations/annotations/?image={image}&limit=1");
    let bulk: Vec<_> = (0..3000)
        .map(|i| {
            json!({"annotation_type": kind, "image": image,
                   "vector": {"x1": i, "y1": 10, "x2": i + 5, "y2": 20}})
        })
        .collect();
    let body = serde_json::Value::Array(bulk).to_string();

    // A bulk write racing the database going down: all or nothing.
    let (write, ()) = tokio::join!(
        raw(
            &api.app,
            "POST",
            "/api/v1/annotations/annotations/",
            &auth,
            Some(("application/json", body.clone())),
        ),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            postgres("pause", &server.0);
        }
    );
    // Down: reads and writes are 503s with a reason, quickly, and nothing secret.
    for (method, body) in [
        ("GET", None),
        ("POST", Some(("application/json", body.clone()))),
    ] {
        let started = std::time::Instant::now();
        let (s, h, v) = raw(&api.app, method, &list.replace("&limit=1", ""), &auth, body).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{method}: {v}");
        assert!(h.contains_key("retry-after"), "{h:?}");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains("unavailable"), "{v}");
        assert_eq!(v["backend"], "postgres", "{v}");
        assert!(!v.to_string().contains("hunter2"), "{v}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{method}"
        );
    }
    postgres("resume", &server.0);
    // Back: the same handle answers again (its pool reconnects).
    let mut answered = None;
    for _ in 0..50 {
        let (s, _, v) = raw(&api.app, "GET", &list, &auth, None).await;
        if s == StatusCode::OK {
            answered = Some(v);
            break;
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let v = answered.expect("the server answers again once PostgreSQL is back");
    let count = v["count"].as_u64().unwrap();
    if write.0 == StatusCode::CREATED {
        assert_eq!(count, 3000, "an acknowledged bulk write is all there");
    } else {
        assert_eq!(write.0, StatusCode::SERVICE_UNAVAILABLE, "{}", write.2);
        assert!(count == 0 || count == 3000, "half a batch: {count}");
    }
    // And writes work again.
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &admin,
        Some(json!({"annotation_type": kind, "image": image,
                    "vector": {"x1": 1, "y1": 1, "x2": 5, "y2": 5}})),
    )
    .await;
}
