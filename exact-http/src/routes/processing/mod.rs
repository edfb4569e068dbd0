//! `/api/v1/processing/…`: EXACT's processing app (plugins with icons, plugin jobs, results,
//! result entries, result annotations, result bitmaps) as the EXACT-Sync client calls it, plus
//! exact-rs's job actions (`pluginjobs/{id}/cancel/`, `…/resume/`), the review of model
//! proposals (`processing/review/…`) and EXACT's `processing/api/plugin_job/create/`.
//! Everything is decided in `exact_core::catalog::Processing`; this module parses and renders.

mod bitmaps;
mod jobs;
mod model_tile;
mod overlay;
mod plugins;
mod results;
mod review;
mod trash;

use self::{
    bitmaps::*, jobs::*, model_tile::*, overlay::*, plugins::*, results::*, review::*, trash::*,
};
use super::{Id, Req, json, with};
use crate::AppState;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, HeaderName};
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::{
    AgreementOptions, ModelAllowlist, Plugin, PluginJob, PluginResult, PluginResultAnnotation,
    PluginResultBitmap, PluginResultEntry, ProposalFilter,
};
use exact_core::wire::Obj;
use exact_core::{
    ImageId, PluginId, PluginJobId, PluginResultAnnotationId, PluginResultBitmapId,
    PluginResultEntryId, PluginResultId,
};
use serde_json::{Map, Value};

const ROOT: &str = "/api/v1/processing";
/// Largest icon accepted.
const MAX_ICON: usize = 4 << 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/processing/plugins/",
            get(plugins).post(create_plugin),
        )
        .route(
            "/api/v1/processing/plugins/{id}/",
            get(plugin)
                .patch(update_plugin)
                .put(update_plugin)
                .delete(delete_plugin),
        )
        .route("/api/v1/processing/plugins/{id}/icon/", get(icon))
        .route("/api/v1/processing/pluginjobs/", get(jobs).post(create_job))
        .route(
            "/api/v1/processing/pluginjobs/{id}/",
            get(job)
                .patch(update_job)
                .put(update_job)
                .delete(delete_job),
        )
        .route(
            "/api/v1/processing/pluginjobs/{id}/cancel/",
            post(cancel_job),
        )
        .route(
            "/api/v1/processing/pluginjobs/{id}/resume/",
            post(resume_job),
        )
        .route(
            "/api/v1/processing/pluginresults/",
            get(results).post(create_result),
        )
        .route(
            "/api/v1/processing/pluginresults/{id}/",
            get(result)
                .patch(update_result)
                .put(update_result)
                .delete(delete_result),
        )
        .route(
            "/api/v1/processing/pluginresultentrys/",
            get(entries).post(create_entry),
        )
        .route(
            "/api/v1/processing/pluginresultentrys/{id}/",
            get(entry)
                .patch(update_entry)
                .put(update_entry)
                .delete(delete_entry),
        )
        .route(
            "/api/v1/processing/pluginresultannotations/",
            get(result_annotations).post(create_result_annotation),
        )
        .route(
            "/api/v1/processing/pluginresultannotations/{id}/",
            get(result_annotation)
                .patch(update_result_annotation)
                .put(update_result_annotation)
                .delete(delete_result_annotation),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/",
            get(bitmaps).post(create_bitmap),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/",
            get(bitmap)
                .patch(update_bitmap)
                .put(update_bitmap)
                .delete(delete_bitmap),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/bitmap/",
            get(bitmap_file),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/overlay.dzi",
            get(overlay_dzi),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/overlay_files/{level}/{tile}",
            get(overlay_tile),
        )
        .route(
            "/processing/api/plugin_job/create/",
            post(legacy_create_job),
        )
        .route(
            "/api/v1/processing/plugins/{id}/restore/",
            post(restore_plugin),
        )
        .route(
            "/api/v1/processing/pluginresults/{id}/restore/",
            post(restore_result),
        )
        .route(
            "/api/v1/processing/pluginresultentrys/{id}/restore/",
            post(restore_entry),
        )
        .route(
            "/api/v1/processing/pluginresultannotations/{id}/restore/",
            post(restore_result_annotation),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/restore/",
            post(restore_bitmap),
        )
        .route("/api/v1/processing/trash/", get(trash))
        .route("/api/v1/processing/agreement/", get(agreement))
        .route("/api/v1/processing/set_jobs/cancel/", post(set_jobs_cancel))
        .route("/api/v1/processing/set_jobs/resume/", post(set_jobs_resume))
        .route("/api/v1/processing/review/", get(review_queue))
        .route("/api/v1/processing/review/accept/", post(review_accept))
        .route("/api/v1/processing/review/reject/", post(review_reject))
        .route("/api/v1/processing/model_tile/", get(model_tile))
}

