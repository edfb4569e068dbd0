//! Image files over HTTP: uploads as EXACT-Sync (`POST /api/v1/images/images/`, multipart) and
//! EXACT's UI (`POST /images/image/upload/<set>/`, `files[]`) send them, downloads of one image
//! (`/images/api/image/download/<id>/`, with ranges) or of a whole set as a zip streamed on the
//! fly (`/images/imageset/<id>/download/`), and the image actions EXACT-Sync calls
//! (`slide_information/`, `get_patch/`, `thumbnail/`, `update_image_cache/`, `DELETE`).

use super::{Authed, Id, blocking, json, one};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::Json;
use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use exact_core::model::{Image, ImageType};
use exact_core::{ImageId, ImageSetId};
use exact_store::files::{Outcome, Received, max_upload, safe_name};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/images/image/upload/{set}/",
            post(ui_upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/images/api/image/download/{id}/", get(download))
        .route("/images/imageset/{id}/download/", get(set_zip))
        .route(
            "/api/v1/images/images/{id}/slide_information/",
            get(slide_information),
        )
        // EXACT-Sync asks for `get_patch` without the trailing slash.
        .route("/api/v1/images/images/{id}/get_patch/", get(get_patch))
        .route("/api/v1/images/images/{id}/get_patch", get(get_patch))
        .route("/api/v1/images/images/{id}/thumbnail/", get(thumbnail))
        .route("/api/v1/images/images/{id}/thumbnail", get(thumbnail))
        .route(
            "/api/v1/images/images/{id}/update_image_cache/",
            axum::routing::patch(update_image_cache).post(update_image_cache),
        )
        .route("/images/api/image/delete/{id}/", delete(legacy_delete))
}

/// `POST /api/v1/images/images/` with a multipart body: every part with a file name is an
/// upload (EXACT-Sync calls it `file_path`). The upload permission on the set is checked as
/// soon as `image_set` arrives, before any later file is written (EXACT-Sync sends it first);
/// a file sent before it is accepted only from a member of some team (a user without any
/// can upload nowhere, so they write nothing), and removed again if the set then refuses.
/// Answers EXACT's paginated envelope of the images.
pub(super) async fn api_upload(
    s: AppState,
    actor: exact_core::permissions::Actor,
    q: ListQuery,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut received = Vec::new();
    let mut set = None;
    let mut image_type = ImageType::Default;
    let mut error = None;
    // `multi_frame=true`: the files are the frames of one image (named `name`, else after
    // the first file), in the order sent.
    let mut multi_frame = false;
    let mut frames_name = None;
    let max = max_upload();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                error = Some(ApiError::bad(
                    "body",
                    format!("malformed multipart body: {}", e.body_text()),
                ));
                break;
            }
        };
        if field.file_name().is_some() {
            if set.is_none() && !actor.superuser && actor.teams.is_empty() {
                error = Some(ApiError::Core(exact_core::Error::denied(
                    "no rights to upload images: not a member of any team",
                )));
                break;
            }
            match receive(&s, &mut field, max).await {
                Ok(r) => received.push(r),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
            continue;
        }
        let name = field.name().unwrap_or("").to_owned();
        let text = match field.text().await {
            Ok(t) => t,
            Err(e) => {
                error = Some(ApiError::bad(name, e.body_text()));
                break;
            }
        };
        match name.as_str() {
            "image_set" => match text.trim().parse() {
                Ok(v) => {
                    let (exact, a) = (s.exact.clone(), actor.clone());
                    let check =
                        blocking(move || Ok(exact.images().check_upload(&a, ImageSetId(v))?));
                    if let Err(e) = check.await {
                        error = Some(e);
                        break;
                    }
                    set = Some(ImageSetId(v));
                }
                Err(_) => {
                    error = Some(ApiError::bad("image_set", format!("{text:?} is not an id")))
                }
            },
            "image_type" => match text
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(ImageType::from_code)
            {
                Some(t) => image_type = t,
                None => {
                    error = Some(ApiError::bad(
                        "image_type",
                        format!("{text:?} is not 0, 1 or 2"),
                    ))
                }
            },
            "multi_frame" => match exact_core::wire::parse_bool(text.trim()) {
                Some(v) => multi_frame = v,
                None => {
                    error = Some(ApiError::bad(
                        "multi_frame",
                        format!("{text:?} is not true or false"),
                    ))
                }
            },
            "name" => frames_name = Some(text.trim().to_owned()),
            _ => {}
        }
    }
    let fail = async |received: &[Received], e: ApiError| {
        for r in received {
            s.exact.images().discard(r).await;
        }
        Err(e)
    };
    if let Some(e) = error {
        drain(&mut multipart).await;
        return fail(&received, e).await;
    }
    let Some(set) = set else {
        return fail(
            &received,
            ApiError::bad("image_set", "This field is required."),
        )
        .await;
    };
    if received.is_empty() {
        return Err(ApiError::bad("file_path", "No file was submitted."));
    }
    let mut images = Vec::new();
    let mut errors = Vec::new();
    let batches = if multi_frame {
        let name = frames_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| received[0].name().to_owned());
        let o = s
            .exact
            .images()
            .register_frames(&actor, set, &name, received)
            .await;
        vec![vec![o]]
    } else {
        let mut all = Vec::new();
        for r in received {
            all.push(s.exact.images().register(&actor, set, image_type, r).await);
        }
        all
    };
    for batch in batches {
        for o in batch {
            match o {
                Outcome::Created(i) | Outcome::Duplicate(i) => images.push(i),
                Outcome::Failed { name, error, .. } => {
                    let status = failure_status(&name, &error);
                    errors.push((name, s.paths.scrub(&error.to_string()), status))
                }
            }
        }
    }
    if images.is_empty() {
        let (name, error, status) = errors.remove(0);
        return Err(ApiError::Rejected {
            status,
            detail: format!("{name}: {error}"),
        });
    }
    let results: Vec<Value> = images
        .iter()
        .map(|i| one(&s.exact, &actor, &q, json(i)))
        .collect();
    let failures: Vec<Value> = errors
        .into_iter()
        .map(|(name, error, _)| json!({"name": name, "error": error}))
        .collect();
    let mut body = json!({
        "count": results.len(), "next": null, "previous": null, "results": results,
    });
    if !failures.is_empty() {
        body["errors"] = Value::Array(failures);
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// Most of a refused upload's body read (and dropped) before answering: an HTTP/1 client
/// that is still sending when the answer comes and the connection closes may lose the answer,
/// or reuse a connection the server is about to close. Beyond this the connection is closed.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads what is left of a multipart body, writing nothing, up to [`DRAIN_LIMIT`] bytes.
async fn drain(multipart: &mut Multipart) {
    let mut left = DRAIN_LIMIT;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                return;
            }
        }
    }
}

