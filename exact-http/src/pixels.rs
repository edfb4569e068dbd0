//! The tile path's side of pixels: where they live and whether they are ready is the
//! library's ([`exact_store::Exact::pixels`]); here are the counters for `/metrics`, the
//! short-lived access grants of the tile path, and the mapping of tile-engine errors onto HTTP.

use crate::error::{ApiError, ApiResult};
use exact_core::ImageId;
use exact_core::model::Image;
use exact_store::Exact;
use exact_store::blobs::tiles_error;
use exact_store::pixels::PixelError;
use exact_tiles::budget::RenderBudget;
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions, Slide};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tile counters exposed at `/metrics`.
#[derive(Debug, Default)]
pub struct TileCounters {
    /// Native tiles sent as stored (JPEG tables spliced, no decoding).
    pub passthrough: AtomicU64,
    /// Tiles rendered (decoded, resized, encoded).
    pub rendered: AtomicU64,
    /// Rendered tiles answered from the rendered-tile cache.
    pub cache_hits: AtomicU64,
    /// Conditional requests answered `304 Not Modified`.
    pub not_modified: AtomicU64,
    /// Native tiles answered from the in-memory tile bytes ([`TileBytes`]), no read.
    pub memory_hits: AtomicU64,
}

impl TileCounters {
    /// Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, v) in [
            (
                "exact_tiles_passthrough_total",
                "Native tiles served without decoding.",
                &self.passthrough,
            ),
            (
                "exact_tiles_rendered_total",
                "Tiles rendered (decoded, resized, encoded).",
                &self.rendered,
            ),
            (
                "exact_tiles_cache_hits_total",
                "Rendered tiles answered from the rendered-tile cache.",
                &self.cache_hits,
            ),
            (
                "exact_tiles_not_modified_total",
                "Tile requests answered 304 Not Modified.",
                &self.not_modified,
            ),
            (
                "exact_tiles_memory_hits_total",
                "Native tiles answered from the in-memory tile bytes (no file read).",
                &self.memory_hits,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// How long the tile path remembers that a credential may read an image.
pub const ACCESS_TTL: std::time::Duration = std::time::Duration::from_secs(2);
const ACCESS_MAX: usize = 10_000;

/// Granted accesses of the tile path: (credential, image) → the image record, for
/// [`ACCESS_TTL`]. Only grants are kept. A credential is filed under its keyed hash
/// ([`crate::auth::Authenticator::grant_key`], an HMAC with a per-process key, as the Basic
/// credential cache), never under the `Authorization` header or cookie itself: no password or
/// token stays in memory, and nothing is shared between users.
#[derive(Debug, Default)]
pub struct AccessCache {
    /// keyed hash of the credential → image → (record, granted at).
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Grants>>,
}

type Grants = std::collections::HashMap<ImageId, (Arc<Image>, std::time::Instant)>;

impl AccessCache {
    /// The image if `credential` was granted it within [`ACCESS_TTL`].
    pub fn get(&self, credential: &[u8; 32], image: ImageId) -> Option<Arc<Image>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(credential)?
            .get(&image)
            .filter(|(_, at)| at.elapsed() < ACCESS_TTL)
            .map(|(i, _)| i.clone())
    }

    /// Remembers a grant.
    pub fn insert(&self, credential: &[u8; 32], image: Arc<Image>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= ACCESS_MAX {
            map.retain(|_, g| {
                g.retain(|_, (_, at)| at.elapsed() < ACCESS_TTL);
                !g.is_empty()
            });
            if map.len() >= ACCESS_MAX {
                map.clear();
            }
        }
        let grants = map.entry(*credential).or_default();
        grants.insert(image.id, (image, std::time::Instant::now()));
    }

    /// Forgets every grant of an image (deleted, or its pixels changed).
    pub fn forget(&self, image: ImageId) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for g in map.values_mut() {
            g.remove(&image);
        }
    }
}

/// Default bound of [`TileBytes`] (`EXACT_TILE_CACHE_MB`, 0 turns it off).
pub const TILE_BYTES_DEFAULT_MB: usize = 64;
const TILE_SHARDS: usize = 8;
/// What an entry costs beyond its bytes (key, queue slot, map slot), so tiny tiles are bounded
/// by count as well.
const TILE_ENTRY_OVERHEAD: usize = 128;

/// Which passthrough tile: the image, a hash of its file's identity (name, checksum, size: a
/// new file is a new version), the grid and the tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileKey {
    /// The image.
    pub image: ImageId,
    /// Hash of the image's file identity.
    pub version: u64,
    /// 0: EXACT's grid, 1: the native grid.
    pub grid: u8,
    /// Deep Zoom level, column, row.
    pub tile: (u32, u32, u32),
}

