//! Byte-range reads of one slide object: a local file (positional reads, no per-read open), any
//! [`ObjectStore`] (local, S3, memory) or bytes already in memory.
//!
//! [`Source::read_many`] coalesces nearby ranges into one request, so reading a run of
//! neighbouring tiles or the tag arrays of a TIFF costs one GET instead of one per range.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};

use crate::error::{Error, Result};
use crate::objects;

/// Ranges closer than this are fetched with one request (object_store's own default).
pub const DEFAULT_COALESCE_GAP: u64 = 1024 * 1024;

/// How much the first read of a slide fetches (header, and usually the first IFDs).
pub const HEAD_CHUNK: u64 = 256 * 1024;

/// A readable slide object. Cheap to clone.
#[derive(Clone)]
pub struct Source {
    name: Arc<str>,
    size: u64,
    backend: Backend,
    coalesce_gap: u64,
}

#[derive(Clone)]
enum Backend {
    File(Arc<std::fs::File>),
    Store {
        store: Arc<dyn ObjectStore>,
        path: Path,
    },
    Memory(Bytes),
    /// Several objects read as one address space (the instances of a DICOM series): part `i`
    /// starts at `i << PART_SHIFT`, so coalescing never merges ranges of two parts.
    Concat(Arc<[Source]>),
}

/// Address bits of one part of a concatenated source ([`Source::concat`]): parts of up to
/// 1 TiB, far enough apart that no coalesce gap bridges two of them.
pub const PART_SHIFT: u32 = 40;

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.backend {
            Backend::File(_) => "file",
            Backend::Store { .. } => "store",
            Backend::Memory(_) => "memory",
            Backend::Concat(_) => "concat",
        };
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("backend", &kind)
            .finish()
    }
}

impl Source {
    /// Bytes in memory, named `name` in errors.
    pub fn from_bytes(name: impl Into<String>, bytes: Bytes) -> Self {
        Self {
            name: Arc::from(name.into()),
            size: bytes.len() as u64,
            backend: Backend::Memory(bytes),
            coalesce_gap: DEFAULT_COALESCE_GAP,
        }
    }