/// The status a refused file deserves; server faults are logged.
fn failure_status(name: &str, error: &exact_core::Error) -> StatusCode {
    let status = crate::error::status_of(error.kind());
    if status.is_server_error() {
        tracing::error!(file = %name, error = %error, "upload failed");
    }
    status
}

/// Streams one multipart file into the blob store through the library (hashed, limited,
/// removed again on failure). A client that stopped sending gets 408, not 400.
async fn receive(
    s: &AppState,
    field: &mut axum::extract::multipart::Field<'_>,
    max: u64,
) -> ApiResult<Received> {
    let name = safe_name(field.file_name().unwrap_or("upload"));
    let timed_out = std::sync::atomic::AtomicBool::new(false);
    let (shown, flag) = (name.clone(), &timed_out);
    let chunks = futures::stream::unfold(Some(field), move |f| {
        let shown = shown.clone();
        async move {
            let f = f?;
            match f.chunk().await {
                Ok(Some(c)) => Some((Ok(c), Some(f))),
                Ok(None) => None,
                Err(e) => {
                    let why = if crate::serve::is_body_timeout(&e) {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                        "the client stopped sending".to_owned()
                    } else {
                        e.body_text()
                    };
                    let e = exact_core::Error::invalid(
                        "file",
                        format!("{shown}: upload interrupted: {why}"),
                    );
                    Some((Err(e), None))
                }
            }
        }
    });
    match s.exact.images().receive(&name, chunks, max).await {
        Ok(r) => Ok(r),
        Err(e) if timed_out.load(std::sync::atomic::Ordering::Relaxed) => Err(ApiError::Rejected {
            status: StatusCode::REQUEST_TIMEOUT,
            detail: e.to_string(),
        }),
        Err(exact_core::Error::InvalidInput { field, reason }) => {
            Err(ApiError::BadRequest { field, reason })
        }
        Err(e) => Err(ApiError::Core(e)),
    }
}

