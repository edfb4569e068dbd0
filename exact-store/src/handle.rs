//! [`Exact`], the library handle: one value that opens the metadata store and the blob store
//! from an [`ExactConfig`] and exposes every use case. The HTTP server and the Python wheel hold
//! one of these and add nothing but translation.

use crate::blobs::Blobs;
use crate::files::worker::Conversions;
use crate::files::{ImageFiles, MediaStore, Registrations};
use crate::meta::open_meta_store;
use crate::pixels::{PixelError, Pixels};
use exact_core::catalog::{
    Accounts, AnnotationTypes, Annotations, Catalog, ExportFormats, ImageSets, LogImageActions,
    Products, ScreeningModes, SetTags, Teams, TrustedAccounts, Users, Verifications, Versions,
};
use exact_core::model::Image;
use exact_core::store::MetaStore;
use exact_core::{Actor, Clock, ImageId, Result, UserId};
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the handle keeps its data. The default puts everything under `./exact-data`:
/// metadata in `sled://./exact-data/db`, blobs in `./exact-data/blobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactConfig {
    /// The data directory defaults are derived from.
    pub data_dir: PathBuf,
    /// Metadata store URL; `None` = `sled://<data_dir>/db`.
    pub meta: Option<String>,
    /// Blob store URL; `None` = `file://<data_dir>/blobs`.
    pub blobs: Option<String>,
}

impl Default for ExactConfig {
    fn default() -> Self {
        ExactConfig::in_dir("./exact-data")
    }
}

