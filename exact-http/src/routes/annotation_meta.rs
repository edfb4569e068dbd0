//! `annotations/annotation_versions/` (read-only: an annotation's state in each set version
//! the requester reads, with `has_changes` against the live annotation) and
//! `annotations/annotation_media_files/` (files attached to annotations: metadata as JSON,
//! the bytes uploaded as the raw request body and downloaded from `…/{id}/file/`).

use super::{Id, Req, json, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use exact_core::model::{AnnotationMediaFile, MediaFileType};
use exact_core::{AnnotationId, MediaFileId};
use serde_json::Value;
use std::collections::HashSet;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/annotations/annotation_versions/", get(versions))
        .route(
            "/api/v1/annotations/annotation_versions/{id}/",
            get(version),
        )
        .route(
            "/api/v1/annotations/annotation_media_files/",
            get(media).post(upload),
        )
        .route(
            "/api/v1/annotations/annotation_media_files/{id}/",
            get(medium),
        )
        .route(
            "/api/v1/annotations/annotation_media_files/{id}/file/",
            get(download),
        )
}

/// Every annotation snapshot of the versions the requester reads, with `has_changes`.
fn snapshots(r: &Req) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for v in r.exact.versions().list(&r.actor)? {
        let changed: HashSet<AnnotationId> = r
            .exact
            .versions()
            .diff(&r.actor, v.id)?
            .into_iter()
            .map(|d| d.annotation)
            .collect();
        for snap in r.exact.versions().annotations(&r.actor, v.id)? {
            let has = changed.contains(&snap.annotation);
            out.push(with(json(&snap), "has_changes", Value::Bool(has)));
        }
    }
    Ok(out)
}

async fn versions(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], snapshots).await
}

async fn version(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        snapshots(r)?
            .into_iter()
            .find(|v| v["id"].as_u64() == Some(id))
            .ok_or_else(|| {
                ApiError::Core(exact_core::Error::not_found(format!(
                    "annotation version {id}"
                )))
            })
    })
    .await
}

/// A media file as EXACT serializes it: `file` is where its bytes are served.
fn render(m: &AnnotationMediaFile) -> Value {
    with(
        json(m),
        "file",
        Value::String(format!(
            "/api/v1/annotations/annotation_media_files/{}/file/",
            m.id.0
        )),
    )
}

async fn media(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .media_files()
            .list(&r.actor)?
            .iter()
            .map(render)
            .collect())
    })
    .await
}

async fn medium(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render(
            &r.exact.media_files().get(&r.actor, MediaFileId(id))?,
        ))
    })
    .await
}

/// `POST ?annotation=<id>&name=<file name>&media_file_type=<1..4>` with the file's bytes as
/// the body. The bytes are stored first under a fresh key; the record is written only if
/// the requester may attach files to the annotation, else the bytes are removed again.
async fn upload(r: Req, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") || ct.starts_with("multipart/") {
        return Err(ApiError::bad(
            "body",
            "send the file's bytes as the body, with annotation, name and media_file_type as query parameters",
        ));
    }
    let annotation = AnnotationId(
        r.q.u64("annotation")?
            .ok_or_else(|| ApiError::bad("annotation", "This field is required."))?,
    );
    let name =
        r.q.get("name")
            .ok_or_else(|| ApiError::bad("name", "This field is required."))?
            .to_owned();
    if name.contains(['/', '\\']) || name.len() > 255 {
        return Err(ApiError::bad(
            "name",
            "a file name without slashes, at most 255 bytes",
        ));
    }
    let kind = match r.q.u64("media_file_type")? {
        None => MediaFileType::Undefined,
        Some(n) => i64::try_from(n)
            .ok()
            .and_then(MediaFileType::from_code)
            .ok_or_else(|| ApiError::bad("media_file_type", "one of 1, 2, 3, 4"))?,
    };
    if body.is_empty() {
        return Err(ApiError::bad("body", "the file is empty"));
    }
    // Check the rights before storing anything.
    let (exact, actor) = (r.exact.clone(), r.actor.clone());
    crate::blocking(move || Ok(exact.annotations().get(&actor, annotation).map(|_| ())?)).await?;
    let key = format!("media/{}/{}-{name}", annotation.0, uuid::Uuid::new_v4());
    r.exact.blobs().put(&key, body).await?;
    let (exact, blob_key) = (r.exact.clone(), key.clone());
    let made = r
        .created(move |r| {
            Ok(render(
                &r.exact
                    .media_files()
                    .attach(&r.actor, annotation, &name, kind, &blob_key)?,
            ))
        })
        .await;
    if made.is_err() {
        let _ = exact.blobs().delete(&key).await;
    }
    made
}

async fn download(r: Req, Id(id): Id) -> ApiResult<([(axum::http::HeaderName, String); 2], Bytes)> {
    let (exact, actor) = (r.exact.clone(), r.actor.clone());
    let m = crate::blocking(move || Ok(exact.media_files().get(&actor, MediaFileId(id))?)).await?;
    let bytes = r.exact.blobs().get(&m.file).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        m.name.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    ))
}
