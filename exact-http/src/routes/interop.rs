//! Annotation files over HTTP, translated to the library's import/export use cases:
//! `POST /api/v1/images/image_sets/<id>/import/` (multipart: a file part, optional fields
//! `format`, `create_missing`, `dry_run`, `image`, `verify`) answers the import report —
//! 200 when written (or dry), 400 naming every refused feature/row/line when nothing was;
//! `GET /api/v1/images/image_sets/<id>/export/?format=F` streams the file as it is written;
//! EXACT's `POST /images/imageset/<id>/label-upload/` (form `file`, checkbox `verify`) is the
//! import of label lines.
//!
//! Long imports run as jobs: `POST …/import/?async=1` (or a form field `async=1`) answers 202
//! at once with the job (`Location: /api/v1/images/import_jobs/<job>/`), and `GET` on that URL
//! reports its state, progress and, at the end, the report or the error naming the
//! feature/row/line; `GET …/image_sets/<id>/import/jobs/` lists the caller's jobs on a set.
//! Without `async` the import runs within the request, as before (no size threshold switches
//! it: a client that did not ask for a job always gets the report).

use super::{Authed, Id, blocking};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use exact_core::ImageSetId;
use exact_interop::{ExportOptions, Format, ImportOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/images/image_sets/{id}/import/",
            post(import).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/images/image_sets/{id}/export/", get(export))
        .route(
            "/api/v1/images/image_sets/{id}/import/jobs/",
            get(jobs_of_set),
        )
        .route("/api/v1/images/import_jobs/{id}/", get(job))
        .route(
            "/images/imageset/{id}/label-upload/",
            post(label_upload).layer(DefaultBodyLimit::disable()),
        )
}

fn truthy(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "on" | "yes"
    )
}

/// Reads the multipart body: the file part goes to a temporary file (never whole in memory).
/// A body that is no multipart form at all is a 400 with a JSON reason.
async fn receive(
    multipart: Result<Multipart, MultipartRejection>,
    options: &mut ImportOptions,
    upload: &mut Upload,
) -> ApiResult<tempfile::NamedTempFile> {
    let mut multipart = multipart.map_err(|e| ApiError::bad("body", e.body_text()))?;
    let mut file = None;
    let max = exact_store::files::max_upload();
    while let Some(mut field) = multipart.next_field().await.map_err(|e| {
        ApiError::bad(
            "body",
            format!("malformed multipart body: {}", e.body_text()),
        )
    })? {
        let name = field.name().unwrap_or("").to_owned();
        if field.file_name().is_some() || name == "file" {
            upload.file_name = field.file_name().unwrap_or("upload").to_owned();
            let mut tmp = tempfile::NamedTempFile::new()
                .map_err(|e| ApiError::Core(exact_core::Error::backend("import spool", e)))?;
            let mut size = 0u64;
            while let Some(chunk) = field
                .chunk()
                .await
                .map_err(|e| ApiError::bad(name.clone(), e.body_text()))?
            {
                size += chunk.len() as u64;
                if size > max {
                    return Err(ApiError::Rejected {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        detail: format!("the file is larger than {max} bytes"),
                    });
                }
                tmp.write_all(&chunk)
                    .map_err(|e| ApiError::Core(exact_core::Error::backend("import spool", e)))?;
            }
            file = Some(tmp);
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::bad(name.clone(), e.body_text()))?;
        match name.as_str() {
            "format" if !text.trim().is_empty() => {
                options.format = Some(Format::parse(&text).map_err(ApiError::Core)?)
            }
            "create_missing" => options.create_missing = truthy(&text),
            "dry_run" => options.dry_run = truthy(&text),
            "verify" => options.verify = truthy(&text),
            "image" if !text.trim().is_empty() => options.image = Some(text.trim().to_owned()),
            "async" => upload.background = truthy(&text),
            _ => {}
        }
    }
    file.ok_or_else(|| ApiError::bad("file", "no file part in the multipart body"))
}

async fn run_import(
    s: AppState,
    actor: exact_core::Actor,
    set: u64,
    options: ImportOptions,
    file: tempfile::NamedTempFile,
) -> ApiResult<Response> {
    let exact = s.exact.clone();
    let report = blocking(move || {
        let mut input = std::io::BufReader::with_capacity(
            1 << 16,
            file.reopen()
                .map_err(|e| ApiError::Core(exact_core::Error::backend("import spool", e)))?,
        );
        Ok(exact
            .interop()
            .import(&actor, ImageSetId(set), &mut input, &options, &mut |_| {})?)
    })
    .await?;
    let status = if report.refused_count > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::to_value(&report).unwrap_or(Value::Null);
    if report.refused_count > 0 {
        body["detail"] = json!(format!(
            "{} item(s) refused; nothing was written (first: {}: {})",
            report.refused_count, report.refused[0].place, report.refused[0].reason
        ));
    }
    Ok((status, Json(body)).into_response())
}

