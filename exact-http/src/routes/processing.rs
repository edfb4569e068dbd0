//! `/api/v1/processing/…`: EXACT's processing app (plugins with icons, plugin jobs, results,
//! result entries, result annotations, result bitmaps) as the EXACT-Sync client calls it, plus
//! exact-rs's job actions (`pluginjobs/{id}/cancel/`, `…/resume/`), the review of model
//! proposals (`processing/review/…`) and EXACT's `processing/api/plugin_job/create/`.
//! Everything is decided in `exact_core::catalog::Processing`; this module parses and renders.

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
                .delete(kept),
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
                .delete(kept),
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
                .delete(kept),
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
                .delete(kept),
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
                .delete(kept),
        )
        .route(
            "/api/v1/processing/pluginresultbitmaps/{id}/bitmap/",
            get(bitmap_file),
        )
        .route(
            "/processing/api/plugin_job/create/",
            post(legacy_create_job),
        )
        .route("/api/v1/processing/agreement/", get(agreement))
        .route("/api/v1/processing/set_jobs/cancel/", post(set_jobs_cancel))
        .route("/api/v1/processing/set_jobs/resume/", post(set_jobs_resume))
        .route("/api/v1/processing/review/", get(review_queue))
        .route("/api/v1/processing/review/accept/", post(review_accept))
        .route("/api/v1/processing/review/reject/", post(review_reject))
}

/// DELETE of processing records other than jobs: refused with the reason (they are the record
/// of what a model produced; a job's proposals are reviewed, not deleted here).
async fn kept(uri: axum::http::Uri) -> (StatusCode, Json<Value>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(serde_json::json!({
            "detail": format!(
                "{} cannot be deleted: processing results are kept (reject proposals through \
                 /api/v1/processing/review/reject/)",
                uri.path()
            )
        })),
    )
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

// ---- rendering ----

fn ids(v: Vec<u64>) -> Value {
    Value::Array(v.into_iter().map(Value::from).collect())
}

fn render_plugin(r: &Req, p: &Plugin) -> ApiResult<Value> {
    let mut v = json(p);
    let icon = if p.icon.is_empty() {
        String::new()
    } else {
        format!("{ROOT}/plugins/{}/icon/", p.id.0)
    };
    v = with(v, "icon", Value::String(icon));
    let results = r.exact.catalog().processing().results_of_plugin(p.id)?;
    Ok(with(v, "results", ids(results)))
}

fn render_job(j: &PluginJob) -> Value {
    json(j)
}

fn render_result(r: &Req, res: &PluginResult) -> ApiResult<Value> {
    let entries = r.exact.catalog().processing().entries_of(res.id)?;
    Ok(with(json(res), "entries", ids(entries)))
}

fn render_entry(r: &Req, e: &PluginResultEntry) -> ApiResult<Value> {
    let (anns, bitmaps) = r.exact.catalog().processing().contents_of(e.id)?;
    let v = with(json(e), "annotation_results", ids(anns));
    Ok(with(v, "bitmap_results", ids(bitmaps)))
}

fn render_result_annotation(a: &PluginResultAnnotation) -> Value {
    json(a)
}

fn render_bitmap(b: &PluginResultBitmap) -> Value {
    with(
        json(b),
        "bitmap",
        Value::String(format!("{ROOT}/pluginresultbitmaps/{}/bitmap/", b.id.0)),
    )
}

// ---- plugins ----

async fn plugins(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .plugins(&r.actor)?
            .iter()
            .map(|p| render_plugin(r, p))
            .collect()
    })
    .await
}

async fn plugin(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let p = r
            .exact
            .catalog()
            .processing()
            .plugin(&r.actor, PluginId(id))?;
        render_plugin(r, &p)
    })
    .await
}

