//! Metadata-store adapters: every backend implements [`exact_core::store::MetaStore`]. The sled
//! and memory backends share [`kv::KvMetaStore`], which maps records, indexes and id counters onto
//! one ordered key space; they differ only in the [`kv::Kv`] engine underneath.

pub mod kv;
pub mod memory;
pub mod sled;

use exact_core::store::MetaStore;
use exact_core::{Error, Result};
use std::sync::Arc;

/// The metadata URL schemes this build understands.
pub const META_SCHEMES: &[&str] = &["sled://PATH", "memory://"];

/// Opens the metadata store named by `url`: `sled://PATH` (a directory, created if missing) or
/// `memory://` (gone when dropped). Unknown schemes list the known ones.
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
    Err(Error::Unsupported {
        what: format!(
            "metadata store {url:?}; known schemes: {}",
            META_SCHEMES.join(", ")
        ),
    })
}
