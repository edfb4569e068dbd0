//! `GET /api/v1/administration/status/` (superusers): the server's version, where its data
//! lives (store URLs without credentials or query strings), how much it holds (users, teams,
//! sets, images by state, annotations) and what went wrong lately: the most recent failed
//! uploads (from the catalog) and the most recent internal errors of this process (kept in a
//! small ring here, paths scrubbed).

use super::Req;
use crate::AppState;
use crate::error::ApiResult;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/administration/status/", get(status))
}

/// How many internal errors the ring keeps; each message is cut to [`ERROR_CHARS`].
const RECENT_ERRORS: usize = 50;
const ERROR_CHARS: usize = 500;

static ERRORS: Mutex<VecDeque<(u64, String)>> = Mutex::new(VecDeque::new());

/// Remembers an internal error (the HTTP layer calls this for every 5xx it logs).
pub(crate) fn remember_error(message: &str) {
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let message: String = message.chars().take(ERROR_CHARS).collect();
    let mut ring = ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    if ring.len() == RECENT_ERRORS {
        ring.pop_front();
    }
    ring.push_back((at, message));
}

/// A store URL with what might be secret removed: user, password, query and fragment.
fn public_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.has_host() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "(not a URL)".to_owned(),
    }
}

async fn status(
    axum::extract::State(s): axum::extract::State<AppState>,
    r: Req,
) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let st = r.exact.status(&r.actor)?;
        let config = r.exact.config();
        let errors: Vec<Value> = ERRORS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .map(|(at, m)| json!({"at": at, "message": s.paths.scrub(m)}))
            .collect();
        let failures: Vec<Value> = st
            .recent_failures
            .iter()
            .map(|f| {
                json!({
                    "id": f.id.0, "image_set": f.image_set.0, "name": f.name,
                    "time": f.time, "reason": s.paths.scrub(&f.reason),
                })
            })
            .collect();
        Ok(Json(json!({
            "name": "exact-rs",
            "version": env!("CARGO_PKG_VERSION"),
            "storage": {
                "meta": public_url(&config.meta_url()),
                "blobs": public_url(&config.blobs_url()),
            },
            "counts": {
                "users": st.users, "active_users": st.active_users, "teams": st.teams,
                "image_sets": st.image_sets, "images_ready": st.images_ready,
                "images_converting": st.images_converting, "images_failed": st.images_failed,
                "annotations": st.annotations, "annotations_deleted": st.annotations_deleted,
                "annotations_trashed": st.annotations_trashed,
            },
            "recent_failed_uploads": failures,
            "recent_errors": errors,
        })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::public_url;

    #[test]
    fn store_urls_lose_their_credentials() {
        assert_eq!(
            public_url("postgres://exact:hunter2@db.local:5432/exact?sslmode=require"),
            "postgres://db.local:5432/exact"
        );
        assert_eq!(
            public_url("s3://bucket/prefix?secret_access_key=x"),
            "s3://bucket/prefix"
        );
        assert_eq!(public_url("file:///srv/exact/blobs"), "file:");
        assert_eq!(public_url("not a url"), "(not a URL)");
    }

    #[test]
    fn the_error_ring_is_bounded() {
        for i in 0..(super::RECENT_ERRORS + 10) {
            super::remember_error(&format!("boom {i} {}", "x".repeat(1000)));
        }
        let ring = super::ERRORS.lock().unwrap();
        assert_eq!(ring.len(), super::RECENT_ERRORS);
        assert!(
            ring.iter()
                .all(|(_, m)| m.chars().count() <= super::ERROR_CHARS)
        );
    }
}
