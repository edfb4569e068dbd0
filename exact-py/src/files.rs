//! Image files and pixels of the embedded store: uploads, slides opened by image id, original
//! downloads and media files. Module functions over a [`NativeStore`] (the Python `Store`
//! calls them), each acting as the store's user with the library's permission checks.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use exact_core::model::{Image, MediaFileType, PixelState};
use exact_core::{AnnotationId, Error, ImageId, ImageSetId, MediaFileId, Result, UserId};
use exact_store::{ConversionWorker, Exact};
use futures::StreamExt;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::runtime::block_on;
use crate::slide::NativeSlide;
use crate::store::NativeStore;

/// Bytes or a file path, as Python passes them.
#[derive(FromPyObject)]
pub enum Data {
    /// In memory.
    Bytes(Vec<u8>),
    /// A file, read in chunks.
    Path(PathBuf),
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("output", e.to_string()))
}

fn io(e: std::io::Error) -> Error {
    Error::invalid("data", e.to_string())
}

/// A file as a stream of 1 MiB chunks.
async fn file_stream(
    path: PathBuf,
) -> Result<impl futures::Stream<Item = Result<Bytes>> + Send + 'static> {
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::not_found(format!("{}: {e}", path.display())))?;
    Ok(futures::stream::unfold(Some(f), |f| async move {
        use tokio::io::AsyncReadExt;
        let mut f = f?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(io(e)), None)),
        }
    }))
}

/// Uploads `data` into `image_set` and answers the image as JSON. With `wait`, once its pixels
/// are ready (or failed): a picture is converted by the store's running worker, or by one
/// started for the call; without, a picture is left converting for a running (or the next)
/// worker. An archive answers its first image.
#[pyfunction]
#[pyo3(signature = (store, user, image_set, data, name=None, wait=true))]
pub fn store_upload(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    image_set: u64,
    data: Data,
    name: Option<String>,
    wait: bool,
) -> PyResult<String> {
    let exact = store.handle()?;
    let name = match (&name, &data) {
        (Some(n), _) => n.clone(),
        (None, Data::Path(p)) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into()),
        (None, Data::Bytes(_)) => {
            return Err(errors::invalid("name is required when uploading bytes"));
        }
    };
    let image = block_on(py, async move {
        let actor = exact.actor(UserId(user))?;
        let set = ImageSetId(image_set);
        let outcomes = match data {
            Data::Bytes(b) => {
                let one = futures::stream::iter([Ok(Bytes::from(b))]);
                exact.images().upload(&actor, set, &name, one).await?
            }
            Data::Path(p) => {
                let s = file_stream(p).await?;
                exact.images().upload(&actor, set, &name, s).await?
            }
        };
        let first = outcomes
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("data", "the archive holds no images"))?;
        let image = first.into_image()?;
        if !wait {
            return Ok(image);
        }
        wait_converted(&exact, &actor, image).await
    })?
    .map_err(errors::core)?;
    json(&image).map_err(errors::core)
}

/// Waits until a converting image is ready or failed, starting a worker if none runs.
async fn wait_converted(exact: &Exact, actor: &exact_core::Actor, image: Image) -> Result<Image> {
    if image.state != PixelState::Converting {
        return Ok(image);
    }
    // None: another worker of this store (an in-process server's) has it queued.
    let _worker = ConversionWorker::start(exact).ok();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (e, a, id) = (exact.clone(), actor.clone(), image.id);
        let now = tokio::task::spawn_blocking(move || e.images().get(&a, id))
            .await
            .map_err(|e| Error::backend("exact-wsi", std::io::Error::other(e.to_string())))??;
        if now.state != PixelState::Converting {
            return Ok(now);
        }
    }
}

/// The slide of an image, opened by id as the store's user: `NotFoundError` for an image they
/// may not read (or one registered by metadata only), `NotReadyError` while it is converted,
/// `UnservableError` when its conversion failed.
#[pyfunction]
pub fn store_slide(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    image: u64,
) -> PyResult<(NativeSlide, String)> {
    let exact = store.handle()?;
    let (image, g) = block_on(py, async move {
        let actor = exact.actor(UserId(user))?;
        exact.pixels(&actor, ImageId(image), None).await
    })?
    .map_err(errors::core)?;
    let slide = g.slide().clone();
    Ok((
        NativeSlide::from_slide(slide, format!("image:{}", image.id.0)),
        image.name,
    ))
}

/// Writes an image's file (`original`: as uploaded; else as served) to `dest`; answers the
/// number of bytes. A partial file is removed when the copy fails.
#[pyfunction]
pub fn store_download(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    image: u64,
    dest: PathBuf,
    original: bool,
) -> PyResult<u64> {
    let exact = store.handle()?;
    block_on(py, async move {
        let actor = exact.actor(UserId(user))?;
        let file = exact
            .images()
            .file(&actor, ImageId(image), original)
            .await?;
        let mut stream = file.read(None).await?;
        let part = dest.with_extension("part~");
        let r = async {
            use tokio::io::AsyncWriteExt;
            let mut out = tokio::fs::File::create(&part).await.map_err(io)?;
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                out.write_all(&chunk).await.map_err(io)?;
            }
            out.sync_all().await.map_err(io)?;
            tokio::fs::rename(&part, &dest).await.map_err(io)?;
            Ok(n)
        }
        .await;
        if r.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        r
    })?
    .map_err(errors::core)
}

/// Attaches `data` to an annotation as a media file; answers the record as JSON.
#[pyfunction]
pub fn store_attach_media(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    annotation: u64,
    name: String,
    kind: u8,
    data: Vec<u8>,
) -> PyResult<String> {
    let kind = MediaFileType::from_code(i64::from(kind))
        .ok_or_else(|| errors::invalid(format!("media_file_type {kind}: one of 1, 2, 3, 4")))?;
    let exact = store.handle()?;
    let m = block_on(py, async move {
        let actor = exact.actor(UserId(user))?;
        exact
            .media_files()
            .upload(
                &actor,
                AnnotationId(annotation),
                &name,
                kind,
                Bytes::from(data),
            )
            .await
    })?
    .map_err(errors::core)?;
    json(&m).map_err(errors::core)
}

/// A media file's record (JSON) and bytes.
#[pyfunction]
pub fn store_media<'py>(
    py: Python<'py>,
    store: &NativeStore,
    user: u64,
    media: u64,
) -> PyResult<(String, Bound<'py, PyBytes>)> {
    let exact = store.handle()?;
    let (m, bytes) = block_on(py, async move {
        let actor = exact.actor(UserId(user))?;
        exact.media_files().read(&actor, MediaFileId(media)).await
    })?
    .map_err(errors::core)?;
    Ok((json(&m).map_err(errors::core)?, PyBytes::new(py, &bytes)))
}
