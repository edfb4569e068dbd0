//! Reading image files back: one image's file (as uploaded, or as served) with its size and a
//! download name, read whole or by range; and a whole set as a zip written while it streams,
//! from an async task into a bounded channel (no thread is held for the whole download).

use super::safe_name;
use crate::Exact;
use crate::pixels::{require_file, require_ready};
use bytes::Bytes;
use exact_core::model::{Image, ImageType};
use exact_core::{Error, Result};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use std::ops::Range;
use std::sync::Arc;

/// A file of an image, ready to be read (see [`super::ImageFiles::file`]).
#[derive(Debug)]
pub struct ImageFile {
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    key: String,
    size: u64,
    name: String,
}

impl ImageFile {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The name to save it under: the image's name for the file as uploaded, the image's
    /// stem with the served file's suffix for a converted picture, the linked file's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bytes of `range` (the whole file for `None`), streamed. The range must lie
    /// inside the file (callers check it against [`ImageFile::size`]).
    pub async fn read(
        &self,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let opts = GetOptions::new().with_range(range.map(GetRange::Bounded));
        let key = self.key.clone();
        let got = self
            .store
            .get_opts(&self.path, opts)
            .await
            .map_err(|e| object_error(&key, e))?;
        Ok(got
            .into_stream()
            .map(move |r| r.map_err(|e| object_error(&key, e)))
            .boxed())
    }
}

fn object_error(key: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::not_found(format!("file {key:?}")),
        other => Error::backend("blob store", other),
    }
}

/// Where a file of an image is: an object store and path.
fn object_of(
    exact: &Exact,
    image: &Image,
    key: &str,
) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
    if image.image_type == ImageType::FileLink && key == image.filename {
        return exact_tiles::objects::object_from_url(key)
            .map_err(|e| crate::pixels::slide_error(key, e));
    }
    require_file(image)?;
    let blobs = exact.blobs();
    Ok((blobs.object_store().0.clone(), blobs.path(key)?))
}

pub(super) async fn image_file(exact: &Exact, image: Image, original: bool) -> Result<ImageFile> {
    let key = if original && !image.original.is_empty() {
        image.original.clone()
    } else {
        require_ready(&image)?;
        image.filename.clone()
    };
    let (store, path) = object_of(exact, &image, &key)?;
    let size = store
        .head(&path)
        .await
        .map_err(|e| object_error(&key, e))?
        .size;
    let name = if original || key == image.original {
        image.name.clone()
    } else if image.image_type == ImageType::FileLink {
        key.rsplit('/').next().unwrap_or(&image.name).to_owned()
    } else {
        // The served file of a converted picture: the image's name with the file's suffix.
        let stem = image
            .name
            .rsplit_once('.')
            .map_or(image.name.as_str(), |(s, _)| s);
        let suffix = key
            .rsplit('/')
            .next()
            .and_then(|f| f.split_once('.'))
            .map_or("", |(_, x)| x);
        if suffix.is_empty() {
            stem.to_owned()
        } else {
            format!("{stem}.{suffix}")
        }
    };
    Ok(ImageFile {
        store,
        path,
        key,
        size,
        name,
    })
}

/// A file by name, and where its bytes are.
type Located = (String, Arc<dyn ObjectStore>, object_store::path::Path);

/// An archive entry: its name, where its bytes are, and the edits to apply to them as they
/// are copied (a de-identified slide).
type Entry = (
    String,
    Arc<dyn ObjectStore>,
    object_store::path::Path,
    Option<Arc<exact_tiles::slide::Deidentified>>,
);

/// A set's images as one zip archive, produced while it is read (see
/// [`super::ImageFiles::set_zip`]).
#[derive(Debug)]
pub struct SetZip {
    entries: Vec<Entry>,
}

