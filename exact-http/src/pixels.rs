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

/// The pixel side of the server: the handle's open slides (see
/// [`exact_store::Exact::pixels`]) plus the tile path's counters and access grants.
#[derive(Debug)]
pub struct Pixels {
    exact: Exact,
    /// Tile counters.
    pub counters: TileCounters,
    /// Recent access grants of the tile path.
    pub access: AccessCache,
}

impl Pixels {
    /// The pixels of the images of `exact`.
    pub fn new(exact: Exact) -> Self {
        Pixels {
            exact,
            counters: TileCounters::default(),
            access: AccessCache::default(),
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

    /// The render memory budget shared by every slide the handle opens.
    pub fn render_budget(&self) -> Option<&Arc<RenderBudget>> {
        self.exact.pixel_cache().render_budget()
    }

    /// Forget the open slide of `image` (deleted, or its file replaced).
    pub fn invalidate(&self, image: &Image) {
        self.access.forget(image.id);
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
