//! Upload bookkeeping: ASCII blob keys, the marker that names an upload in progress, the
//! start-up sweep of uploads a crash interrupted, and the per-(set, name) lock under which
//! racing identical uploads register one image. See the parent module's docs for why.

use super::Received;
use crate::Blobs;
use bytes::Bytes;
use exact_core::{ImageSetId, Result};
use object_store::ObjectStoreExt;

/// Where markers of uploads in progress live.
const PENDING: &str = "uploads/pending";

/// A file name as a blob key part: ASCII letters, digits, `.`, `_` and `-` kept, anything
/// else `_`; never empty nor starting with `.`. The same name always gives the same key part,
/// so a MIRAX index `x.mrxs` and its data directory `x/` stay beside each other.
pub fn blob_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert_str(0, "file");
    }
    out
}

pub(super) fn fresh_dir() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("images/{id}"), format!("{PENDING}/{id}"))
}

/// Marks a blob directory as an upload in progress (before any of its bytes are written).
pub(super) async fn mark_pending(blobs: &Blobs, marker: &str) -> Result<()> {
    blobs
        .put(marker, Bytes::from_static(b"upload in progress\n"))
        .await?;
    Ok(())
}

/// Removes an upload that will not be registered: its directory and its marker.
pub(super) async fn discard(blobs: &Blobs, got: &Received) {
    remove_dir(blobs, got.dir()).await;
    let _ = blobs.delete(&got.marker).await;
}

/// Removes every blob under `dir` (a local directory with whatever is in it).
pub(super) async fn remove_dir(blobs: &Blobs, dir: &str) {
    if dir.is_empty() {
        return;
    }
    match blobs.local_path(dir) {
        Ok(Some(path)) => {
            let _ = tokio::fs::remove_dir_all(path).await;
        }
        Ok(None) => {
            let Ok(prefix) = blobs.path(dir) else { return };
            let (store, _) = blobs.object_store();
            use futures::StreamExt;
            let mut list = store.list(Some(&prefix));
            while let Some(Ok(meta)) = list.next().await {
                let _ = store.delete(&meta.location).await;
            }
        }
        Err(_) => {}
    }
}

/// At start-up: removes the directories of uploads that a crash interrupted (their marker
/// is older than this process). With a metadata store other processes may share, only
/// markers older than a day are taken, so another server's upload in progress is left alone.
pub(crate) async fn sweep(exact: &crate::Exact, started: std::time::SystemTime) {
    let meta = exact.config().meta_url();
    let exclusive = meta.starts_with("sled://") || meta.starts_with("memory://");
    let cutoff = if exclusive {
        started
    } else {
        started - std::time::Duration::from_secs(86_400)
    };
    let blobs = exact.blobs();
    let Ok(prefix) = blobs.path(PENDING) else {
        return;
    };
    let (store, root) = blobs.object_store();
    use futures::StreamExt;
    let markers: Vec<object_store::ObjectMeta> = store
        .list(Some(&prefix))
        .filter_map(|m| async move { m.ok() })
        .collect()
        .await;
    let mut swept = 0usize;
    for m in markers {
        if std::time::SystemTime::from(m.last_modified) >= cutoff {
            continue;
        }
        let Some(id) = m.location.filename().map(str::to_owned) else {
            continue;
        };
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        remove_dir(blobs, &format!("images/{id}")).await;
        let _ = store.delete(&m.location).await;
        swept += 1;
    }
    if swept > 0 {
        tracing::warn!(swept, root = %root, "removed uploads interrupted by a crash");
    }
}

/// The lock of one (set, name), alive while someone registers under it.
type NameLock = std::sync::Weak<tokio::sync::Mutex<()>>;

/// Registrations in progress by (set, name): uploads of the same name into the same set
/// register one after the other, so racing identical uploads find the first one's image
/// and answer it as a duplicate instead of each adding one.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    names: std::sync::Mutex<std::collections::HashMap<(u64, String), NameLock>>,
}

impl Registrations {
    pub(super) async fn lock(
        &self,
        set: ImageSetId,
        name: &str,
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if names.len() >= 256 {
                names.retain(|_, w| w.strong_count() > 0);
            }
            let key = (set.0, name.to_owned());
            match names.get(&key).and_then(std::sync::Weak::upgrade) {
                Some(m) => m,
                None => {
                    let m = std::sync::Arc::new(tokio::sync::Mutex::new(()));
                    names.insert(key, std::sync::Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}
