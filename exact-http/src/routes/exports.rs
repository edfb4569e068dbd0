//! EXACT's export formats and the exports made with them (EXACT.md §6), translated to the
//! library's use cases:
//! - `GET|POST /api/v1/annotations/export_formats/`, `GET|PUT|PATCH|DELETE …/{id}/`: the
//!   formats with EXACT's fields (DELETE keeps the record, restorable with
//!   `POST …/{id}/restore/`);
//! - `POST /annotations/export/<set_id>/` (form or JSON `export_format=<id>`, as EXACT's set
//!   page posts it): renders the set and keeps the export, 201 with the record;
//! - `GET /annotations/export/<export_id>/download/`: the kept text as a `text/plain`
//!   attachment;
//! - EXACT's form paths for formats: `POST /annotations/export/create/`,
//!   `POST /annotations/export/<id>/edit/` (the fields given), `POST …/<id>/delete/` (JSON
//!   answers instead of EXACT's redirects);
//! - `GET /api/v1/annotations/exports/?image_set=<id>`, `GET|DELETE …/{id}/`: the kept
//!   exports (without their text, which the download serves);
//! - `GET /api/v1/images/image_sets/<id>/export/?format=exact:<name>` streams a format
//!   without keeping it ([`stream`], called by the interop routes).

use super::{Body, Id, Req, blocking, json};
use crate::AppState;
use crate::error::ApiResult;
use axum::Json;
use axum::Router;
use axum::body::Body as HttpBody;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use exact_core::catalog::NewExportFormat;
use exact_core::model::Export;
use exact_core::{ExportFormatId, ExportId, ImageSetId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/annotations/export_formats/",
            get(formats).post(create_format),
        )
        .route(
            "/api/v1/annotations/export_formats/{id}/",
            get(one_format)
                .put(put_format)
                .patch(patch_format)
                .delete(delete_format),
        )
        .route(
            "/api/v1/annotations/export_formats/{id}/restore/",
            post(restore_format),
        )
        .route("/api/v1/annotations/exports/", get(exports))
        .route(
            "/api/v1/annotations/exports/{id}/",
            get(one_export).delete(delete_export),
        )
        .route("/annotations/export/{id}/", post(create_export))
        .route("/annotations/export/create/", post(create_format))
        .route("/annotations/export/{id}/edit/", post(patch_format))
        .route("/annotations/export/{id}/delete/", post(delete_format))
        .route("/annotations/export/{id}/download/", get(download))
}

async fn formats(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .export_formats()
            .list(&r.actor)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn one_format(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(json(
            &r.exact.export_formats().get(&r.actor, ExportFormatId(id))?,
        ))
    })
    .await
}

async fn create_format(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    let f = exact_core::wire::new_export_format(&o)?;
    r.created(move |r| Ok(json(&r.exact.export_formats().create(&r.actor, f)?)))
        .await
}

async fn update_format(r: Req, id: u64, body: Body, full: bool) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        let formats = r.exact.export_formats();
        let old = formats.get(&r.actor, ExportFormatId(id))?;
        let mut f = if full {
            NewExportFormat {
                name: old.name.clone(),
                team: Some(old.team),
                ..exact_core::wire::export_format_defaults()
            }
        } else {
            exact_core::catalog::ExportFormats::as_new(&old)
        };
        exact_core::wire::apply_export_format(&o, &mut f)?;
        Ok(json(&formats.update(&r.actor, ExportFormatId(id), f)?))
    })
    .await
}

async fn put_format(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    update_format(r, id, body, true).await
}

async fn patch_format(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    update_format(r, id, body, false).await
}

async fn delete_format(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        r.exact
            .export_formats()
            .delete(&r.actor, ExportFormatId(id))?;
        Ok(())
    })
    .await
}

async fn restore_format(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(json(
            &r.exact
                .export_formats()
                .restore(&r.actor, ExportFormatId(id))?,
        ))
    })
    .await
}

/// An export's JSON: its record without the text, with whether its format changed since and
/// where to download it.
fn export_json(exact: &exact_store::Exact, e: &Export) -> ApiResult<Value> {
    let mut v = json(e);
    if let Value::Object(m) = &mut v {
        m.remove("export_text");
        m.insert(
            "deprecated".into(),
            Value::Bool(exact.exports().deprecated(e)?),
        );
        m.insert(
            "download".into(),
            Value::String(format!("/annotations/export/{}/download/", e.id.0)),
        );
    }
    Ok(v)
}

async fn exports(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["image_set"], |r| {
        let sets: Vec<ImageSetId> = match r.q.u64("image_set")? {
            Some(s) => vec![ImageSetId(s)],
            None => r
                .exact
                .image_sets()
                .list(&r.actor)?
                .into_iter()
                .map(|s| s.id)
                .collect(),
        };
        let mut out = Vec::new();
        for s in sets {
            for e in r.exact.exports().of_set(&r.actor, s)? {
                out.push(export_json(&r.exact, &e)?);
            }
        }
        Ok(out)
    })
    .await
}

async fn one_export(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let e = r.exact.exports().get(&r.actor, ExportId(id))?;
        export_json(&r.exact, &e)
    })
    .await
}

async fn delete_export(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        r.exact.exports().delete(&r.actor, ExportId(id))?;
        Ok(())
    })
    .await
}

/// EXACT's `POST /annotations/export/<set_id>/` with `export_format=<id>`.
async fn create_export(r: Req, Id(set): Id, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    let format = o.req_u64("export_format")?;
    r.created(move |r| {
        let e =
            r.exact
                .interop()
                .create_export(&r.actor, ImageSetId(set), ExportFormatId(format))?;
        export_json(&r.exact, &e)
    })
    .await
}

/// EXACT's `GET /annotations/export/<export_id>/download/`: the kept text.
async fn download(r: Req, Id(id): Id) -> ApiResult<Response> {
    let e = blocking(move || Ok(r.exact.exports().get(&r.actor, ExportId(id))?)).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, attachment(&e.filename)),
        ],
        e.export_text,
    )
        .into_response())
}

/// A `Content-Disposition: attachment` naming `name` (ASCII fallback plus RFC 5987 UTF-8).
fn attachment(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

/// `GET …/image_sets/<id>/export/?format=exact:<name>`: the format rendered and streamed,
/// not kept. The format and the set are checked before the first byte (plain 4xx).
pub(super) async fn stream(
    s: AppState,
    actor: exact_core::Actor,
    set: u64,
    name: String,
) -> ApiResult<Response> {
    let (exact, a) = (s.exact.clone(), actor.clone());
    let (the_set, format) = blocking(move || {
        let the_set = exact.image_sets().get(&a, ImageSetId(set))?;
        let f = exact.export_formats().by_name(&a, &name)?;
        exact_core::export_template::Templates::of(&f)?;
        Ok((the_set, f))
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let exact = s.exact.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = super::interop::ChannelWriter::new(tx.clone());
        let r = exact
            .interop()
            .export_template(&actor, ImageSetId(set), &format, &mut w, &mut |_| {})
            .map_err(std::io::Error::other)
            .and_then(|_| std::io::Write::flush(&mut w));
        if let Err(e) = r {
            tracing::warn!(error = %e, "export stream aborted");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("{}.txt", the_set.name)),
            ),
        ],
        HttpBody::from_stream(stream),
    )
        .into_response())
}