    /// A local file, read with positional reads on one open handle.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let io = |source| Error::Io {
            source_name: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found(path.display().to_string()),
            _ => io(e),
        })?;
        let size = file.metadata().map_err(io)?.len();
        Ok(Self {
            name: Arc::from(path.display().to_string()),
            size,
            backend: Backend::File(Arc::new(file)),
            coalesce_gap: DEFAULT_COALESCE_GAP,
        })
    }

    /// An object in a store. Costs exactly one GET: the first [`HEAD_CHUNK`] bytes are fetched
    /// (which also tells the size) and returned so the caller can parse the header from them.
    pub async fn from_store(store: Arc<dyn ObjectStore>, path: Path) -> Result<(Self, Bytes)> {
        let name = path.to_string();
        let opts = GetOptions::new().with_range(Some(GetRange::Bounded(0..HEAD_CHUNK)));
        let got = store
            .get_opts(&path, opts)
            .await
            .map_err(|e| Error::backend(&name, e))?;
        let size = got.meta.size;
        let head = got.bytes().await.map_err(|e| Error::backend(&name, e))?;
        let source = Self {
            name: Arc::from(name),
            size,
            backend: Backend::Store { store, path },
            coalesce_gap: DEFAULT_COALESCE_GAP,
        };
        Ok((source, head))
    }

    /// Open a slide URL or local path: local files use [`Source::from_file`], other URLs an
    /// object store ([`objects::object_from_url`]). Returns the first bytes read, if any.
    pub async fn open_url(url: &str) -> Result<(Self, Option<Bytes>)> {
        if let Some(local) = local_path(url) {
            return Ok((Self::from_file(&local)?, None));
        }
        let (store, path) = objects::object_from_url(url)?;
        let (mut source, head) = Self::from_store(store, path).await?;
        source.name = Arc::from(url);
        Ok((source, Some(head)))
    }

    /// Several sources read as one: part `i` occupies addresses `(i << PART_SHIFT)..` up to its
    /// size, so a range of part `i` at offset `o` is `(i << PART_SHIFT) + o`. Reads never cross
    /// parts (an error names the part); errors of a part's reads name that part.
    pub fn concat(name: impl Into<String>, parts: Vec<Source>) -> Result<Self> {
        let name = name.into();
        if parts.is_empty() || parts.len() as u64 >= 1 << (64 - PART_SHIFT) {
            return Err(Error::invalid(
                "parts",
                format!("{name}: {} parts", parts.len()),
            ));
        }
        if let Some(p) = parts.iter().find(|p| p.size >= 1 << PART_SHIFT) {
            return Err(Error::unsupported(format!(
                "{}: files of 1 TiB or more are not read",
                p.name
            )));
        }
        let last = parts.len() as u64 - 1;
        let size = (last << PART_SHIFT) + parts[last as usize].size;
        Ok(Self {
            name: Arc::from(name),
            size,
            backend: Backend::Concat(parts.into()),
            coalesce_gap: DEFAULT_COALESCE_GAP,
        })
    }

    /// The names of the objects this source reads: each part of a concatenated source, else
    /// its own name.
    pub fn part_names(&self) -> Vec<String> {
        match &self.backend {
            Backend::Concat(parts) => parts.iter().map(|p| p.name.to_string()).collect(),
            _ => vec![self.name.to_string()],
        }
    }

    /// The same source named `name` in errors.
    pub fn renamed(mut self, name: impl Into<String>) -> Self {
        self.name = Arc::from(name.into());
        self
    }

    /// The object store and path this source reads, if it reads one.
    pub fn store_location(&self) -> Option<(Arc<dyn ObjectStore>, Path)> {
        match &self.backend {
            Backend::Store { store, path } => Some((store.clone(), path.clone())),
            _ => None,
        }
    }

    /// The local file this source reads, if it is one.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        match &self.backend {
            Backend::File(_) => Some(std::path::PathBuf::from(&*self.name)),
            _ => None,
        }
    }

    /// Set the gap below which [`Source::read_many`] merges ranges.
    pub fn with_coalesce_gap(mut self, gap: u64) -> Self {
        self.coalesce_gap = gap;
        self
    }

    /// The name used in errors (URL or path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn check(&self, range: &Range<u64>) -> Result<()> {
        if range.start > range.end || range.end > self.size {
            return Err(Error::corrupt(
                &self.name,
                format!(
                    "byte range {}..{} lies outside the file ({} bytes)",
                    range.start, range.end, self.size
                ),
            ));
        }
        Ok(())
    }

    /// Read `range` exactly (an error if it lies outside the object).
    pub async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.check(&range)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        match &self.backend {
            Backend::Memory(b) => Ok(b.slice(range.start as usize..range.end as usize)),
            Backend::Concat(parts) => {
                let i = (range.start >> PART_SHIFT) as usize;
                let base = (i as u64) << PART_SHIFT;
                let part = parts.get(i).filter(|p| range.end - base <= p.size);
                let Some(part) = part else {
                    return Err(Error::corrupt(
                        &self.name,
                        format!(
                            "byte range {}..{} crosses its parts",
                            range.start, range.end
                        ),
                    ));
                };
                Box::pin(part.read(range.start - base..range.end - base)).await
            }
            Backend::File(f) => read_file(f, &range).map_err(|source| Error::Io {
                source_name: self.name.to_string(),
                source,
            }),
            Backend::Store { store, path } => {
                let opts = GetOptions::new().with_range(Some(GetRange::Bounded(range.clone())));
                let got = store
                    .get_opts(path, opts)
                    .await
                    .map_err(|e| Error::backend(&self.name, e))?;
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| Error::backend(&self.name, e))?;
                if bytes.len() as u64 != range.end - range.start {
                    return Err(Error::corrupt(
                        &self.name,
                        format!("short read at {}..{}", range.start, range.end),
                    ));
                }
                Ok(bytes)
            }
        }
    }

    /// Read several ranges; ranges closer than the coalesce gap are fetched with one request
    /// (concurrently for a store), and each result is a zero-copy slice of it.
    pub async fn read_many(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        for r in ranges {
            self.check(r)?;
        }
        let merged = coalesce(ranges, self.coalesce_gap);
        let fetched =
            futures::future::try_join_all(merged.iter().map(|r| self.read(r.clone()))).await?;
        ranges
            .iter()
            .map(|r| {
                if r.is_empty() {
                    return Ok(Bytes::new());
                }
                // `merged` is sorted and disjoint: the last one starting at or before `r`.
                let i = merged.partition_point(|m| m.start <= r.start);
                match i.checked_sub(1).map(|i| (i, &merged[i])) {
                    Some((i, m)) if r.end <= m.end => {
                        let start = (r.start - m.start) as usize;
                        Ok(fetched[i].slice(start..start + (r.end - r.start) as usize))
                    }
                    _ => Err(Error::corrupt(
                        &self.name,
                        format!(
                            "range {}..{} not covered by the coalesced reads",
                            r.start, r.end
                        ),
                    )),
                }
            })
            .collect()
    }
}

