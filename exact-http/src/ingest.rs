//! Turning uploaded files into images: streaming a file into the blob store (hashing as it
//! goes, never holding it in memory), unpacking zip archives safely, probing what a file is,
//! registering the image, and converting non-pyramidal pictures into pyramids in the
//! background. An upload that cannot be read is removed again: no half-registered images.
//!
//! Blob layout: every upload gets a fresh directory `images/<uuid>/`, holding the file as
//! uploaded (or an archive's entries) and, after conversion, `<stem>.pyramid.tiff`. Blob keys
//! are ASCII (`[A-Za-z0-9._-]`, see [`blob_name`]); the name the client gave is the image's
//! `name`. Keys with `%`, `#`, `?`, `~`, quotes or non-ASCII letters were written and read
//! under different names (object_store percent-encodes path parts, local files did not),
//! and every store spells such keys differently; plain keys mean the same everywhere.
//!
//! Crash safety: before the first byte of an upload is written, a marker
//! `uploads/pending/<uuid>` names its directory; it is removed just before the image is
//! registered (or after a failed upload was cleaned up). A directory whose marker is still
//! there at start-up belongs to an upload that a crash interrupted, and [`sweep`] removes it.
//! (Writing to a `tmp/` prefix and moving on success would copy every upload once more on S3,
//! whose server-side copy stops at 5 GB: slides are bigger.)

mod pending;
mod unzip;

pub use pending::{Registrations, blob_name, discard, sweep};
use pending::{fresh_dir, mark_pending, remove_dir};
use unzip::unzip;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use bytes::Bytes;
use exact_core::ImageSetId;
use exact_core::catalog::{NewImage, PixelUpdate};
use exact_core::model::{Image, ImageType, PixelState};
use exact_core::permissions::Actor;
use exact_store::Blobs;
use exact_tiles::Slide;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Largest upload accepted, in bytes (`EXACT_MAX_UPLOAD` overrides).
pub fn max_upload() -> u64 {
    std::env::var("EXACT_MAX_UPLOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 30)
}

/// A file received into the blob store.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its blob key.
    pub key: String,
    /// The name the client gave it (sanitised).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-512, hex.
    pub checksum: String,
    /// The marker of the upload in progress (see the module docs).
    pub marker: String,
}

impl Received {
    /// The blob directory the upload was written into.
    fn dir(&self) -> &str {
        self.key.rsplit_once('/').map_or("", |(d, _)| d)
    }
}

/// What became of one uploaded file.
#[derive(Debug)]
pub enum Outcome {
    /// A new image.
    Created(Image),
    /// The set already holds this file (same name, same checksum): nothing added.
    Duplicate(Image),
    /// Not added, with the reason.
    Failed {
        /// File name.
        name: String,
        /// Size in bytes.
        size: u64,
        /// Why.
        error: String,
        /// Status the reason deserves.
        status: axum::http::StatusCode,
    },
}

/// A file name reduced to its last path component, without control characters; never
/// empty, `.` or `..`.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".into()
    } else {
        clean
    }
}

/// Where received bytes go: a local file renamed into place when complete, or an object
/// store multipart upload completed at the end.
enum Sink {
    File {
        part: PathBuf,
        dst: PathBuf,
        file: tokio::io::BufWriter<tokio::fs::File>,
    },
    Store(object_store::buffered::BufWriter),
}

impl Sink {
    async fn open(blobs: &Blobs, key: &str) -> ApiResult<Sink> {
        if let Some(dst) = blobs.local_path(key)? {
            let parent = dst.parent().unwrap_or(Path::new("/")).to_path_buf();
            tokio::fs::create_dir_all(&parent).await.map_err(io_error)?;
            let part = dst.with_extension("part~");
            let file = tokio::fs::File::create(&part).await.map_err(io_error)?;
            return Ok(Sink::File {
                part,
                dst,
                file: tokio::io::BufWriter::with_capacity(1 << 20, file),
            });
        }
        let path = blobs.path(key)?;
        let store = blobs.object_store().0.clone();
        Ok(Sink::Store(
            object_store::buffered::BufWriter::with_capacity(store, path, 8 << 20),
        ))
    }

    async fn write(&mut self, chunk: &[u8]) -> ApiResult<()> {
        match self {
            Sink::File { file, .. } => file.write_all(chunk).await.map_err(io_error),
            Sink::Store(w) => w.write_all(chunk).await.map_err(io_error),
        }
    }