impl ExactConfig {
    /// Everything under `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ExactConfig {
            data_dir: dir.into(),
            meta: None,
            blobs: None,
        }
    }

    /// Everything in memory (tests, throw-away sessions).
    pub fn memory() -> Self {
        ExactConfig {
            data_dir: PathBuf::from("."),
            meta: Some("memory://".into()),
            blobs: Some("memory://".into()),
        }
    }

    /// The metadata URL in effect.
    pub fn meta_url(&self) -> String {
        self.meta
            .clone()
            .unwrap_or_else(|| format!("sled://{}", self.data_dir.join("db").display()))
    }

    /// The blob URL in effect.
    pub fn blobs_url(&self) -> String {
        self.blobs.clone().unwrap_or_else(|| {
            let dir = self.data_dir.join("blobs");
            // A plain path is accepted by the blob opener and keeps relative directories relative.
            path_str(&dir)
        })
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// The library handle. Cheap to clone; thread-safe.
#[derive(Clone, Debug)]
pub struct Exact {
    catalog: Catalog,
    blobs: Blobs,
    config: Arc<ExactConfig>,
    secrets: Arc<crate::Argon2Secrets>,
    /// Open slides and Deep Zoom generators, shared by every front end over this handle.
    pixels: Arc<Pixels>,
    /// The queue to the running conversion worker, if any.
    conversions: Arc<Conversions>,
    /// Uploads being registered, by set and name (racing identical uploads).
    registrations: Arc<Registrations>,
}

impl Exact {
    /// Opens (creating if needed) the stores named by `config`.
    pub fn open(config: ExactConfig) -> Result<Exact> {
        let meta = open_meta_store(&config.meta_url())?;
        Self::open_with_meta(meta, config)
    }

    /// Opens over a metadata store the caller already holds (an embedder's own adapter, or a
    /// test that inspects raw records); blobs as `config` names them.
    pub fn open_with_meta(meta: Arc<dyn MetaStore>, config: ExactConfig) -> Result<Exact> {
        let blobs = Blobs::open(&config.blobs_url())?;
        let catalog = Catalog::new(meta);
        // A store from before the maintained annotation counts gets them now (once; a new
        // store just gets the marker).
        catalog.build_counts()?;
        // Likewise the id-ordered copies the listing reads its pages from.
        catalog.build_by_id()?;
        Ok(Exact {
            catalog,
            pixels: Arc::new(Pixels::new(blobs.clone())),
            blobs,
            config: Arc::new(config),
            secrets: Arc::default(),
            conversions: Arc::default(),
            registrations: Arc::default(),
        })
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.catalog = self.catalog.with_clock(clock);
        self
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &ExactConfig {
        &self.config
    }

    /// All use cases, over the metadata store.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Who `user` is and their team roles; load once per request.
    pub fn actor(&self, user: UserId) -> Result<Actor> {
        self.catalog.actor(user)
    }

    /// The catalog's counts and recent failed uploads (superusers only).
    pub fn status(&self, actor: &Actor) -> Result<exact_core::catalog::CatalogStatus> {
        self.catalog.status(actor)
    }

    /// Passwords, tokens and sessions, checked against the acting user.
    pub fn accounts(&self) -> Accounts<'_> {
        self.catalog.accounts(&*self.secrets)
    }
    /// Passwords, tokens, sessions and first start without an actor: for authentication, the
    /// admin CLI and bootstrapping only.
    pub fn trusted_accounts(&self) -> TrustedAccounts<'_> {
        self.catalog.trusted_accounts(&*self.secrets)
    }

    /// Users.
    pub fn users(&self) -> Users<'_> {
        self.catalog.users()
    }
    /// Teams and memberships.
    pub fn teams(&self) -> Teams<'_> {
        self.catalog.teams()
    }
    /// Products.
    pub fn products(&self) -> Products<'_> {
        self.catalog.products()
    }
    /// Annotation types.
    pub fn annotation_types(&self) -> AnnotationTypes<'_> {
        self.catalog.annotation_types()
    }
    /// Image sets.
    pub fn image_sets(&self) -> ImageSets<'_> {
        self.catalog.image_sets()
    }
    /// Images: the metadata use cases of [`exact_core::catalog::Images`] and those that
    /// touch files (upload, link by URL, download, set zip; see [`ImageFiles`]).
    pub fn images(&self) -> ImageFiles<'_> {
        ImageFiles::new(self)
    }

    /// The pixels of an image the actor may read: its Deep Zoom generator on the given grid
    /// (`None`: the slide's native tiles, passed through; `Some(DeepZoomOptions::default())`:
    /// OpenSlide's 254/1 grid, valid for every slide), whose [`DeepZoomGenerator::slide`] is
    /// the open slide (regions, thumbnails, properties). Open slides are cached per handle.
    ///
    /// Errors: `NotFound` (no such image for this actor, or an image registered by metadata
    /// only), `NotReady` (being converted: ask again), `Unservable` (its conversion failed,
    /// or its file is damaged).
    pub async fn pixels(
        &self,
        actor: &Actor,
        image: ImageId,
        grid: Option<DeepZoomOptions>,
    ) -> Result<(Image, Arc<DeepZoomGenerator>)> {
        let (exact, a) = (self.clone(), actor.clone());
        let image = crate::files::blocking(move || exact.catalog.images().get(&a, image)).await?;
        let g = self
            .pixels
            .deepzoom(&image, grid)
            .await
            .map_err(exact_core::Error::from)?;
        Ok((image, g))
    }

    /// The open-slide cache, for front ends that checked the image themselves (the tile
    /// path, which remembers grants for a moment) and need the tile engine's own errors
    /// ([`PixelError::Tiles`]: a busy render budget is worth a retry).
    pub fn pixel_cache(&self) -> &Pixels {
        &self.pixels
    }

    /// The generator of an already-checked image, keeping the tile engine's error.
    pub async fn deepzoom_of(
        &self,
        image: &Image,
        grid: Option<DeepZoomOptions>,
    ) -> std::result::Result<Arc<DeepZoomGenerator>, PixelError> {
        self.pixels.deepzoom(image, grid).await
    }

    pub(crate) fn conversions(&self) -> &Conversions {
        &self.conversions
    }

    pub(crate) fn registrations(&self) -> &Registrations {
        &self.registrations
    }
    /// Annotations, history, viewport queries.
    pub fn annotations(&self) -> Annotations<'_> {
        self.catalog.annotations()
    }
    /// Verifications.
    pub fn verifications(&self) -> Verifications<'_> {
        self.catalog.verifications()
    }
    /// Set versions.
    pub fn versions(&self) -> Versions<'_> {
        self.catalog.versions()
    }
    /// Set tags.
    pub fn set_tags(&self) -> SetTags<'_> {
        self.catalog.set_tags()
    }
    /// Image open/close log.
    pub fn log_image_actions(&self) -> LogImageActions<'_> {
        self.catalog.log_image_actions()
    }
    /// Screening progress.
    pub fn screening_modes(&self) -> ScreeningModes<'_> {
        self.catalog.screening_modes()
    }
    /// Media files on annotations: records ([`exact_core::catalog::MediaFiles`]) and
    /// their bytes ([`MediaStore::upload`], [`MediaStore::read`]).
    pub fn media_files(&self) -> MediaStore<'_> {
        MediaStore::new(self)
    }
    /// Export formats.
    pub fn export_formats(&self) -> ExportFormats<'_> {
        self.catalog.export_formats()
    }

    /// Exports made with export formats, kept with their text.
    pub fn exports(&self) -> exact_core::catalog::Exports<'_> {
        self.catalog.exports()
    }
    /// Image registrations (homographies between images).
    pub fn image_registrations(&self) -> exact_core::catalog::Registrations<'_> {
        self.catalog.image_registrations()
    }
    /// Team and global messages.
    pub fn messages(&self) -> exact_core::catalog::Messages<'_> {
        self.catalog.messages()
    }
    /// Annotation import and export (GeoJSON, COCO, CSV, EXACT label lines).
    pub fn interop(&self) -> exact_interop::Interop<'_> {
        exact_interop::Interop(&self.catalog)
    }
}
