//! Where an image's pixels live and how they are opened: uploaded files in the blob store
//! (read by local `pread` or ranged GETs), slides linked by URL, and the shared cache of open
//! slides and Deep Zoom generators. Counters for `/metrics` live here too.

use crate::error::{ApiError, ApiResult};
use exact_core::ImageId;
use exact_core::model::{Image, ImageType, PixelState};
use exact_store::Blobs;
use exact_store::blobs::tiles_error;
use exact_tiles::budget::RenderBudget;
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions, Slide, SlideCache};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Open slides kept per process (each holds its parsed IFDs and a decoded-tile cache).
const OPEN_SLIDES: usize = 64;

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
/// [`ACCESS_TTL`]. Only grants are kept; the credential is the request's own
/// `Authorization` header or session cookie, so nothing is shared between users.
#[derive(Debug, Default)]
pub struct AccessCache {
    /// credential → image → (record, granted at); looked up without allocating.
    map: std::sync::Mutex<std::collections::HashMap<String, Grants>>,
}

type Grants = std::collections::HashMap<ImageId, (Image, std::time::Instant)>;

impl AccessCache {
    /// The image if `credential` was granted it within [`ACCESS_TTL`].
    pub fn get(&self, credential: &str, image: ImageId) -> Option<Image> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(credential)?
            .get(&image)
            .filter(|(_, at)| at.elapsed() < ACCESS_TTL)
            .map(|(i, _)| i.clone())
    }

    /// Remembers a grant.
    pub fn insert(&self, credential: &str, image: Image) {
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
        let grants = match map.get_mut(credential) {
            Some(g) => g,
            None => map.entry(credential.to_owned()).or_default(),
        };
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

/// The pixel side of the server.
#[derive(Debug)]
pub struct Pixels {
    blobs: Blobs,
    slides: SlideCache,
    /// Tile counters.
    pub counters: TileCounters,
    /// Recent access grants of the tile path.
    pub access: AccessCache,
}

/// Where an image's served file is.
enum Location {
    /// A URL or local path the tile engine opens itself.
    Url(String),
    /// A key only the blob store reads (`memory://`).
    Blob(String),
}

impl Pixels {
    /// Pixels of images whose files live in `blobs`.
    pub fn new(blobs: Blobs) -> Self {
        Pixels {
            blobs,
            slides: SlideCache::new(OPEN_SLIDES).with_budget(render_budget()),
            counters: TileCounters::default(),
            access: AccessCache::default(),
        }
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    fn location(&self, image: &Image) -> ApiResult<Location> {
        if image.image_type == ImageType::FileLink {
            return Ok(Location::Url(image.filename.clone()));
        }
        Self::require_file(image)?;
        Ok(match self.blobs.object_url(&image.filename)? {
            Some(url) => Location::Url(url),
            None => Location::Blob(image.filename.clone()),
        })
    }

    /// Fails unless the image's file came through this server (an upload or its conversion):
    /// an image registered by its metadata alone names no file the server may read.
    pub fn require_file(image: &Image) -> ApiResult<()> {
        if image.image_type != ImageType::FileLink && image.original.is_empty() {
            return Err(ApiError::Core(exact_core::Error::not_found(format!(
                "the file of {} (it was registered by its metadata only, never uploaded)",
                image.id
            ))));
        }
        Ok(())
    }

    /// Fails with 409-style JSON unless the image's pixels are ready.
    pub fn require_ready(image: &Image) -> ApiResult<()> {
        match image.state {
            PixelState::Ready => Ok(()),
            PixelState::Converting => Err(ApiError::Rejected {
                status: axum::http::StatusCode::ACCEPTED,
                detail: format!(
                    "image {} is being converted into a pyramid; try again shortly",
                    image.id
                ),
            }),
            PixelState::Failed => Err(ApiError::Rejected {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                detail: format!(
                    "image {} has no servable pixels: {}",
                    image.id, image.state_detail
                ),
            }),
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

    /// The Deep Zoom generator of a ready image: `None` for the native grid, else OpenSlide's.
    pub async fn deepzoom(
        &self,
        image: &Image,
        opts: Option<DeepZoomOptions>,
    ) -> ApiResult<Arc<DeepZoomGenerator>> {
        Self::require_ready(image)?;
        match self.location(image)? {
            Location::Url(url) => self
                .slides
                .deepzoom(&url, opts)
                .await
                .map_err(|e| slide_error(&url, e)),
            Location::Blob(key) => {
                let path = self.blobs.path(&key)?;
                let store = self.blobs.object_store().0.clone();
                self.slides
                    .deepzoom_with(&format!("blob:{key}"), opts, || {
                        Slide::open_store(store, path)
                    })
                    .await
                    .map_err(|e| slide_error(&key, e))
            }
        }
    }

    /// The render memory budget shared by every slide this server opens.
    pub fn render_budget(&self) -> Option<&Arc<RenderBudget>> {
        self.slides.budget()
    }

    /// Forget the open slide of `image` (deleted, or its file replaced).
    pub fn invalidate(&self, image: &Image) {
        self.access.forget(image.id);
        if let Ok(loc) = self.location(image) {
            match loc {
                Location::Url(url) => self.slides.invalidate(&url),
                Location::Blob(key) => self.slides.invalidate(&format!("blob:{key}")),
            }
        }
    }
}

/// The render memory budget of this process: `EXACT_RENDER_MEMORY` (bytes, or `512M`, `2G`),
/// 1 GiB by default. A value that does not parse is logged and the default used, so a typo
/// cannot take the server down or leave it unbounded.
fn render_budget() -> Arc<RenderBudget> {
    RenderBudget::from_env().unwrap_or_else(|e| {
        tracing::error!(error = %e, "ignoring EXACT_RENDER_MEMORY; using the 1 GiB default");
        RenderBudget::new(exact_tiles::budget::DEFAULT_RENDER_MEMORY)
    })
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