/// A passthrough tile as sent: the JPEG tables and the stored bytes (shared, never copied)
/// and its strong validator.
#[derive(Clone, Debug)]
pub struct CachedTile {
    /// SOI, APP14 when needed and the level's tables.
    pub prefix: bytes::Bytes,
    /// The stored tile after its SOI.
    pub body: bytes::Bytes,
    /// The `ETag` value.
    pub etag: axum::http::HeaderValue,
}

#[derive(Debug, Default)]
struct TileShard {
    map: std::collections::HashMap<TileKey, CachedTile>,
    order: std::collections::VecDeque<TileKey>,
    bytes: usize,
}

/// Native tiles recently sent, kept whole in memory (bounded in bytes, oldest out first):
/// a hit answers from shared `Bytes` without a file read, an allocation or a copy. It is
/// consulted only after the request's permission check, like every other cache of the tile
/// path; an image's entries go when its pixels are invalidated, and a new file is a new key.
#[derive(Debug)]
pub struct TileBytes {
    shards: Vec<std::sync::Mutex<TileShard>>,
    per_shard: usize,
}

impl TileBytes {
    /// A cache of at most `bytes` (0: nothing is kept).
    pub fn new(bytes: usize) -> Self {
        TileBytes {
            shards: (0..TILE_SHARDS).map(|_| Default::default()).collect(),
            per_shard: bytes / TILE_SHARDS,
        }
    }

    /// Bounded by `EXACT_TILE_CACHE_MB` (default [`TILE_BYTES_DEFAULT_MB`]).
    pub fn from_env() -> Self {
        let mb = std::env::var("EXACT_TILE_CACHE_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(TILE_BYTES_DEFAULT_MB);
        Self::new(mb.saturating_mul(1 << 20))
    }

    fn shard(&self, key: &TileKey) -> &std::sync::Mutex<TileShard> {
        let (l, c, r) = key.tile;
        let h = key.version
            ^ key.image.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(c).wrapping_mul(31)
            ^ u64::from(r).wrapping_mul(1_000_003)
            ^ u64::from(l);
        &self.shards[(h as usize) % TILE_SHARDS]
    }

    /// The tile, if it is kept.
    pub fn get(&self, key: &TileKey) -> Option<CachedTile> {
        if self.per_shard == 0 {
            return None;
        }
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.map.get(key).cloned()
    }

    /// Keeps a tile, dropping the oldest ones beyond the bound.
    pub fn insert(&self, key: TileKey, tile: CachedTile) {
        let cost = tile.prefix.len() + tile.body.len() + TILE_ENTRY_OVERHEAD;
        // The tables are shared by every tile of a level: counted once per entry anyway.
        if cost > self.per_shard / 4 {
            return;
        }
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if shard.map.insert(key, tile).is_some() {
            return;
        }
        shard.order.push_back(key);
        shard.bytes += cost;
        while shard.bytes > self.per_shard {
            let Some(old) = shard.order.pop_front() else {
                break;
            };
            if let Some(t) = shard.map.remove(&old) {
                shard.bytes -= t.prefix.len() + t.body.len() + TILE_ENTRY_OVERHEAD;
            }
        }
    }

    /// Forgets every tile of an image.
    pub fn forget(&self, image: ImageId) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let shard = &mut *shard;
            shard.map.retain(|k, t| {
                let keep = k.image != image;
                if !keep {
                    shard.bytes -= t.prefix.len() + t.body.len() + TILE_ENTRY_OVERHEAD;
                }
                keep
            });
            let map = &shard.map;
            shard.order.retain(|k| map.contains_key(k));
        }
    }

    /// Bytes held (tiles plus their accounted overhead).
    pub fn held(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).bytes)
            .sum()
    }
}

/// The pixel side of the server: the handle's open slides (see
/// [`exact_store::Exact::pixels`]) plus the tile path's counters, access grants and the
/// bytes of recently sent native tiles.
#[derive(Debug)]
pub struct Pixels {
    exact: Exact,
    /// Tile counters.
    pub counters: TileCounters,
    /// Recent access grants of the tile path.
    pub access: AccessCache,
    /// Recently sent native tiles.
    pub tile_bytes: TileBytes,
}

impl Pixels {
    /// The pixels of the images of `exact`.
    pub fn new(exact: Exact) -> Self {
        Pixels {
            exact,
            counters: TileCounters::default(),
            access: AccessCache::default(),
            tile_bytes: TileBytes::from_env(),
        }
    }

    /// The open slide of a ready image (shared with its generators; OpenSlide's default grid
    /// is valid for every slide, whatever its tiling).
    pub async fn slide(&self, image: &Image) -> ApiResult<Arc<Slide>> {
        let g = self
            .deepzoom(image, Some(DeepZoomOptions::default()))
            .await?;
        Ok(g.slide().clone())
    }

