//! Bytes into and out of the blob store for uploads: a stream written under a key while it is
//! hashed (a local file renamed into place when complete, or an object store multipart upload
//! completed at the end), local copies of blobs for readers that need a file, and files put back.

use crate::Blobs;
use bytes::Bytes;
use exact_core::{Error, Result};
use futures::{Stream, StreamExt};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Where received bytes go.
enum Sink {
    File {
        part: PathBuf,
        dst: PathBuf,
        file: tokio::io::BufWriter<tokio::fs::File>,
    },
    Store(object_store::buffered::BufWriter),
}

impl Sink {
    async fn open(blobs: &Blobs, key: &str) -> Result<Sink> {
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

    async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        match self {
            Sink::File { file, .. } => file.write_all(chunk).await.map_err(io_error),
            Sink::Store(w) => w.write_all(chunk).await.map_err(io_error),
        }
    }

    /// Makes the bytes durable and visible under their key.
    async fn finish(self) -> Result<()> {
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

pub(super) fn io_error(e: std::io::Error) -> Error {
    Error::backend("blob store", e)
}

/// Writes `stream` under `key`, hashing it; at most `max` bytes, never empty. Anything that
/// fails removes what was written. Answers (size, SHA-512 hex).
pub(super) async fn write_stream<S>(
    blobs: &Blobs,
    stream: S,
    max: u64,
    name: &str,
    key: &str,
) -> Result<(u64, String)>
where
    S: Stream<Item = Result<Bytes>> + Send,
{
    let mut stream = std::pin::pin!(stream);
    let mut sink = Sink::open(blobs, key).await?;
    let mut hash = Sha512::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        };
        size += chunk.len() as u64;
        if size > max {
            sink.abort().await;
            return Err(Error::TooLarge {
                what: name.to_owned(),
                limit: max,
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
        return Err(Error::invalid("file", format!("{name}: the file is empty")));
    }
    sink.finish().await?;
    Ok((size, hex(&hash.finalize())))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local file holding the blob `key`: the blob itself when blobs are local, else a copy
/// in a temporary directory (kept alive by the returned guard).
pub(super) async fn local_copy(
    blobs: &Blobs,
    key: &str,
) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    if let Some(p) = blobs.local_path(key)? {
        return Ok((p, None));
    }
    let dir = tempfile::tempdir().map_err(io_error)?;
    let path = dir.path().join("blob");
    let (store, _) = blobs.object_store();
    let got = store
        .get(&blobs.path(key)?)
        .await
        .map_err(|e| Error::backend("blob store", e))?;
    let mut stream = got.into_stream();
    let mut f = tokio::fs::File::create(&path).await.map_err(io_error)?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::backend("blob store", e))?;
        f.write_all(&chunk).await.map_err(io_error)?;
    }
    f.flush().await.map_err(io_error)?;
    Ok((path, Some(dir)))
}

/// Copies a local file into the blob `key` (a rename when blobs are local).
pub(super) async fn put_file(blobs: &Blobs, path: &Path, key: &str) -> Result<()> {
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
