//! [`Exact`], the library handle: one value that opens the metadata store and the blob store
//! from an [`ExactConfig`] and exposes every use case. The HTTP server and the Python wheel hold
//! one of these and add nothing but translation.

use crate::blobs::Blobs;
use crate::meta::open_meta_store;
use exact_core::catalog::{
    AnnotationTypes, Annotations, Catalog, ExportFormats, ImageSets, Images, LogImageActions,
    MediaFiles, Products, ScreeningModes, SetTags, Teams, Users, Verifications, Versions,
};
use exact_core::{Actor, Clock, Result, UserId};
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
}

impl Exact {
    /// Opens (creating if needed) the stores named by `config`.
    pub fn open(config: ExactConfig) -> Result<Exact> {
        let meta = open_meta_store(&config.meta_url())?;
        let blobs = Blobs::open(&config.blobs_url())?;
        Ok(Exact {
            catalog: Catalog::new(meta),
            blobs,
            config: Arc::new(config),
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
    /// Images.
    pub fn images(&self) -> Images<'_> {
        self.catalog.images()
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
    /// Media files.
    pub fn media_files(&self) -> MediaFiles<'_> {
        self.catalog.media_files()
    }
    /// Export formats.
    pub fn export_formats(&self) -> ExportFormats<'_> {
        self.catalog.export_formats()
    }
    /// Annotation import and export (GeoJSON, COCO, CSV, EXACT label lines).
    pub fn interop(&self) -> exact_interop::Interop<'_> {
        exact_interop::Interop(&self.catalog)
    }
}