/// The prefixes model URLs may have: `EXACT_MODEL_HOSTS` (comma-separated), set by whoever
/// runs the server; empty = no model plugins.
pub(crate) fn allowlist() -> ApiResult<ModelAllowlist> {
    Ok(ModelAllowlist::parse(
        &std::env::var("EXACT_MODEL_HOSTS").unwrap_or_default(),
    )?)
}

/// A request body as fields plus at most one file: multipart (EXACT-Sync's file uploads),
/// JSON or a form.
struct Upload {
    fields: Obj,
    file: Option<(String, Bytes)>,
}

async fn upload(req: Request, file_field: &str, limit: usize) -> ApiResult<Upload> {
    let multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if !multipart {
        let Body(v) = Body::from_request(req, &()).await?;
        let fields = match v {
            Value::Null => Obj::default(),
            v => Obj::of(v, "body")?,
        };
        return Ok(Upload { fields, file: None });
    }
    let mut m = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad("body", e.body_text()))?;
    let mut fields = Map::new();
    let mut file = None;
    while let Some(mut field) = m
        .next_field()
        .await
        .map_err(|e| ApiError::bad("body", e.body_text()))?
    {
        let key = field.name().unwrap_or("").to_owned();
        if key == file_field || field.file_name().is_some() {
            let name = field.file_name().unwrap_or(&key).to_owned();
            let mut buf = Vec::new();
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| ApiError::bad(key.clone(), e.body_text()))?
            {
                if buf.len() + chunk.len() > limit {
                    return Err(ApiError::bad(
                        key,
                        format!("the file is larger than {limit} bytes"),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
            if buf.is_empty() {
                return Err(ApiError::bad(key, "the file is empty"));
            }
            file = Some((name, Bytes::from(buf)));
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| ApiError::bad(key.clone(), e.body_text()))?;
            fields.insert(key, Value::String(text));
        }
    }
    Ok(Upload {
        fields: Obj(fields),
        file,
    })
}

fn blob_key(kind: &str, name: &str) -> String {
    format!(
        "processing/{kind}/{}-{}",
        uuid::Uuid::new_v4(),
        exact_store::files::safe_name(name)
    )
}

/// Stores `file` under a fresh key, runs `record` with it, and removes the file again when the
/// record is refused: nothing half-written.
async fn with_blob<T: Send + 'static>(
    r: &Req,
    kind: &str,
    file: Option<(String, Bytes)>,
    record: impl FnOnce(Option<String>) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let key = match file {
        Some((name, bytes)) => {
            let key = blob_key(kind, &name);
            r.exact.blobs().put(&key, bytes).await?;
            Some(key)
        }
        None => None,
    };
    let k = key.clone();
    let out = crate::blocking(move || record(k)).await;
    if out.is_err()
        && let Some(key) = key
    {
        let _ = r.exact.blobs().delete(&key).await;
    }
    out
}

async fn blob_download(r: &Req, key: &str) -> ApiResult<([(HeaderName, String); 1], Bytes)> {
    let bytes = r.exact.blobs().get(key).await?;
    let mime = match key
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("tif" | "tiff") => "image/tiff",
        _ => "application/octet-stream",
    };
    Ok(([(CONTENT_TYPE, mime.to_owned())], bytes))
}

fn ids(v: Vec<u64>) -> Value {
    Value::Array(v.into_iter().map(Value::from).collect())
}

fn query_obj(r: &Req) -> Obj {
    Obj::from_pairs(r.q.params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}