    /// Makes the bytes durable and visible under their key.
    async fn finish(self) -> ApiResult<()> {
        match self {
            Sink::File {
                part,
                dst,
                mut file,
            } => {
                file.flush().await.map_err(io_error)?;
                let f = file.into_inner();
                f.sync_all().await.map_err(io_error)?;
                drop(f);
                tokio::fs::rename(&part, &dst).await.map_err(io_error)
            }
            Sink::Store(mut w) => w.shutdown().await.map_err(io_error),
        }
    }

    async fn abort(self) {
        match self {
            Sink::File { part, .. } => {
                let _ = tokio::fs::remove_file(part).await;
            }
            Sink::Store(mut w) => {
                let _ = w.abort().await;
            }
        }
    }
}

fn io_error(e: std::io::Error) -> ApiError {
    ApiError::Core(exact_core::Error::backend("blob store", e))
}

/// Streams one multipart field into a new blob, hashing it; at most `max` bytes. Anything
/// that fails removes what was written.
pub async fn receive(
    blobs: &Blobs,
    field: &mut axum::extract::multipart::Field<'_>,
    max: u64,
) -> ApiResult<Received> {
    let name = safe_name(field.file_name().unwrap_or("upload"));
    let (dir, marker) = fresh_dir();
    let key = format!("{dir}/{}", blob_name(&name));
    mark_pending(blobs, &marker).await?;
    let got = receive_into(blobs, field, max, &name, &key).await;
    match got {
        Ok((size, checksum)) => Ok(Received {
            key,
            name,
            size,
            checksum,
            marker,
        }),
        Err(e) => {
            remove_dir(blobs, &dir).await;
            let _ = blobs.delete(&marker).await;
            Err(e)
        }
    }
}

async fn receive_into(
    blobs: &Blobs,
    field: &mut axum::extract::multipart::Field<'_>,
    max: u64,
    name: &str,
    key: &str,
) -> ApiResult<(u64, String)> {
    let mut sink = Sink::open(blobs, key).await?;
    let mut hash = Sha512::new();
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                sink.abort().await;
                if crate::serve::is_body_timeout(&e) {
                    return Err(ApiError::Rejected {
                        status: axum::http::StatusCode::REQUEST_TIMEOUT,
                        detail: format!("{name}: upload interrupted: the client stopped sending"),
                    });
                }
                return Err(ApiError::bad(
                    "file",
                    format!("{name}: upload interrupted: {}", e.body_text()),
                ));
            }
        };
        size += chunk.len() as u64;
        if size > max {
            sink.abort().await;
            return Err(ApiError::Rejected {
                status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                detail: format!("{name}: larger than the upload limit of {max} bytes"),
            });
        }
        hash.update(&chunk);
        if let Err(e) = sink.write(&chunk).await {
            sink.abort().await;
            return Err(e);
        }
    }
    if size == 0 {
        sink.abort().await;
        return Err(ApiError::bad("file", format!("{name}: the file is empty")));
    }
    sink.finish().await?;
    Ok((size, hex(&hash.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local file holding the blob `key`: the blob itself when blobs are local, else a copy
/// in a temporary directory (kept alive by the returned guard).
async fn local_copy(blobs: &Blobs, key: &str) -> ApiResult<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(p) = blobs.local_path(key)? {
        return Ok((p, None));
    }
    let dir = tempfile::tempdir().map_err(io_error)?;
    let path = dir.path().join("blob");
    let (store, _) = blobs.object_store();
    let got = store
        .get(&blobs.path(key)?)
        .await
        .map_err(|e| ApiError::Core(exact_core::Error::backend("blob store", e)))?;
    let mut stream = got.into_stream();
    let mut f = tokio::fs::File::create(&path).await.map_err(io_error)?;
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::Core(exact_core::Error::backend("blob store", e)))?;
        f.write_all(&chunk).await.map_err(io_error)?;
    }
    f.flush().await.map_err(io_error)?;
    Ok((path, Some(dir)))
}

/// Copies a local file into the blob `key` (no-op when it already is that blob).
async fn put_file(blobs: &Blobs, path: &Path, key: &str) -> ApiResult<()> {
    if let Some(dst) = blobs.local_path(key)? {
        if dst != path {
            if let Some(parent) = dst.parent() {
                tokio::fs::create_dir_all(parent).await.map_err(io_error)?;
            }
            tokio::fs::rename(path, &dst).await.map_err(io_error)?;
        }
        return Ok(());
    }
    let mut sink = Sink::open(blobs, key).await?;
    let mut f = tokio::fs::File::open(path).await.map_err(io_error)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        use tokio::io::AsyncReadExt;
        let n = f.read(&mut buf).await.map_err(io_error)?;
        if n == 0 {
            break;
        }
        if let Err(e) = sink.write(&buf[..n]).await {
            sink.abort().await;
            return Err(e);
        }
    }
    sink.finish().await
}

