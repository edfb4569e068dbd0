//! Object stores from URLs, and wrapper stores that make storage costs testable.
//!
//! [`object_store_from_url`] turns a blob or slide location (`file:///dir`, a plain path,
//! `memory://`, `s3://bucket/prefix`) into an [`ObjectStore`] plus the path inside it;
//! [`object_from_url`] does the same for one existing object (a slide), rooting local stores at
//! the file's directory. [`CountingStore`] counts requests and bytes so tests can assert that
//! "a native tile costs one ranged GET".

mod counting;

pub use counting::{CountingStore, RequestCounts};

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;

use crate::error::{Error, Result};

/// The URL schemes [`object_store_from_url`] understands (plain local paths need none).
pub const KNOWN_SCHEMES: &[&str] = if cfg!(feature = "s3") {
    &["file", "memory", "s3"]
} else {
    &["file", "memory"]
};

/// A store for `url` and the prefix path inside it.
///
/// * `file:///abs/dir` and plain local paths (relative or absolute): a [`LocalFileSystem`] rooted
///   at the directory, which is created if missing; the prefix is empty.
/// * `memory://[prefix]`: a fresh [`InMemory`] store.
/// * `s3://bucket/prefix`: Amazon S3 or a compatible server, configured from `AWS_ENDPOINT_URL`
///   (or `AWS_ENDPOINT`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
///   `AWS_REGION`/`AWS_DEFAULT_REGION` (default `us-east-1`) and `AWS_ALLOW_HTTP` (implied by an
///   `http://` endpoint); path-style requests.
///
/// Unknown schemes give [`Error::Unsupported`] listing [`KNOWN_SCHEMES`].
pub fn object_store_from_url(url: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    match parse(url)? {
        Parsed::Local(dir) => {
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                source_name: dir.display().to_string(),
                source,
            })?;
            Ok((local_store(&dir)?, Path::default()))
        }
        Parsed::Memory(prefix) => Ok((Arc::new(InMemory::new()), path_of(&prefix))),
        Parsed::S3 { bucket, key } => Ok((s3_store(&bucket)?, path_of(&key))),
    }
}

/// A store holding the single object `url` names, and the object's path inside it.
///
/// Local files (`file:///a/b.svs` or `a/b.svs`) give a [`LocalFileSystem`] rooted at the file's
/// directory (nothing is created; a missing file is [`Error::NotFound`]); `s3://bucket/key` and
/// `memory://key` are as in [`object_store_from_url`].
pub fn object_from_url(url: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    match parse(url)? {
        Parsed::Local(file) => {
            let meta = std::fs::metadata(&file).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => Error::not_found(file.display().to_string()),
                _ => Error::Io {
                    source_name: file.display().to_string(),
                    source,
                },
            })?;
            if !meta.is_file() {
                return Err(Error::invalid(
                    "url",
                    format!("{} is not a regular file", file.display()),
                ));
            }
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| Error::invalid("url", "file name is not UTF-8"))?;
            let dir = file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| std::path::PathBuf::from("/"));
            let path = Path::from_iter([name]);
            Ok((local_store(&dir)?, path))
        }
        Parsed::Memory(key) => Ok((Arc::new(InMemory::new()), path_of(&key))),
        Parsed::S3 { bucket, key } => {
            if key.is_empty() {
                return Err(Error::invalid("url", format!("{url}: no object key")));
            }
            Ok((s3_store(&bucket)?, path_of(&key)))
        }
    }
}

enum Parsed {
    Local(std::path::PathBuf),
    Memory(String),
    S3 { bucket: String, key: String },
}

fn parse(url: &str) -> Result<Parsed> {
    let Some((scheme, rest)) = url.split_once("://") else {
        if url.is_empty() {
            return Err(Error::invalid("url", "empty"));
        }
        return Ok(Parsed::Local(absolute(std::path::Path::new(url))?));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            // file:///abs/path (empty host) or file://localhost/abs/path.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(Error::invalid(
                    "url",
                    format!("{url}: file URLs need an absolute path (file:///dir)"),
                ));
            }
            Ok(Parsed::Local(std::path::PathBuf::from(percent_decode(
                path,
            )?)))
        }
        "memory" => Ok(Parsed::Memory(rest.trim_matches('/').to_string())),
        "s3" if cfg!(feature = "s3") => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid("url", format!("{url}: no bucket")));
            }
            Ok(Parsed::S3 {
                bucket: bucket.to_string(),
                key: percent_decode(key.trim_matches('/'))?,
            })
        }
        other => Err(Error::unsupported(format!(
            "URL scheme {other:?} in {url:?}; known schemes: {} (or a plain local path)",
            KNOWN_SCHEMES
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn absolute(path: &std::path::Path) -> Result<std::path::PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        source_name: path.display().to_string(),
        source,
    })
}

/// Object paths from URL text: split on `/`, empty segments dropped.
fn path_of(key: &str) -> Path {
    Path::from_iter(key.split('/').filter(|s| !s.is_empty()))
}

pub(crate) fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid("url", format!("bad percent escape in {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("url", format!("{s:?} is not UTF-8")))
}

fn local_store(dir: &std::path::Path) -> Result<Arc<dyn ObjectStore>> {
    let store = LocalFileSystem::new_with_prefix(dir)
        .map_err(|source| Error::backend(dir.display(), source))?;
    Ok(Arc::new(store))
}

#[cfg(feature = "s3")]
fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_virtual_hosted_style_request(false)
        .with_region(
            var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_string()),
        );
    let endpoint = var("AWS_ENDPOINT_URL").or_else(|| var("AWS_ENDPOINT"));
    let mut allow_http = var("AWS_ALLOW_HTTP")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false);
    if let Some(endpoint) = endpoint {
        allow_http |= endpoint.starts_with("http://");
        builder = builder.with_endpoint(endpoint);
    }
    builder = builder.with_allow_http(allow_http);
    if let Some(key) = var("AWS_ACCESS_KEY_ID") {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = var("AWS_SECRET_ACCESS_KEY") {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = var("AWS_SESSION_TOKEN") {
        builder = builder.with_token(token);
    }
    let store = builder
        .build()
        .map_err(|source| Error::backend(format!("s3://{bucket}"), source))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    Err(Error::unsupported(format!(
        "s3://{bucket}: this build has no `s3` feature"
    )))
}

#[cfg(test)]
mod tests;