/// `POST plugins/`: multipart with an `icon` file (EXACT-Sync), or JSON/form without one.
async fn create_plugin(r: Req, req: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let up = upload(req, "icon", MAX_ICON).await?;
    let allow = allowlist()?;
    // Refuse before anything is stored.
    let products: Vec<exact_core::ProductId> = up
        .fields
        .ids("products")?
        .unwrap_or_default()
        .into_iter()
        .map(exact_core::ProductId)
        .collect();
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            Ok(e.catalog()
                .processing()
                .check_plugin_rights(&a, &products)?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let p = with_blob(&r, "icons", up.file, move |icon| {
        Ok(e.catalog().processing().create_plugin(
            &a,
            &fields,
            icon.as_deref().unwrap_or(""),
            &allow,
        )?)
    })
    .await?;
    r.created(move |r| render_plugin(r, &p)).await
}

async fn update_plugin(r: Req, Id(id): Id, req: Request) -> ApiResult<Json<Value>> {
    let up = upload(req, "icon", MAX_ICON).await?;
    let allow = allowlist()?;
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            let p = e.catalog().processing().plugin(&a, PluginId(id))?;
            Ok(e.catalog()
                .processing()
                .check_plugin_rights(&a, &p.products)?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let p = with_blob(&r, "icons", up.file, move |icon| {
        Ok(e.catalog().processing().update_plugin(
            &a,
            PluginId(id),
            &fields,
            icon.as_deref(),
            &allow,
        )?)
    })
    .await?;
    r.one(move |r| render_plugin(r, &p)).await
}

async fn icon(r: Req, Id(id): Id) -> ApiResult<([(HeaderName, String); 1], Bytes)> {
    let (e, a) = (r.exact.clone(), r.actor.clone());
    let p = crate::blocking(move || Ok(e.catalog().processing().plugin(&a, PluginId(id))?)).await?;
    if p.icon.is_empty() {
        return Err(ApiError::Core(exact_core::Error::not_found(format!(
            "an icon of plugin {id}"
        ))));
    }
    blob_download(&r, &p.icon).await
}

// ---- jobs ----

/// `region` as `[x, y, w, h]` or as the four fields `x`, `y`, `width`, `height`.
fn region(o: &Obj) -> ApiResult<Option<[u64; 4]>> {
    if let Some(ids) = o.ids("region")? {
        return match ids.as_slice() {
            [x, y, w, h] => Ok(Some([*x, *y, *w, *h])),
            _ => Err(ApiError::bad("region", "expected [x, y, width, height]")),
        };
    }
    match (o.u64("x")?, o.u64("y")?, o.u64("width")?, o.u64("height")?) {
        (None, None, None, None) => Ok(None),
        (Some(x), Some(y), Some(w), Some(h)) => Ok(Some([x, y, w, h])),
        _ => Err(ApiError::bad(
            "region",
            "give all of x, y, width and height, or none",
        )),
    }
}

async fn jobs(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .jobs(&r.actor)?
            .iter()
            .map(render_job)
            .collect())
    })
    .await
}

async fn job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_job(
            &r.exact
                .catalog()
                .processing()
                .job(&r.actor, PluginJobId(id))?,
        ))
    })
    .await
}

/// `POST pluginjobs/`: `{plugin, image, region?}` → the job; `{plugin, image_set}` → a job
/// on every image of the set (a list, all or none).
async fn create_job(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    let out = r
        .created(move |r| {
            let plugin = PluginId(o.req_u64("plugin")?);
            if let Some(set) = o.u64("image_set")? {
                if o.raw("image").is_some() || o.raw("region").is_some() {
                    return Err(ApiError::bad(
                        "image_set",
                        "give image (and region) or image_set, not both",
                    ));
                }
                let jobs = r.exact.catalog().processing().create_set_jobs(
                    &r.actor,
                    plugin,
                    exact_core::ImageSetId(set),
                )?;
                return Ok(Value::Array(jobs.iter().map(render_job).collect()));
            }
            let image = ImageId(o.req_u64("image")?);
            let job =
                r.exact
                    .catalog()
                    .processing()
                    .create_job(&r.actor, plugin, image, region(&o)?)?;
            Ok(render_job(&job))
        })
        .await;
    crate::models::wake();
    out
}

