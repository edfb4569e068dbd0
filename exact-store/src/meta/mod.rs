//! Metadata-store adapters: every backend implements [`exact_core::store::MetaStore`]. The sled
//! and memory backends share [`kv::KvMetaStore`], which maps records, indexes and id counters onto
//! one ordered key space; they differ only in the [`kv::Kv`] engine underneath.

pub mod copy;
pub mod kv;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sled;

use exact_core::store::MetaStore;
use exact_core::{Error, Result};
use std::sync::Arc;

/// The metadata URL schemes this build understands.
pub const META_SCHEMES: &[&str] = &[
    "sled://PATH",
    "memory://",
    #[cfg(feature = "postgres")]
    "postgres://USER@HOST:PORT/DB",
];

/// Opens the metadata store named by `url`: `sled://PATH` (a directory, created if missing),
/// `memory://` (gone when dropped) or `postgres://…` (migrated to the current schema when behind
/// it). Unknown schemes list the known ones.
pub fn open_meta_store(url: &str) -> Result<Arc<dyn MetaStore>> {
    if let Some(path) = url.strip_prefix("sled://") {
        if path.is_empty() {
            return Err(Error::invalid(
                "meta",
                "sled:// needs a directory, e.g. sled://./exact-data/db",
            ));
        }
        return Ok(Arc::new(sled::open(path)?));
    }
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(memory::open()));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(postgres::open(url, postgres::Schema::Migrate)?));
    }
    Err(Error::Unsupported {
        what: format!(
            "metadata store {:?}; known schemes: {}",
            redact(url),
            META_SCHEMES.join(", ")
        ),
    })
}

/// `url` with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            // A password may also come as a query parameter.
            let tail = redact_query(tail);
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{}", redact_query(tail)),
    }
}

fn redact_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://exact:s3cret@db:5432/exact"),
            "postgres://exact:***@db:5432/exact"
        );
        assert_eq!(
            redact("postgres://db/exact?user=x&password=s3cret"),
            "postgres://db/exact?user=x&password=***"
        );
        assert_eq!(redact("postgres://exact@db/x"), "postgres://exact@db/x");
    }
}