impl SetZip {
    /// The entry names, in archive order (unique; a repeated image name is prefixed with
    /// the image id).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, ..)| n.as_str())
    }

    /// The archive as a stream of chunks of about 1 MiB. It is written by a task on the
    /// current runtime into a channel of a few chunks: a slow reader slows the writer, and
    /// no thread waits for the reader. A failure part-way ends the stream with the error.
    /// Must be called inside a tokio runtime.
    pub fn into_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        tokio::spawn(async move {
            if let Err(e) = write_zip(self.entries, &tx).await {
                tracing::warn!(error = %e, "set zip stream aborted");
                let _ = tx.send(Err(e)).await;
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
    }
}

/// A `Write` into a shared buffer that the writing task drains into the channel.
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    /// Sends what was written once it holds `at_least` bytes (everything for 0).
    async fn drain(
        &self,
        tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
        at_least: usize,
    ) -> std::io::Result<()> {
        let chunk = {
            let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if buf.is_empty() || buf.len() < at_least {
                return Ok(());
            }
            Bytes::from(std::mem::replace(&mut *buf, Vec::with_capacity(1 << 20)))
        };
        tx.send(Ok(chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

async fn write_zip(
    entries: Vec<Entry>,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> std::io::Result<()> {
    use std::io::Write;
    let buf = SharedBuf::default();
    let mut zip = zip::ZipWriter::new_stream(buf.clone());
    for (name, store, path, edits) in entries {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        zip.start_file(name, opts).map_err(std::io::Error::other)?;
        let got = store.get(&path).await.map_err(std::io::Error::other)?;
        let mut stream = got.into_stream();
        let mut pos = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other)?;
            // Stored entries: the writer copies the chunk and updates its CRC, no compression.
            match &edits {
                Some(plan) => {
                    let mut owned = chunk.to_vec();
                    plan.apply(pos, &mut owned);
                    zip.write_all(&owned)?;
                }
                None => zip.write_all(&chunk)?,
            }
            pos += chunk.len() as u64;
            buf.drain(tx, 1 << 20).await?;
        }
    }
    zip.finish().map_err(std::io::Error::other)?;
    buf.drain(tx, 0).await
}

pub(super) async fn set_zip(
    exact: &Exact,
    images: Vec<Image>,
    deidentify: bool,
) -> Result<Option<SetZip>> {
    let mut entries = Vec::with_capacity(images.len());
    let mut names = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for image in &images {
        let key = if image.original.is_empty() {
            image.filename.clone()
        } else {
            image.original.clone()
        };
        // The images of one file's series share it: the zip holds it once.
        let fresh = keys.insert((image.image_type, key.clone()));
        if image.series > 0 && !fresh {
            continue;
        }
        let Ok((store, path)) = object_of(exact, image, &key) else {
            continue;
        };
        // Images registered by metadata only have no file: leave them out rather than break
        // the stream halfway.
        if store.head(&path).await.is_err() {
            continue;
        }
        let others = if key == image.filename {
            companions(exact, image, &key).await
        } else {
            Vec::new()
        };
        // A converted picture's original (the key is not the served file) has no label.
        let edits = if deidentify && key == image.filename {
            let plan = deidentified(exact, image, &key).await?;
            (!plan.edits.is_empty()).then(|| Arc::new(plan))
        } else {
            None
        };
        let mut unique = |name: String| {
            if names.insert(name.clone()) {
                return name;
            }
            let name = format!("{}_{name}", image.id.0);
            names.insert(name.clone());
            name
        };
        if others.is_empty() {
            entries.push((unique(safe_name(&image.name)), store, path, edits));
            continue;
        }
        // A slide of several files goes in a folder of its own, its files under their
        // stored names beside each other, as they must be to open again (and to upload again
        // as a zip, which makes it one image).
        let stem = image
            .name
            .rsplit_once('.')
            .map_or(image.name.as_str(), |(s, _)| s);
        let stem = stem.strip_suffix(".ome").unwrap_or(stem);
        let folder = unique(safe_name(if stem.is_empty() { "slide" } else { stem }));
        let own = key.rsplit('/').next().unwrap_or(&key).to_owned();
        entries.push((format!("{folder}/{own}"), store, path, edits));
        for (rel, store, path) in others {
            entries.push((format!("{folder}/{rel}"), store, path, None));
        }
    }
    Ok((!entries.is_empty()).then_some(SetZip { entries }))
}

/// What taking `image`'s label and macro out of its file `key` takes; a slide that cannot be
/// done is refused, naming the image.
async fn deidentified(
    exact: &Exact,
    image: &Image,
    key: &str,
) -> Result<exact_tiles::slide::Deidentified> {
    let refused = |e: exact_tiles::Error| {
        Error::invalid(
            "deidentify",
            format!("image {:?} (id {}): {e}", image.name, image.id.0),
        )
    };
    let slide = if image.image_type == ImageType::FileLink {
        exact_tiles::Slide::open(key).await
    } else {
        super::register::open_blob_slide(exact.blobs(), key).await
    };
    // A file that does not open here (an MRXS without the OpenSlide library) is refused too:
    // sending it whole could send its label.
    slide.map_err(refused)?.deidentify().await.map_err(refused)
}

/// The files of a slide stored as several besides the one it opens — a DICOM series' other
/// instances, a multi-file OME-TIFF's other files, an MRXS's data folder — each with its path
/// relative to the opened file's folder. Empty for a one-file slide, or one that does not
/// open (its one file is still worth having).
async fn companions(exact: &Exact, image: &Image, key: &str) -> Vec<Located> {
    let lower = key.to_ascii_lowercase();
    let (dir, file) = key.rsplit_once('/').unwrap_or(("", key));
    let link = image.image_type == ImageType::FileLink;
    if lower.ends_with(".mrxs") && !link {
        // OpenSlide's MRXS: Slidedat.ini and the data files in a folder named as the slide.
        let stem = &file[..file.len() - ".mrxs".len()];
        let blobs = exact.blobs();
        let store = blobs.object_store().0.clone();
        let Ok(prefix) = blobs.path(&format!("{dir}/{stem}")) else {
            return Vec::new();
        };
        let Ok(base) = blobs.path(dir) else {
            return Vec::new();
        };
        let listed: Vec<_> = store.list(Some(&prefix)).collect().await;
        return listed
            .into_iter()
            .filter_map(|m| {
                let m = m.ok()?;
                let rel = m
                    .location
                    .prefix_match(&base)?
                    .map(|p| p.as_ref().to_owned());
                Some((rel.collect::<Vec<_>>().join("/"), store.clone(), m.location))
            })
            .collect();
    }
    if !(lower.ends_with(".dcm") || super::register::is_ome_name(&lower)) {
        return Vec::new();
    }
    let slide = if link {
        exact_tiles::Slide::open(key).await
    } else {
        super::register::open_blob_slide(exact.blobs(), key).await
    };
    let Ok(slide) = slide else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // The files a slide reads, less the one it was opened by (not always listed first: a
    // DICOM series lists its instances by level).
    let mut seen = std::collections::HashSet::from([file.to_owned()]);
    for f in slide.files() {
        let name = f.rsplit(['/', '\\']).next().unwrap_or(&f).to_owned();
        if !seen.insert(name.clone()) {
            continue;
        }
        let located = if link {
            exact_tiles::objects::object_from_url(&f).ok()
        } else {
            let k = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            exact
                .blobs()
                .path(&k)
                .ok()
                .map(|p| (exact.blobs().object_store().0.clone(), p))
        };
        if let Some((store, path)) = located {
            out.push((name, store, path));
        }
    }
    out
}
