//! Where an image's pixels live and how they are opened: uploaded files in the blob store
//! (read by local `pread` or ranged GETs), slides linked by URL, and the per-handle cache of
//! open slides and Deep Zoom generators. [`crate::Exact::pixels`] is the checked entry point:
//! it loads the image as the actor sees it and answers the generator, or a typed error for an
//! image whose pixels are not ready ([`exact_core::ErrorKind::NotReady`]), failed
//! ([`exact_core::ErrorKind::Unservable`]) or were never uploaded
//! ([`exact_core::ErrorKind::NotFound`]).

use crate::Blobs;
use crate::blobs::tiles_error;
use exact_core::model::{Image, ImageType, PixelState};
use exact_core::{Error, Result};
use exact_tiles::budget::RenderBudget;
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions, Slide, SlideCache};
use std::sync::Arc;

/// Open slides kept per handle (each holds its parsed IFDs and a decoded-tile cache).
const OPEN_SLIDES: usize = 64;

/// The open slides of one handle, shared by every front end over it.
#[derive(Debug)]
pub struct Pixels {
    blobs: Blobs,
    slides: SlideCache,
}

/// Where an image's served file is.
enum Location {
    /// A URL or local path the tile engine opens itself.
    Url(String),
    /// A key only the blob store reads (`memory://`).
    Blob(String),
}

impl Pixels {
    /// Pixels of images whose files live in `blobs`, rendering within the process's render
    /// memory budget (`EXACT_RENDER_MEMORY`, see [`RenderBudget::from_env`]).
    pub fn new(blobs: Blobs) -> Self {
        Pixels {
            blobs,
            slides: SlideCache::new(OPEN_SLIDES).with_budget(render_budget()),
        }
    }

    fn location(&self, image: &Image) -> Result<Location> {
        if image.image_type == ImageType::FileLink {
            return Ok(Location::Url(image.filename.clone()));
        }
        require_file(image)?;
        Ok(match self.blobs.object_url(&image.filename)? {
            Some(url) => Location::Url(url),
            None => Location::Blob(image.filename.clone()),
        })
    }

    /// The Deep Zoom generator of an image the caller has already checked: `None` for the
    /// native grid, else the given one (OpenSlide's 254/1 is valid for every slide). Fails
    /// with `NotReady` / `Unservable` / `NotFound` as [`crate::Exact::pixels`] does; tile-engine
    /// failures keep their own kinds (`Busy` means the render memory budget is in use).
    pub async fn deepzoom(
        &self,
        image: &Image,
        opts: Option<DeepZoomOptions>,
    ) -> std::result::Result<Arc<DeepZoomGenerator>, PixelError> {
        self.plane_deepzoom(image, opts, 1, 1).await
    }

    /// [`Pixels::deepzoom`] of one plane of the image's series: `z` and `frame` are 1-based,
    /// as EXACT's tile URLs; a plane beyond the image's `depth`/`frames` is `NotFound` naming
    /// them, a series the file lacks is `NotFound` naming its series count.
    pub async fn plane_deepzoom(
        &self,
        image: &Image,
        opts: Option<DeepZoomOptions>,
        z: u32,
        frame: u32,
    ) -> std::result::Result<Arc<DeepZoomGenerator>, PixelError> {
        require_ready(image)?;
        if z == 0 || frame == 0 || z > image.depth.max(1) || frame > image.frames.max(1) {
            return Err(PixelError::Core(Error::not_found(format!(
                "plane z={z} frame={frame} of image {} (depth {}, frames {})",
                image.id.0, image.depth, image.frames
            ))));
        }
        let plane = (z, frame);
        let series = image.series as usize;
        let settings = display_settings(image);
        let suffix = display_key(image);
        match self.location(image)? {
            Location::Url(url) => {
                let u = url.clone();
                self.slides
                    .plane_deepzoom_with(&format!("{url}{suffix}"), opts, plane, || async move {
                        let mut s = Slide::open(&u).await?.into_series(series)?;
                        s.set_display(&settings)?;
                        Ok(s)
                    })
                    .await
                    .map_err(|e| PixelError::Tiles(url, e))
            }
            Location::Blob(key) => {
                let path = self.blobs.path(&key)?;
                let store = self.blobs.object_store().0.clone();
                self.slides
                    .plane_deepzoom_with(
                        &format!("blob:{key}{suffix}"),
                        opts,
                        plane,
                        || async move {
                            let mut s =
                                Slide::open_store(store, path).await?.into_series(series)?;
                            s.set_display(&settings)?;
                            Ok(s)
                        },
                    )
                    .await
                    .map_err(|e| PixelError::Tiles(key, e))
            }
        }
    }

