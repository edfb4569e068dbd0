//! Blob storage (uploaded originals, converted pyramids, thumbnails, media files, exports)
//! through `object_store`, built from a URL: `file://DIR` or a plain path (the default),
//! `memory://`, `s3://bucket/prefix`. Keys are relative to the URL's prefix.

use bytes::Bytes;
use exact_core::{Error, Result};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::ops::Range;
use std::sync::Arc;

/// A blob store rooted at a URL. Cheap to clone (shared, no allocation): every HTTP request
/// clones the handle that holds it.
#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: Arc<Path>,
    url: Arc<str>,
    /// The directory the blobs live in, when they are local files.
    local: Option<Arc<std::path::Path>>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs").field("url", &self.url).finish()
    }
}

impl Blobs {
    /// Opens the blob store named by `url` (local directories are created).
    pub fn open(url: &str) -> Result<Blobs> {
        let (store, prefix) =
            exact_tiles::objects::object_store_from_url(url).map_err(|e| tiles_error(url, e))?;
        let local = match url.split_once("://") {
            None => Some(std::path::absolute(url).map_err(|e| Error::backend(url, e))?),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => {
                let rest = rest.strip_prefix("localhost").unwrap_or(rest);
                Some(std::path::PathBuf::from(percent_decode(rest)))
            }
            Some(_) => None,
        };
        Ok(Blobs {
            store,
            prefix: Arc::new(prefix),
            url: Arc::from(url),
            local: local.map(Arc::from),
        })
    }

    /// The local file of `key` when blobs are local files (read with `pread`, renamed into
    /// place), `None` for object stores.
    pub fn local_path(&self, key: &str) -> Result<Option<std::path::PathBuf>> {
        self.path(key)?;
        Ok(self.local.as_ref().map(|dir| dir.join(key)))
    }

    /// A URL of `key` that the tile engine opens directly (a local path or `s3://…`), or
    /// `None` when only this store can read it (`memory://`).
    pub fn object_url(&self, key: &str) -> Result<Option<String>> {
        if let Some(p) = self.local_path(key)? {
            return Ok(Some(p.display().to_string()));
        }
        let path = self.path(key)?;
        Ok(self
            .url
            .split_once("://")
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("s3"))
            .and_then(|(_, rest)| rest.split('/').next())
            .map(|bucket| format!("s3://{bucket}/{path}")))
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying object store and the prefix keys live under (for the tile engine).
    pub fn object_store(&self) -> (&Arc<dyn ObjectStore>, &Path) {
        (&self.store, &*self.prefix)
    }

    /// The full path of `key`; keys are `/`-separated and may not climb out of the prefix.
    pub fn path(&self, key: &str) -> Result<Path> {
        if key.is_empty()
            || key
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(Error::invalid(
                "key",
                format!("{key:?} is not a relative blob key like a/b.tif"),
            ));
        }
        let mut path = Path::clone(&self.prefix);
        for part in key.split('/') {
            path = path.clone().join(part);
        }
        Ok(path)
    }

    /// Stores `data` under `key`, replacing what was there; durable when it returns.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let path = self.path(key)?;
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map_err(|e| self.fail(key, e))?;
        Ok(())
    }

    /// The whole blob under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        let got = self.store.get(&path).await.map_err(|e| self.fail(key, e))?;
        got.bytes().await.map_err(|e| self.fail(key, e))
    }

    /// The bytes `range` of the blob under `key`.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes> {
        let path = self.path(key)?;
        self.store
            .get_range(&path, range)
            .await
            .map_err(|e| self.fail(key, e))
    }

    /// The size of the blob under `key`.
    pub async fn size(&self, key: &str) -> Result<u64> {
        let path = self.path(key)?;
        Ok(self
            .store
            .head(&path)
            .await
            .map_err(|e| self.fail(key, e))?
            .size)
    }

    /// Removes the blob under `key` (absent blobs are fine).
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn fail(&self, key: &str, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => {
                Error::not_found(format!("blob {key:?} in {}", self.url))
            }
            other => Error::backend(self.url.to_string(), other),
        }
    }
}

/// Maps a tile-engine error about `url` onto the core error kinds.
pub fn tiles_error(url: &str, e: exact_tiles::Error) -> Error {
    use exact_tiles::ErrorKind as K;
    match e.kind() {
        K::NotFound => Error::not_found(e.to_string()),
        K::InvalidInput => Error::invalid("url", e.to_string()),
        K::Unsupported => Error::Unsupported {
            what: e.to_string(),
        },
        K::Corrupt => Error::corrupt(url, e.to_string()),
        K::Backend => Error::backend(url, e),
        // A transient lack of render memory: callers that can answer "retry" (HTTP's 503)
        // map the tile error themselves; for the rest it is a backend condition.
        K::Busy => Error::backend(url, e),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