    /// The Deep Zoom generator of an image the caller checked: `None` for the native grid,
    /// else the given one. Not ready → 202, failed → 422, no file → 404, busy → 503.
    pub async fn deepzoom(
        &self,
        image: &Image,
        opts: Option<DeepZoomOptions>,
    ) -> ApiResult<Arc<DeepZoomGenerator>> {
        self.exact
            .deepzoom_of(image, opts)
            .await
            .map_err(|e| match e {
                PixelError::Core(e) => ApiError::Core(e),
                PixelError::Tiles(name, e) => slide_error(&name, e),
            })
    }

    /// [`Self::deepzoom`] of one plane (`z`, `frame`; 1-based).
    pub async fn plane_deepzoom(
        &self,
        image: &Image,
        opts: Option<DeepZoomOptions>,
        (z, frame): (u32, u32),
    ) -> ApiResult<Arc<DeepZoomGenerator>> {
        self.exact
            .pixel_cache()
            .plane_deepzoom(image, opts, z, frame)
            .await
            .map_err(|e| match e {
                PixelError::Core(e) => ApiError::Core(e),
                PixelError::Tiles(name, e) => slide_error(&name, e),
            })
    }

    /// The render memory budget shared by every slide the handle opens.
    pub fn render_budget(&self) -> Option<&Arc<RenderBudget>> {
        self.exact.pixel_cache().render_budget()
    }

    /// Forget the open slide of `image` (deleted, or its file replaced).
    pub fn invalidate(&self, image: &Image) {
        self.access.forget(image.id);
        self.tile_bytes.forget(image.id);
        self.exact.pixel_cache().invalidate(image);
    }
}

/// A tile-engine error about a stored slide, for the tile, region and thumbnail routes:
/// - a damaged file (a tile that does not decode, bytes past the end of the file) is 422 with
///   the reason: the request was fine, the image cannot be served there, and retrying will not
///   help; never a 500 (the file is the uploader's, not a server fault);
/// - the render budget used up is 503 with `Retry-After`;
/// - a missing file is 404, requests out of range 400, unsupported content 422, storage
///   failures 500 (logged).
///
/// Reasons name the problem but not the server's file path.
pub fn slide_error(name: &str, e: exact_tiles::Error) -> ApiError {
    use exact_tiles::ErrorKind as K;
    match e.kind() {
        K::Corrupt => {
            let detail = match &e {
                exact_tiles::Error::Corrupt { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            ApiError::Rejected {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                detail: format!("the image's file is damaged: {detail}"),
            }
        }
        K::Busy => {
            let secs = e.retry_after_secs().unwrap_or(1);
            ApiError::Busy {
                retry_after_secs: secs,
                detail: format!(
                    "the server's render memory budget is in use by other requests; \
                     retry in {secs} s"
                ),
            }
        }
        K::NotFound | K::InvalidInput | K::Unsupported | K::Backend => {
            ApiError::Core(tiles_error(name, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(n: usize) -> CachedTile {
        CachedTile {
            prefix: bytes::Bytes::from_static(b"\xff\xd8"),
            body: bytes::Bytes::from(vec![7u8; n]),
            etag: axum::http::HeaderValue::from_static("\"t\""),
        }
    }

    fn key(image: u64, col: u32) -> TileKey {
        TileKey {
            image: ImageId(image),
            version: 1,
            grid: 1,
            tile: (3, col, 0),
        }
    }

    #[test]
    fn tile_bytes_stay_within_their_bound_and_forget_an_image() {
        let cache = TileBytes::new(TILE_SHARDS * 64 * 1024);
        for col in 0..2_000 {
            cache.insert(key(1, col), tile(1_000));
            assert!(cache.held() <= TILE_SHARDS * 64 * 1024);
        }
        // The newest are kept, the oldest went.
        assert!(cache.get(&key(1, 1_999)).is_some());
        assert!(cache.get(&key(1, 0)).is_none());
        let other = key(2, 5);
        cache.insert(other, tile(10));
        let hit = cache.get(&other).unwrap();
        assert_eq!(hit.body.len(), 10);
        // Another version of the same tile is another entry.
        assert!(
            cache
                .get(&TileKey {
                    version: 2,
                    ..other
                })
                .is_none()
        );
        cache.forget(ImageId(1));
        assert!(cache.get(&key(1, 1_999)).is_none());
        assert!(cache.get(&other).is_some());
        assert_eq!(cache.held(), 10 + 2 + TILE_ENTRY_OVERHEAD);
        // A tile bigger than a quarter of a shard is never kept; a zero bound keeps nothing.
        cache.insert(key(3, 0), tile(64 * 1024));
        assert!(cache.get(&key(3, 0)).is_none());
        let off = TileBytes::new(0);
        off.insert(key(1, 0), tile(10));
        assert!(off.get(&key(1, 0)).is_none());
    }
}