/// What the multipart body says besides the import options.
#[derive(Default)]
struct Upload {
    file_name: String,
    background: bool,
}

#[derive(Deserialize)]
struct ImportQuery {
    #[serde(default, rename = "async")]
    background: Option<String>,
}

async fn import(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: Result<Query<ImportQuery>, QueryRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    let mut options = ImportOptions::default();
    let mut upload = Upload {
        background: q.background.as_deref().is_some_and(truthy),
        ..Default::default()
    };
    let file = receive(multipart, &mut options, &mut upload).await?;
    if !upload.background {
        return run_import(s, actor, id, options, file).await;
    }
    let exact = s.exact.clone();
    let job = blocking(move || {
        Ok(exact.start_import(
            &actor,
            ImageSetId(id),
            file.into_temp_path(),
            &upload.file_name,
            options,
        )?)
    })
    .await?;
    let url = job_url(job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(
            header::LOCATION,
            HeaderValue::from_str(&url).unwrap_or(HeaderValue::from_static("/")),
        )],
        Json(job_json(&job)),
    )
        .into_response())
}

fn job_url(id: u64) -> String {
    format!("/api/v1/images/import_jobs/{id}/")
}

/// A job as the API shows it; `progress` is a fraction: reading the file is the first half
/// (by bytes), writing the second (by annotations).
fn job_json(j: &exact_core::catalog::ImportJob) -> Value {
    let part = |done: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            (done as f64 / of as f64).min(1.0)
        }
    };
    let progress = if j.state.finished() {
        1.0
    } else if j.phase == "writing" {
        0.5 + 0.5 * part(j.written, j.to_write)
    } else {
        0.5 * part(j.bytes_read, j.bytes_total)
    };
    json!({
        "id": j.id,
        "url": job_url(j.id),
        "image_set": j.image_set.0,
        "user": j.user.0,
        "file_name": j.file_name,
        "state": j.state,
        "finished": j.state.finished(),
        "phase": j.phase,
        "progress": (progress * 1000.0).round() / 1000.0,
        "bytes_total": j.bytes_total,
        "bytes_read": j.bytes_read,
        "items_read": j.items_read,
        "to_write": j.to_write,
        "written": j.written,
        "report": j.report,
        "error": j.error,
        "error_kind": j.error_kind,
        "attempts": j.attempts,
        "created": j.created().to_string(),
        "updated": j.updated().to_string(),
    })
}

async fn job(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let exact = s.exact.clone();
    let job = blocking(move || Ok(exact.catalog().import_jobs().get(&actor, id)?)).await?;
    Ok(Json(job_json(&job)))
}

async fn jobs_of_set(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let exact = s.exact.clone();
    let jobs = blocking(move || {
        Ok(exact
            .catalog()
            .import_jobs()
            .of_set(&actor, ImageSetId(id))?)
    })
    .await?;
    Ok(Json(json!({
        "count": jobs.len(),
        "results": jobs.iter().map(job_json).collect::<Vec<_>>(),
    })))
}

async fn label_upload(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let mut options = ImportOptions::default();
    let file = receive(multipart, &mut options, &mut Upload::default()).await?;
    options.format = Some(Format::ExactLabels);
    run_import(s, actor, id, options, file).await
}

#[derive(Deserialize)]
struct ExportQuery {
    format: Option<String>,
    #[serde(default)]
    skip_deleted: Option<String>,
}

async fn export(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    if let Some(name) = q
        .format
        .as_deref()
        .and_then(|f| f.trim().strip_prefix(exact_interop::exact_template::PREFIX))
    {
        return super::exports::stream(s, actor, id, name.to_owned()).await;
    }
    let format = Format::parse(q.format.as_deref().unwrap_or("geojson")).map_err(ApiError::Core)?;
    let options = ExportOptions {
        skip_deleted: q.skip_deleted.as_deref().is_some_and(truthy),
    };
    // Checked before the first byte, so a missing set or no rights is a plain 404/403.
    let (exact, a) = (s.exact.clone(), actor.clone());
    let set = blocking(move || Ok(exact.image_sets().get(&a, ImageSetId(id))?)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let exact = s.exact.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(1 << 20),
        };
        let r = exact
            .interop()
            .export(
                &actor,
                ImageSetId(id),
                format,
                &options,
                &mut w,
                &mut |_| {},
            )
            .map_err(std::io::Error::other)
            .and_then(|_| w.flush());
        if let Err(e) = r {
            tracing::warn!(error = %e, "export stream aborted");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    let name: String = set
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!(
                    "attachment; filename=\"{name}.{}\"",
                    format.extension()
                ))
                .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

/// A `Write` that sends 1 MiB chunks down a channel (the export runs on a blocking thread).
pub(super) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(super) fn new(tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(1 << 20),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(1 << 20),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}