/// EXACT's form endpoint: `image_id`, `plugin_id` → 201 with the job.
async fn legacy_create_job(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let plugin = PluginId(o.req_u64("plugin_id")?);
        let image = ImageId(o.req_u64("image_id")?);
        let job = r
            .exact
            .catalog()
            .processing()
            .create_job(&r.actor, plugin, image, None)?;
        Ok(render_job(&job))
    })
    .await
}

async fn update_job(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        Ok(render_job(&r.exact.catalog().processing().update_job(
            &r.actor,
            PluginJobId(id),
            &o,
        )?))
    })
    .await
}

async fn cancel_job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_job(
            &r.exact
                .catalog()
                .processing()
                .cancel_job(&r.actor, PluginJobId(id))?,
        ))
    })
    .await
}

async fn resume_job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    let j = r
        .one(move |r| {
            Ok(render_job(
                &r.exact
                    .catalog()
                    .processing()
                    .resume_job(&r.actor, PluginJobId(id))?,
            ))
        })
        .await?;
    crate::models::wake();
    Ok(j)
}

async fn delete_job(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .delete_job(&r.actor, PluginJobId(id))?)
    })
    .await
}

// ---- results and entries ----

async fn results(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .results(&r.actor)?
            .iter()
            .map(|x| render_result(r, x))
            .collect()
    })
    .await
}

async fn result(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let x = r
            .exact
            .catalog()
            .processing()
            .result(&r.actor, PluginResultId(id))?;
        render_result(r, &x)
    })
    .await
}

async fn create_result(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let x = r.exact.catalog().processing().create_result(&r.actor, &o)?;
        render_result(r, &x)
    })
    .await
}

async fn update_result(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        let x = r
            .exact
            .catalog()
            .processing()
            .update_result(&r.actor, PluginResultId(id), &o)?;
        render_result(r, &x)
    })
    .await
}

async fn entries(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .entries(&r.actor)?
            .iter()
            .map(|x| render_entry(r, x))
            .collect()
    })
    .await
}

async fn entry(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let (x, _) = r
            .exact
            .catalog()
            .processing()
            .entry(&r.actor, PluginResultEntryId(id))?;
        render_entry(r, &x)
    })
    .await
}

async fn create_entry(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let x = r.exact.catalog().processing().create_entry(&r.actor, &o)?;
        render_entry(r, &x)
    })
    .await
}

async fn update_entry(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        let x =
            r.exact
                .catalog()
                .processing()
                .update_entry(&r.actor, PluginResultEntryId(id), &o)?;
        render_entry(r, &x)
    })
    .await
}

// ---- result annotations ----

async fn result_annotations(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .result_annotations(&r.actor)?
            .iter()
            .map(render_result_annotation)
            .collect())
    })
    .await
}

async fn result_annotation(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_result_annotation(
            &r.exact
                .catalog()
                .processing()
                .result_annotation(&r.actor, PluginResultAnnotationId(id))?,
        ))
    })
    .await
}

async fn create_result_annotation(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        Ok(render_result_annotation(
            &r.exact
                .catalog()
                .processing()
                .create_result_annotation(&r.actor, &o)?,
        ))
    })
    .await
}

async fn update_result_annotation(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        Ok(render_result_annotation(
            &r.exact.catalog().processing().update_result_annotation(
                &r.actor,
                PluginResultAnnotationId(id),
                &o,
            )?,
        ))
    })
    .await
}

// ---- bitmaps ----

async fn bitmaps(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .bitmaps(&r.actor)?
            .iter()
            .map(render_bitmap)
            .collect())
    })
    .await
}

async fn bitmap(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_bitmap(
            &r.exact
                .catalog()
                .processing()
                .bitmap(&r.actor, PluginResultBitmapId(id))?,
        ))
    })
    .await
}