/// EXACT's UI upload: `files[]` parts into the set of the path; answers `{"files": [...]}`
/// with `{name, size, id}` per new image and `{name, size, error, id}` (existing id or -1)
/// per refused file.
async fn ui_upload(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Path(set): Path<String>,
    mut multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let set =
        ImageSetId(set.parse().map_err(|_| {
            ApiError::Core(exact_core::Error::not_found(format!("image set {set:?}")))
        })?);
    let (exact, a) = (s.exact.clone(), actor.clone());
    if let Err(e) = blocking(move || Ok(exact.images().check_upload(&a, set)?)).await {
        drain(&mut multipart).await;
        return Err(e);
    }
    let max = max_upload();
    let mut files = Vec::new();
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::bad(
                    "files[]",
                    format!("malformed multipart body: {}", e.body_text()),
                ));
            }
        };
        if field.file_name().is_none() {
            continue;
        }
        let got = receive(&s, &mut field, max).await?;
        let size = got.size();
        let outcomes = s
            .exact
            .images()
            .register(&actor, set, ImageType::Default, got)
            .await;
        for o in outcomes {
            files.push(match o {
                Outcome::Created(i) => json!({"name": i.name, "size": size, "id": i.id}),
                Outcome::Duplicate(i) => json!({
                    "name": i.name, "size": size, "id": i.id,
                    "error": "Duplicate: the set already holds this file",
                }),
                Outcome::Failed {
                    name, size, error, ..
                } => {
                    failure_status(&name, &error);
                    let error = s.paths.scrub(&error.to_string());
                    json!({"name": name, "size": size, "error": error, "id": -1})
                }
            });
        }
    }
    if files.is_empty() {
        return Err(ApiError::bad("files[]", "No file was submitted."));
    }
    Ok(Json(json!({ "files": files })))
}