/// Merge ranges whose gap is at most `gap`; the result is sorted and disjoint.
pub fn coalesce(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| !r.is_empty()).cloned().collect();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

fn read_file(file: &std::fs::File, range: &Range<u64>) -> std::io::Result<Bytes> {
    let len = (range.end - range.start) as usize;
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buf, range.start)?;
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < len {
            let n = file.seek_read(&mut buf[done..], range.start + done as u64)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(Bytes::from(buf))
}

/// The local folder a URL names, if it names an existing folder.
pub fn local_dir(url: &str) -> Option<std::path::PathBuf> {
    local_path(url).filter(|p| p.is_dir())
}

/// The local file a URL names, if it names one (`file://` or a plain path).
fn local_path(url: &str) -> Option<std::path::PathBuf> {
    match url.split_once("://") {
        None => std::path::absolute(url).ok(),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => {
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            rest.starts_with('/')
                .then(|| objects::percent_decode(rest).ok().map(Into::into))
                .flatten()
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_merges_near_ranges_only() {
        assert_eq!(
            coalesce(&[10..20, 0..5, 22..30, 100..110], 4),
            vec![0..5, 10..30, 100..110]
        );
        assert_eq!(coalesce(&[0..10, 5..8], 0), vec![0..10]);
    }

    #[test]
    fn read_many_slices_each_range_from_one_request() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let counting = objects::CountingStore::new(store);
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        futures::executor::block_on(async {
            use object_store::ObjectStoreExt;
            let p = Path::from("x");
            counting.put(&p, data.clone().into()).await.unwrap();
            counting.reset();
            let (src, head) = Source::from_store(Arc::new(counting.clone()), p)
                .await
                .unwrap();
            assert_eq!(head.len(), 10_000);
            let src = src.with_coalesce_gap(100);
            let got = src
                .read_many(&[5000..5010, 100..200, 150..160, 9000..9001, 7000..7000])
                .await
                .unwrap();
            assert!(got[4].is_empty());
            assert_eq!(&got[0][..], &data[5000..5010]);
            assert_eq!(&got[1][..], &data[100..200]);
            assert_eq!(&got[2][..], &data[150..160]);
            assert_eq!(&got[3][..], &data[9000..9001]);
            // One GET to open, then three coalesced groups.
            assert_eq!(counting.counts().gets, 4);
            assert!(src.read(9990..10_001).await.is_err());
        });
    }

    #[test]
    fn file_source_reads_ranges() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"abcdefgh").unwrap();
        let src = Source::from_file(tmp.path()).unwrap();
        assert_eq!(src.size(), 8);
        let got = futures::executor::block_on(src.read(2..5)).unwrap();
        assert_eq!(&got[..], b"cde");
        let err = futures::executor::block_on(src.read(6..9)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt);
    }
}