    /// The render memory budget shared by every slide this handle opens.
    pub fn render_budget(&self) -> Option<&Arc<RenderBudget>> {
        self.slides.budget()
    }

    /// Forgets the open slide of `image` (deleted, or its file replaced by a conversion).
    pub fn invalidate(&self, image: &Image) {
        let suffix = display_key(image);
        if let Ok(loc) = self.location(image) {
            match loc {
                Location::Url(url) => {
                    self.slides.invalidate(&url);
                    self.slides.invalidate(&format!("{url}{suffix}"));
                }
                Location::Blob(key) => {
                    self.slides.invalidate(&format!("blob:{key}"));
                    self.slides.invalidate(&format!("blob:{key}{suffix}"));
                }
            }
        }
    }
}

/// The image's channel display settings, for the tile engine.
pub fn display_settings(image: &Image) -> Vec<exact_tiles::ChannelSetting> {
    let clamp = |v: Option<u32>| v.map(|v| u16::try_from(v).unwrap_or(u16::MAX));
    image
        .channel_display
        .iter()
        .map(|c| exact_tiles::ChannelSetting {
            channel: c.channel as usize,
            color: c.rgb(),
            low: clamp(c.min),
            high: clamp(c.max),
        })
        .collect()
}

/// What the open slide of an image is cached under, beside its file's key: images sharing a
/// file show different series of it (a several-series upload) or may show its channels
/// differently (copies). Empty for series 0 without display settings.
pub fn display_key(image: &Image) -> String {
    use std::hash::{Hash, Hasher};
    let series = match image.series {
        0 => String::new(),
        n => format!("#series={n}"),
    };
    if image.channel_display.is_empty() {
        return series;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    image.channel_display.hash(&mut h);
    format!("{series}#display={:016x}", h.finish())
}

/// Why an image's pixels cannot be opened: a library error (not ready, failed, no file,
/// storage), or the tile engine's own error about the named file, kept whole so a front end
/// can tell a busy render budget (HTTP's 503 with `Retry-After`) from a damaged file.
#[derive(Debug)]
pub enum PixelError {
    /// Not ready, failed, no file, or a storage failure.
    Core(Error),
    /// The tile engine could not open the file (named by its URL or blob key).
    Tiles(String, exact_tiles::Error),
}

impl From<Error> for PixelError {
    fn from(e: Error) -> Self {
        PixelError::Core(e)
    }
}

impl From<PixelError> for Error {
    /// The core error of a pixel failure: a damaged file is `Unservable`, the rest as
    /// [`tiles_error`] maps it.
    fn from(e: PixelError) -> Self {
        match e {
            PixelError::Core(e) => e,
            PixelError::Tiles(name, e) => slide_error(&name, e),
        }
    }
}

impl std::fmt::Display for PixelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PixelError::Core(e) => e.fmt(f),
            PixelError::Tiles(_, e) => e.fmt(f),
        }
    }
}

/// A tile-engine error about a stored slide as a core error: a damaged file is `Unservable`
/// (the request was fine, the file cannot be served, retrying will not help); the rest as
/// [`tiles_error`] maps it. Reasons name the problem, not the server's file path.
pub fn slide_error(name: &str, e: exact_tiles::Error) -> Error {
    match e {
        exact_tiles::Error::Corrupt { detail, .. } => Error::Unservable {
            what: "the image's file".into(),
            detail: format!("it is damaged: {detail}"),
        },
        e => tiles_error(name, e),
    }
}

/// Fails unless the image's file came through this store (an upload or its conversion) or is
/// a linked slide: an image registered by its metadata alone names no file the server may read.
pub fn require_file(image: &Image) -> Result<()> {
    if image.image_type != ImageType::FileLink && image.original.is_empty() {
        return Err(Error::not_found(format!(
            "the file of {} (it was registered by its metadata only, never uploaded)",
            image.id
        )));
    }
    Ok(())
}

/// Fails with `NotReady` (being converted) or `Unservable` (conversion failed) unless the
/// image's pixels are ready.
pub fn require_ready(image: &Image) -> Result<()> {
    match image.state {
        PixelState::Ready => Ok(()),
        PixelState::Converting => Err(Error::NotReady {
            what: image.id.to_string(),
            detail: "it is being converted into a pyramid; try again shortly".into(),
        }),
        PixelState::Failed => Err(Error::Unservable {
            what: format!("the pixels of {}", image.id),
            detail: image.state_detail.clone(),
        }),
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
