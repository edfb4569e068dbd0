//! `annotations/annotation_versions/` (read-only: an annotation's state in each set version
//! the requester reads, with `has_changes` against the live annotation) and
//! `annotations/annotation_media_files/` (files attached to annotations: metadata as JSON,
//! the bytes uploaded as the raw request body and downloaded from `…/{id}/file/`).

use super::{Id, Req, json, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
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
pub(super) fn render(m: &AnnotationMediaFile) -> Value {
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

/// `POST` a file to attach: multipart as EXACT-Sync sends it (`file` plus `annotation`, `name`,
/// `media_file_type` fields), or the raw bytes as the body with those three as query
/// parameters.
async fn upload(r: Req, req: axum::extract::Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut fields: std::collections::HashMap<String, String> =
        r.q.params
            .iter()
            .filter(|(k, _)| ["annotation", "name", "media_file_type"].contains(&k.as_str()))
            .cloned()
            .collect();
    let multipart = ct.starts_with("multipart/form-data");
    let body = if multipart {
        use axum::extract::FromRequest;
        let mut m = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad("body", e.body_text()))?;
        let mut file = None;
        while let Some(field) = m
            .next_field()
            .await
            .map_err(|e| ApiError::bad("body", e.body_text()))?
        {
            let key = field.name().unwrap_or("").to_owned();
            if field.file_name().is_some() {
                if let Some(n) = field.file_name() {
                    fields.entry("name".into()).or_insert_with(|| n.to_owned());
                }
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| ApiError::bad("file", e.body_text()))?,
                );
            } else {
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::bad(key.clone(), e.body_text()))?;
                fields.insert(key, text);
            }
        }
        file.ok_or_else(|| ApiError::bad("file", "No file was submitted."))?
    } else if ct.starts_with("application/json") {
        return Err(ApiError::bad(
            "body",
            "send the file as multipart (file, annotation, name, media_file_type) or as the raw body",
        ));
    } else {
        Bytes::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad("body", e.body_text()))?
    };
    let annotation = AnnotationId(
        fields
            .get("annotation")
            .ok_or_else(|| ApiError::bad("annotation", "This field is required."))?
            .trim()
            .parse()
            .map_err(|_| ApiError::bad("annotation", "not an id"))?,
    );
    let name = fields
        .get("name")
        .ok_or_else(|| ApiError::bad("name", "This field is required."))?
        .clone();
    let kind = media_kind(fields.get("media_file_type").map(String::as_str))?;
    let m = store_media(&r.exact, &r.actor, annotation, &name, kind, body).await?;
    if multipart {
        // EXACT answers its multipart create with the paginated envelope of the new files
        // (EXACT-Sync reads it as such).
        return Ok((
            StatusCode::CREATED,
            Json(
                serde_json::json!({"count": 1, "next": null, "previous": null,
                                    "results": [render(&m)]}),
            ),
        ));
    }
    Ok((StatusCode::CREATED, Json(render(&m))))
}

use axum::extract::FromRequest;

/// A media file type code (`1`..`4`; absent = undefined).
pub(super) fn media_kind(raw: Option<&str>) -> ApiResult<MediaFileType> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(MediaFileType::Undefined),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(MediaFileType::from_code)
            .ok_or_else(|| ApiError::bad("media_file_type", "one of 1, 2, 3, 4")),
    }
}

/// Stores `bytes` and attaches them to `annotation` (the library checks the rights before
/// anything is stored and removes the bytes again if the record is refused).
pub(super) async fn store_media(
    exact: &exact_store::Exact,
    actor: &exact_core::permissions::Actor,
    annotation: AnnotationId,
    name: &str,
    kind: MediaFileType,
    bytes: Bytes,
) -> ApiResult<AnnotationMediaFile> {
    Ok(exact
        .media_files()
        .upload(actor, annotation, name, kind, bytes)
        .await?)
}

async fn download(r: Req, Id(id): Id) -> ApiResult<([(axum::http::HeaderName, String); 2], Bytes)> {
    let (m, bytes) = r
        .exact
        .media_files()
        .read(&r.actor, MediaFileId(id))
        .await?;
    // Any name, also a non-ASCII one (RFC 6266 `filename*`).
    let disposition = super::files::content_disposition(&m.name);
    Ok((
        [
            (CONTENT_TYPE, "application/octet-stream".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    ))
}