async fn remove_blob(blobs: &Blobs, key: &str) {
    let _ = blobs.delete(key).await;
}

fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

async fn head_of(blobs: &Blobs, key: &str, size: u64) -> ApiResult<Bytes> {
    Ok(blobs.get_range(key, 0..size.min(16)).await?)
}

/// Registers what was received as images of `set`: an archive's slides or pictures, or the
/// file itself. Each outcome says what became of one file.
pub async fn ingest(
    s: &AppState,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Vec<Outcome> {
    let blobs = s.exact.blobs();
    let (dir, marker) = (got.dir().to_owned(), got.marker.clone());
    let out = ingest_files(s, actor, set, image_type, got).await;
    // Nothing of this upload became an image (failed, or a duplicate of one that did):
    // nothing of it stays, also not an archive's other files.
    if !out.iter().any(|o| matches!(o, Outcome::Created(_))) {
        remove_dir(blobs, &dir).await;
    }
    let _ = blobs.delete(&marker).await;
    out
}

async fn ingest_files(
    s: &AppState,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Vec<Outcome> {
    let blobs = s.exact.blobs();
    let head = match head_of(blobs, &got.key, got.size).await {
        Ok(h) => h,
        Err(e) => return vec![failed(&got, e)],
    };
    if !is_zip(&head) {
        return vec![register(s, actor, set, image_type, got).await];
    }
    let entries = match unzip(blobs, &got).await {
        Ok(e) => e,
        Err(e) => return vec![failed(&got, e)],
    };
    // The archive itself is not kept: its entries are.
    remove_blob(blobs, &got.key).await;
    // Multi-file slide formats: only the index file is an image, its data files stay beside it.
    let index: Vec<&Received> = entries
        .iter()
        .filter(|e| {
            let n = e.name.to_ascii_lowercase();
            n.ends_with(".mrxs") || n.ends_with(".vms")
        })
        .collect();
    let chosen: Vec<Received> = if index.is_empty() {
        entries
    } else {
        index.into_iter().cloned().collect()
    };
    if chosen.is_empty() {
        return vec![Outcome::Failed {
            name: got.name,
            size: got.size,
            error: "the zip archive holds no files".into(),
            status: axum::http::StatusCode::BAD_REQUEST,
        }];
    }
    let mut out = Vec::with_capacity(chosen.len());
    for e in chosen {
        out.push(register(s, actor, set, image_type, e).await);
    }
    out
}

fn failed(got: &Received, e: ApiError) -> Outcome {
    let (status, error) = match e {
        ApiError::Core(e) => (crate::error::status_of(e.kind()), e.to_string()),
        ApiError::BadRequest { field, reason } => (
            axum::http::StatusCode::BAD_REQUEST,
            format!("{field}: {reason}"),
        ),
        ApiError::Rejected { status, detail } => (status, detail),
        ApiError::Throttled { detail, .. } => (axum::http::StatusCode::TOO_MANY_REQUESTS, detail),
        ApiError::Unauthenticated(d) => (axum::http::StatusCode::UNAUTHORIZED, d),
        ApiError::Busy { detail, .. } => (axum::http::StatusCode::SERVICE_UNAVAILABLE, detail),
    };
    if status.is_server_error() {
        tracing::error!(file = %got.name, %error, "upload failed");
    }
    Outcome::Failed {
        name: got.name.clone(),
        size: got.size,
        error,
        status,
    }
}

/// What a slide says about itself.
struct Probed {
    width: u64,
    height: u64,
    mpp: f64,
    objective_power: f64,
}

async fn open_blob_slide(blobs: &Blobs, key: &str) -> exact_tiles::Result<Slide> {
    match blobs.object_url(key) {
        Ok(Some(url)) => Slide::open(&url).await,
        _ => {
            let path = blobs
                .path(key)
                .map_err(|e| exact_tiles::Error::invalid("key", e.to_string()))?;
            Slide::open_store(blobs.object_store().0.clone(), path).await
        }
    }
}

/// Size, mpp and objective power of an open slide.
fn describe(slide: &Slide) -> Probed {
    let (width, height) = slide.dimensions();
    let prop = |k: &str| {
        slide
            .properties()
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let mpp = match (prop("openslide.mpp-x"), prop("openslide.mpp-y")) {
        (Some(x), Some(y)) => (x + y) / 2.0,
        (Some(x), None) | (None, Some(x)) => x,
        _ => 0.0,
    };
    Probed {
        width,
        height,
        mpp,
        objective_power: prop("openslide.objective-power").unwrap_or(1.0),
    }
}

/// Opens a slide by URL (a file link) and describes it.
pub async fn probe_url(url: &str) -> ApiResult<(u64, u64, f64, f64)> {
    let slide = Slide::open(url)
        .await
        .map_err(|e| crate::pixels::slide_error(url, e))?;
    // The same checks as an upload: a linked slide that is damaged is refused, not served.
    slide.check().map_err(|e| match e {
        exact_tiles::Error::Corrupt { detail, .. } => {
            ApiError::bad("filename", format!("the slide is damaged: {detail}"))
        }
        e => crate::pixels::slide_error(url, e),
    })?;
    let p = describe(&slide);
    Ok((p.width, p.height, p.mpp, p.objective_power))
}

/// Checks a file link (`filename` = `s3://…`, `file:///…` or an absolute path) and fills the
/// image's size, mpp and objective power from the slide. Superusers only: the server reads
/// the URL with its own credentials, which no team member should borrow.
pub async fn link_slide(
    actor: &exact_core::permissions::Actor,
    new: &mut NewImage,
) -> ApiResult<()> {
    if !actor.superuser {
        return Err(ApiError::Core(exact_core::Error::denied(
            "only superusers register slides by URL (image_type 2)",
        )));
    }
    let (w, h, mpp, power) = probe_url(&new.filename).await?;
    if new.width <= 1 && new.height <= 1 {
        new.width = w;
        new.height = h;
    }
    if new.mpp == 0.0 {
        new.mpp = mpp;
    }
    if new.objective_power == 1.0 {
        new.objective_power = power;
    }
    if new.name == new.filename {
        new.name = safe_name(&new.filename);
    }
    Ok(())
}

/// The answer for a file whose name the set already holds: the existing image when the bytes
/// are the same (a duplicate), else a 409.
async fn existing(
    s: &AppState,
    actor: &Actor,
    set: ImageSetId,
    got: &Received,
) -> ApiResult<Option<Outcome>> {
    let exact = s.exact.clone();
    let (a, n) = (actor.clone(), got.name.clone());
    let found = crate::blocking(move || Ok(exact.images().by_name(&a, set, &n)?)).await?;
    Ok(found.map(|existing| {
        if existing.checksum == got.checksum {
            return Outcome::Duplicate(existing);
        }
        Outcome::Failed {
            name: got.name.clone(),
            size: got.size,
            error: format!(
                "set {} already holds a different image named {:?} (image {})",
                set.0, existing.name, existing.id.0
            ),
            status: axum::http::StatusCode::CONFLICT,
        }
    }))
}

/// Registers one received file as an image: a slide the engine opens is ready at once; a
/// picture it can convert is registered as converting and converted in the background;
/// anything else is refused and its blob removed.
async fn register(
    s: &AppState,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Outcome {
    let blobs = s.exact.blobs();
    let _registering = s.uploads.lock(set, &got.name).await;
    match existing(s, actor, set, &got).await {
        Ok(None) => {}
        Ok(Some(outcome)) => {
            remove_blob(blobs, &got.key).await;
            return outcome;
        }
        Err(e) => {
            remove_blob(blobs, &got.key).await;
            return failed(&got, e);
        }
    }
    let mut new = NewImage::new(set, got.name.clone(), 1, 1);
    new.filename = got.key.clone();
    new.original = got.key.clone();
    new.checksum = got.checksum.clone();
    new.image_type = if image_type == ImageType::FileLink {
        ImageType::Default
    } else {
        image_type
    };
    // A slide is checked before it is accepted (`Slide::check`: tile bytes inside the file,
    // declared sizes plausible for the bytes present, a readable sample layout). A damaged or
    // hostile file is refused with the reason and nothing is kept, as EXACT answers an upload
    // it cannot open (`error` and id -1 in the upload's file list): a `failed` image left in
    // the set would only be a dead entry its users must find and delete. Files the engine
    // does not serve (unsupported, not a TIFF) may still be pictures to convert.
    let probed = match open_blob_slide(blobs, &got.key).await {
        Ok(slide) => slide.check().map(|()| slide),
        Err(e) => Err(e),
    };
    if let Err(exact_tiles::Error::Corrupt { detail, .. }) = &probed {
        remove_blob(blobs, &got.key).await;
        return Outcome::Failed {
            name: got.name,
            size: got.size,
            error: format!("not a readable slide: the file is damaged: {detail}"),
            status: axum::http::StatusCode::BAD_REQUEST,
        };
    }
    let convert = match probed {
        Ok(slide) => {
            let p = describe(&slide);
            new.width = p.width;
            new.height = p.height;
            new.mpp = p.mpp;
            new.objective_power = p.objective_power;
            false
        }
        Err(slide_err) => {
            let dims = match local_copy(blobs, &got.key).await {
                Ok((path, guard)) => {
                    let r = tokio::task::spawn_blocking(move || {
                        let r = exact_tiles::convert::dimensions(&path);
                        drop(guard);
                        r
                    })
                    .await;
                    match r {
                        Ok(Ok(d)) => Ok(d),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(format!("{e:?}")),
            };
            match dims {
                Ok((_, w, h)) => {
                    new.width = u64::from(w);
                    new.height = u64::from(h);
                    new.state = PixelState::Converting;
                    new.state_detail = "queued for conversion into a pyramid".into();
                    true
                }
                Err(picture_err) => {
                    remove_blob(blobs, &got.key).await;
                    return Outcome::Failed {
                        name: got.name,
                        size: got.size,
                        error: format!(
                            "not an image exact-rs can read: as a slide: {slide_err}; as a picture: {picture_err}"
                        ),
                        status: axum::http::StatusCode::BAD_REQUEST,
                    };
                }
            }
        }
    };
    // From here on the image names this directory: a crash must not sweep it away.
    let _ = blobs.delete(&got.marker).await;
    let exact = s.exact.clone();
    let a = actor.clone();
    let image = match crate::blocking(move || Ok(exact.images().add(&a, new)?)).await {
        Ok(i) => i,
        Err(e) => {
            remove_blob(blobs, &got.key).await;
            return failed(&got, e);
        }
    };
    if convert {
        spawn_conversion(s.clone(), image.clone());
    }
    Outcome::Created(image)
}

/// Converts a registered picture into a pyramid in the background and records the result.
pub fn spawn_conversion(s: AppState, image: Image) {
    tokio::spawn(async move {
        let id = image.id;
        let update = match convert(&s, &image).await {
            Ok(update) => update,
            Err(reason) => {
                tracing::warn!(image = id.0, %reason, "conversion failed");
                PixelUpdate {
                    state: PixelState::Failed,
                    // Shown to every reader of the image: without server paths.
                    state_detail: s.paths.scrub(&reason),
                    filename: None,
                    width: None,
                    height: None,
                    mpp: None,
                    objective_power: None,
                }
            }
        };
        let exact = s.exact.clone();
        let r = crate::blocking(move || Ok(exact.images().record_pixels(id, update)?)).await;
        match r {
            Ok(done) => s.pixels.invalidate(&done),
            Err(e) => tracing::error!(image = id.0, error = ?e, "recording a conversion failed"),
        }
    });
}

async fn convert(s: &AppState, image: &Image) -> Result<PixelUpdate, String> {
    let blobs = s.exact.blobs();
    let original = if image.original.is_empty() {
        &image.filename
    } else {
        &image.original
    };
    let stem = original
        .rsplit('/')
        .next()
        .unwrap_or("image")
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or("image")
        .to_owned();
    let dir = original
        .rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_else(|| fresh_dir().0);
    let key = format!("{dir}/{stem}.pyramid.tiff");
    let (input, _in_guard) = local_copy(blobs, original)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let staging = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = match blobs.local_path(&key).map_err(|e| e.to_string())? {
        Some(p) => p.with_extension("part~"),
        None => staging.path().join("pyramid.tiff"),
    };
    let out = output.clone();
    let summary = tokio::task::spawn_blocking(move || {
        exact_tiles::convert::convert_file(
            &input,
            &out,
            &exact_tiles::convert::ConvertOptions::default(),
            &mut |_| {},
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string());
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = tokio::fs::remove_file(&output).await;
            return Err(e);
        }
    };
    put_file(blobs, &output, &key)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let (w, h) = summary.levels.first().copied().unwrap_or((1, 1));
    Ok(PixelUpdate {
        state: PixelState::Ready,
        state_detail: String::new(),
        filename: Some(key),
        width: Some(u64::from(w)),
        height: Some(u64::from(h)),
        mpp: None,
        objective_power: None,
    })
}