/// `POST pluginresultbitmaps/`: multipart with the `bitmap` file and EXACT's fields.
async fn create_bitmap(r: Req, req: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let up = upload(req, "bitmap", crate::body::BODY_LIMIT).await?;
    let Some(file) = up.file else {
        return Err(ApiError::bad("bitmap", "No file was submitted."));
    };
    {
        let (e, a, o) = (r.exact.clone(), r.actor.clone(), up.fields.clone());
        crate::blocking(move || Ok(e.catalog().processing().check_bitmap(&a, &o).map(|_| ())?))
            .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let b = with_blob(&r, "bitmaps", Some(file), move |key| {
        Ok(e.catalog()
            .processing()
            .create_bitmap(&a, &fields, key.as_deref().unwrap_or(""))?)
    })
    .await?;
    r.created(move |_| Ok(render_bitmap(&b))).await
}

async fn update_bitmap(r: Req, Id(id): Id, req: Request) -> ApiResult<Json<Value>> {
    let up = upload(req, "bitmap", crate::body::BODY_LIMIT).await?;
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            let b = e
                .catalog()
                .processing()
                .bitmap(&a, PluginResultBitmapId(id))?;
            let o = Obj::from_pairs([(
                "pluginresultentry",
                b.pluginresultentry.0.to_string().as_str(),
            )]);
            Ok(e.catalog().processing().check_bitmap(&a, &o).map(|_| ())?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let b = with_blob(&r, "bitmaps", up.file, move |key| {
        Ok(e.catalog().processing().update_bitmap(
            &a,
            PluginResultBitmapId(id),
            &fields,
            key.as_deref(),
        )?)
    })
    .await?;
    r.one(move |_| Ok(render_bitmap(&b))).await
}

async fn bitmap_file(r: Req, Id(id): Id) -> ApiResult<([(HeaderName, String); 1], Bytes)> {
    let (e, a) = (r.exact.clone(), r.actor.clone());
    let b = crate::blocking(move || {
        Ok(e.catalog()
            .processing()
            .bitmap(&a, PluginResultBitmapId(id))?)
    })
    .await?;
    blob_download(&r, &b.bitmap).await
}

// ---- review of model proposals ----

/// The images and filter of a review: `image` or `image_set`, plus `annotation_type`,
/// `min_score`, `max_score` (query parameters or body fields).
fn review_scope(r: &Req, o: &Obj) -> ApiResult<(Vec<ImageId>, ProposalFilter)> {
    let p = r.exact.catalog().processing();
    let images = match (o.u64("image")?, o.u64("image_set")?) {
        (Some(i), None) => vec![ImageId(i)],
        (None, Some(s)) => p.images_of_set(&r.actor, exact_core::ImageSetId(s))?,
        _ => {
            return Err(ApiError::bad(
                "image",
                "give exactly one of image and image_set",
            ));
        }
    };
    let filter = ProposalFilter {
        annotation_type: o.u64("annotation_type")?.map(exact_core::AnnotationTypeId),
        min_score: o.f64("min_score")?,
        max_score: o.f64("max_score")?,
    };
    Ok((images, filter))
}

fn query_obj(r: &Req) -> Obj {
    Obj::from_pairs(r.q.params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `GET processing/review/?image=…|image_set=…`: the proposals, lowest score first (paged).
async fn review_queue(r: Req) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let o = query_obj(&r);
        let (images, filter) = review_scope(&r, &o)?;
        let items: Vec<Value> = r
            .exact
            .catalog()
            .processing()
            .proposals(&r.actor, &images, &filter)?
            .iter()
            .map(json)
            .collect();
        // Keep the queue's order (not by id): page it as it is.
        let range = crate::pagination::window(&r.q, items.len())?;
        let count = items.len();
        let page: Vec<Value> = items
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect();
        Ok(Json(crate::pagination::envelope(
            &r.q,
            count,
            page,
            |_| {},
        )?))
    })
    .await
}

async fn review(r: Req, body: Body, accept: bool) -> ApiResult<Json<Value>> {
    let mut o = query_obj(&r);
    if let Value::Object(m) = body.0 {
        o.0.extend(m);
    }
    crate::blocking(move || {
        let (images, filter) = review_scope(&r, &o)?;
        let done = r
            .exact
            .catalog()
            .processing()
            .review(&r.actor, &images, &filter, accept)?;
        let ids: Vec<u64> = done.iter().map(|a| a.id.0).collect();
        Ok(Json(serde_json::json!({
            (if accept { "accepted" } else { "rejected" }): ids.len(),
            "ids": ids,
        })))
    })
    .await
}

/// `POST processing/review/accept/`: the selected proposals become normal annotations.
async fn review_accept(r: Req, body: Body) -> ApiResult<Json<Value>> {
    review(r, body, true).await
}

/// `POST processing/review/reject/`: the selected proposals are soft-deleted.
async fn review_reject(r: Req, body: Body) -> ApiResult<Json<Value>> {
    review(r, body, false).await
}

// ---- agreement statistics ----

/// The user `reference` names: a username, or a user id.
fn reference_user(r: &Req, text: &str) -> ApiResult<exact_core::UserId> {
    if let Some(u) = r.exact.catalog().users().by_username(text)? {
        return Ok(u.id);
    }
    text.parse::<u64>()
        .map(exact_core::UserId)
        .map_err(|_| ApiError::bad("reference", format!("no user named {text:?}")))
}

/// `GET processing/agreement/?image_set=&image=&reference=&iou=&distance=`: precision,
/// recall, F1 and Cohen's kappa of every annotator and model against the humans (or the
/// `reference` user), over one image or the whole set.
async fn agreement(r: Req) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let o = query_obj(&r);
        let set = o
            .u64("image_set")?
            .ok_or_else(|| ApiError::bad("image_set", "required: the image set to compare"))?;
        let mut opt = AgreementOptions::default();
        if let Some(iou) = o.f64("iou")? {
            opt.iou = iou;
        }
        opt.distance = o.f64("distance")?;
        if let Some(text) = o.str("reference")?.filter(|t| !t.trim().is_empty()) {
            opt.reference = Some(reference_user(&r, text.trim())?);
        }
        let image = o.u64("image")?.map(ImageId);
        let report = r.exact.catalog().processing().agreement(
            &r.actor,
            exact_core::ImageSetId(set),
            image,
            &opt,
        )?;
        Ok(Json(json(&report)))
    })
    .await
}