/// A readable image by the id in the path.
async fn image_of(
    s: &AppState,
    actor: exact_core::permissions::Actor,
    id: u64,
) -> ApiResult<Image> {
    let exact = s.exact.clone();
    blocking(move || Ok(exact.images().get(&actor, ImageId(id))?)).await
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` of a file of `size` bytes; `None` for no header,
/// `Err` for ranges that cannot be satisfied.
fn parse_range(h: Option<&str>, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(h) = h else { return Ok(None) };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multi-range: answer the whole file, as allowed
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let r = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse().map_err(|_| ())?..size,
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| ())?;
            let b: u64 = b.parse().map_err(|_| ())?;
            a..b.saturating_add(1).min(size)
        }
    };
    if r.start >= r.end || r.start >= size {
        return Err(());
    }
    Ok(Some(r))
}

/// `GET /images/api/image/download/<id>/?original_image=True|False`: the file as uploaded, or
/// the file served (the converted pyramid, the linked slide), streamed with Content-Length,
/// Content-Disposition and single-range support.
async fn download(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let original = q.bool("original_image")?.unwrap_or(false);
    let file = s.exact.images().file(&actor, ImageId(id), original).await?;
    let size = file.size();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|h| parse_range(Some(h), size));
    let range = match range {
        None => None,
        Some(Ok(r)) => r,
        Some(Err(())) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                Json(json!({"detail": format!("the range is outside the file's {size} bytes")})),
            )
                .into_response());
        }
    };
    let body = HttpBody::from_stream(file.read(range.clone()).await?);
    let file_name = file.name().to_owned();
    let disposition = content_disposition(&file_name);
    let mut r = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::ACCEPT_RANGES, "bytes");
    r = match &range {
        Some(rg) => r
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, rg.end - rg.start)
            .header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", rg.start, rg.end - 1),
            ),
        None => r
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, size),
    };
    r.body(body).map_err(|e| {
        ApiError::Core(exact_core::Error::backend(
            "download",
            std::io::Error::other(e),
        ))
    })
}

/// RFC 6266 `attachment` with an ASCII fallback `filename` (anything else `_`) and the exact
/// name as RFC 5987 `filename*=UTF-8''…`, which every current browser and curl prefer.
pub(crate) fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /images/imageset/<id>/download/`: every image of the set in one zip, streamed while
/// it is written by the library (stored, not recompressed: slides are compressed already), so
/// a set is never held in memory or on disk. `204` for a set without images.
async fn set_zip(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Response> {
    // `?deidentify=true`: every slide without its label and macro images.
    let deidentify = q.bool("deidentify")?.unwrap_or(false);
    let files = s.exact.images();
    let zip = if deidentify {
        files.set_zip_deidentified(&actor, ImageSetId(id)).await?
    } else {
        files.set_zip(&actor, ImageSetId(id)).await?
    };
    // `&check=true`: only whether it can be done (204, else the 400 naming the image), so
    // a page can show the reason before it starts a download.
    if q.bool("check")?.unwrap_or(false) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let Some(zip) = zip else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let id = if deidentify {
        format!("{id}_deidentified")
    } else {
        id.to_string()
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"imageset_{id}.zip\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        HttpBody::from_stream(zip.into_stream()),
    )
        .into_response())
}

/// A readable image and its generator on EXACT's grid.
async fn exact_grid(
    s: &AppState,
    actor: exact_core::permissions::Actor,
    id: u64,
) -> ApiResult<(Image, Arc<exact_tiles::DeepZoomGenerator>)> {
    let image = image_of(s, actor, id).await?;
    let g = s
        .pixels
        .deepzoom(&image, Some(super::tiles::EXACT_GRID))
        .await?;
    Ok((image, g))
}

/// `slide_information/`: the pyramid as EXACT describes it.
async fn slide_information(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let (image, g) = exact_grid(&s, actor, id).await?;
    let slide = g.slide();
    Ok(Json(json!({
        "id": id,
        "levels": slide.level_count(),
        "level_count": slide.level_count(),
        "level_dimensions": slide.level_dimensions(),
        "level_downsamples": slide.level_downsamples(),
        "level_tiles": g.geometry().level_tiles(),
        "dimensions": slide.dimensions(),
        "mpp": image.mpp,
        "objectivePower": image.objective_power,
        "properties": slide.properties(),
    })))
}

/// Largest patch `get_patch/` renders, per side (EXACT's limit).
const MAX_PATCH: u32 = 2048;

async fn png_response(img: exact_tiles::Image) -> ApiResult<Response> {
    let png = super::tiles::encode_png(img).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// `get_patch/?x&y&level&width&height`: a PNG of the region, clipped to the level.
async fn get_patch(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Response> {
    let finite = |name: &str| -> ApiResult<f64> {
        let v = q.f64(name)?.unwrap_or(0.0);
        if !v.is_finite() || v.abs() > 1e15 {
            return Err(ApiError::bad(
                name,
                format!("{v} is not a finite pixel coordinate"),
            ));
        }
        Ok(v)
    };
    let x = finite("x")?.floor() as i64;
    let y = finite("y")?.floor() as i64;
    let level = q.u64("level")?.unwrap_or(0) as usize;
    let w = q.u64("width")?.unwrap_or(256);
    let h = q.u64("height")?.unwrap_or(256);
    if w == 0 || h == 0 || w > u64::from(MAX_PATCH) || h > u64::from(MAX_PATCH) {
        return Err(ApiError::bad(
            "width",
            format!("{w} × {h}: patches are 1 to {MAX_PATCH} pixels per side"),
        ));
    }
    if x < 0 || y < 0 {
        return Err(ApiError::bad("x", "x and y must not be negative"));
    }
    let image = image_of(&s, actor, id).await?;
    let slide = s.pixels.slide(&image).await?;
    let dims = slide.level_dimensions();
    let Some(&(lw, lh)) = dims.get(level) else {
        return Err(ApiError::bad(
            "level",
            format!("{level}: the image has levels 0..{}", dims.len()),
        ));
    };
    let ds = slide.level_downsamples()[level];
    let (lx, ly) = ((x as f64 / ds) as u64, (y as f64 / ds) as u64);
    if lx >= lw || ly >= lh {
        return Err(ApiError::bad(
            "x",
            format!("({x}, {y}) is outside the image"),
        ));
    }
    // Clipped to the level, as EXACT does.
    let w = w.min(lw - lx) as u32;
    let h = h.min(lh - ly) as u32;
    let name = slide.name().to_owned();
    let img = slide
        .read_region(x, y, level, w, h)
        .await
        .map_err(|e| crate::pixels::slide_error(&name, e))?;
    png_response(img).await
}

/// `thumbnail/`: a PNG of at most 128 × 128 pixels.
async fn thumbnail(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Response> {
    let image = image_of(&s, actor, id).await?;
    let slide = s.pixels.slide(&image).await?;
    let name = slide.name().to_owned();
    let img = slide
        .thumbnail(128, 128)
        .await
        .map_err(|e| crate::pixels::slide_error(&name, e))?;
    png_response(img).await
}

/// `update_image_cache/`: opens the slide and renders the small Deep Zoom levels of EXACT's
/// grid (what a viewer asks first), so the first view is fast.
async fn update_image_cache(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<Json<Value>> {
    let (_, g) = exact_grid(&s, actor, id).await?;
    let mut warmed = 0u64;
    for (level, &(cols, rows)) in g.geometry().level_tiles().iter().enumerate() {
        if u64::from(cols) * u64::from(rows) > 64 {
            break;
        }
        for row in 0..rows {
            for col in 0..cols {
                if g.tile(level, col, row).await.is_ok() {
                    warmed += 1;
                }
            }
        }
    }
    Ok(Json(json!({"id": id, "warmed_tiles": warmed})))
}

/// `DELETE /api/v1/images/images/<id>/`: soft delete (annotations and files kept); its open
/// slide and cached tiles are dropped.
pub(super) async fn delete_image(
    s: AppState,
    actor: exact_core::permissions::Actor,
    id: u64,
) -> ApiResult<StatusCode> {
    let exact = s.exact.clone();
    let image = blocking(move || Ok(exact.images().delete(&actor, ImageId(id))?)).await?;
    s.pixels.invalidate(&image);
    Ok(StatusCode::NO_CONTENT)
}

async fn legacy_delete(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    delete_image(s, actor, id).await
}
