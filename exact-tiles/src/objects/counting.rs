//! [`CountingStore`]: an [`ObjectStore`] wrapper that counts requests and bytes.
//!
//! Tests and benches wrap a real store in it to turn storage costs into assertions ("opening a
//! slide costs at most 3 GETs, a native tile exactly 1"). Every `get_opts` (GET or HEAD) is one
//! request; `get_ranges` is left to the trait's default so each coalesced range it issues is
//! counted as the backend would see it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// A snapshot of what a [`CountingStore`] has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET requests (whole or ranged).
    pub gets: u64,
    /// HEAD requests.
    pub heads: u64,
    /// Bytes returned by GETs.
    pub bytes: u64,
    /// PUTs, multipart uploads, copies, renames and deletes.
    pub writes: u64,
    /// List calls.
    pub lists: u64,
}

impl RequestCounts {
    /// GETs plus HEADs: what a remote store bills as reads.
    pub fn reads(&self) -> u64 {
        self.gets + self.heads
    }
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    heads: AtomicU64,
    bytes: AtomicU64,
    writes: AtomicU64,
    lists: AtomicU64,
}

/// Wraps an [`ObjectStore`] and counts requests and bytes; cheap to clone (counters shared).
#[derive(Debug, Clone)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
}

impl CountingStore {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            gets: c.gets.load(Ordering::Relaxed),
            heads: c.heads.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            lists: c.lists.load(Ordering::Relaxed),
        }
    }

    /// Set every counter back to zero.
    pub fn reset(&self) {
        let c = &self.counters;
        for a in [&c.gets, &c.heads, &c.bytes, &c.writes, &c.lists] {
            a.store(0, Ordering::Relaxed);
        }
    }

    fn write(&self) {
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.write();
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.write();
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let head = options.head;
        let result = self.inner.get_opts(location, options).await;
        let c = &self.counters;
        if head {
            c.heads.fetch_add(1, Ordering::Relaxed);
        } else {
            c.gets.fetch_add(1, Ordering::Relaxed);
            if let Ok(r) = &result {
                c.bytes
                    .fetch_add(r.range.end.saturating_sub(r.range.start), Ordering::Relaxed);
            }
        }
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.write();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.write();
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.write();
        self.inner.rename_opts(from, to, options).await
    }
}