// ---- jobs of a whole set ----

async fn set_jobs(r: Req, body: Body, cancel: bool) -> ApiResult<Json<Value>> {
    let mut o = query_obj(&r);
    if let Value::Object(m) = body.0 {
        o.0.extend(m);
    }
    let out = crate::blocking(move || {
        let set = o
            .u64("image_set")?
            .ok_or_else(|| ApiError::bad("image_set", "required: the image set"))?;
        let jobs = r.exact.catalog().processing().set_jobs_state(
            &r.actor,
            exact_core::ImageSetId(set),
            o.u64("plugin")?.map(PluginId),
            cancel,
        )?;
        Ok(Json(Value::Array(jobs.iter().map(render_job).collect())))
    })
    .await;
    if !cancel {
        crate::models::wake();
    }
    out
}

/// `POST processing/set_jobs/cancel/?image_set=[&plugin=]`: cancels the set's queued and
/// running jobs; answers the jobs cancelled.
async fn set_jobs_cancel(r: Req, body: Body) -> ApiResult<Json<Value>> {
    set_jobs(r, body, true).await
}

/// `POST processing/set_jobs/resume/?image_set=[&plugin=]`: queues the set's cancelled and
/// failed jobs again (each resumes after its done tiles); answers the jobs queued.
async fn set_jobs_resume(r: Req, body: Body) -> ApiResult<Json<Value>> {
    set_jobs(r, body, false).await
}
