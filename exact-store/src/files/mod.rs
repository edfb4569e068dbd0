//! Image files below the handle: uploads (a byte stream in, hashed as it is written, never held
//! in memory; zip archives unpacked safely; the file probed; duplicates answered as such; the
//! image registered; pictures queued for conversion into a pyramid), slides linked by URL,
//! original downloads and whole-set zips. Every call takes the acting user and checks their
//! rights in `exact-core` before a byte is written or read.
//!
//! ```no_run
//! # async fn demo(exact: exact_store::Exact, me: exact_core::Actor, set: exact_core::ImageSetId)
//! # -> exact_core::Result<()> {
//! use futures::stream;
//! let bytes = std::fs::read("slide.tiff").map_err(|e| exact_core::Error::backend("fs", e))?;
//! let outcomes = exact.images()
//!     .upload(&me, set, "slide.tiff", stream::iter([Ok(bytes.into())]))
//!     .await?;
//! let image = outcomes[0].image()?; // the new image (or the set's identical one)
//! # Ok(()) }
//! ```
//!
//! Blob layout: every upload gets a fresh directory `images/<uuid>/`, holding the file as
//! uploaded (or an archive's entries) and, after conversion, `<stem>.pyramid.tiff`. Blob keys
//! are ASCII (`[A-Za-z0-9._-]`, see [`blob_name`]); the name the client gave is the image's
//! `name`. Keys with `%`, `#`, `?`, `~`, quotes or non-ASCII letters were written and read
//! under different names (object_store percent-encodes path parts, local files did not),
//! and every store spells such keys differently; plain keys mean the same everywhere.
//!
//! Crash safety: before the first byte of an upload is written, a marker
//! `uploads/pending/<uuid>` names its directory; it is removed just before the image is
//! registered (or after a failed upload was cleaned up). A directory whose marker is still
//! there when a [`crate::ConversionWorker`] starts belongs to an upload that a crash
//! interrupted, and the worker removes it. (Writing to a `tmp/` prefix and moving on success
//! would copy every upload once more on S3, whose server-side copy stops at 5 GB: slides are
//! bigger.)

mod download;
mod maps;
mod pending;
mod receive;
mod register;
mod unzip;
pub(crate) mod worker;

pub use download::{ImageFile, SetZip};
pub use maps::AnnotationMaps;
pub use pending::blob_name;
pub(crate) use pending::{Registrations, sweep};

use crate::Exact;
use bytes::Bytes;
use exact_core::catalog::{Images, MediaFiles, NewImage};
use exact_core::model::{AnnotationMediaFile, Image, ImageType, MediaFileType};
use exact_core::{Actor, AnnotationId, Error, ImageId, ImageSetId, MediaFileId, Result};
use futures::Stream;

/// Largest upload accepted by default, in bytes (`EXACT_MAX_UPLOAD` overrides): 256 GiB.
pub fn max_upload() -> u64 {
    std::env::var("EXACT_MAX_UPLOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 30)
}

/// A file received into the blob store and not yet registered (see
/// [`ImageFiles::receive`]): register it with [`ImageFiles::register`] or drop it with
/// [`ImageFiles::discard`].
#[derive(Debug, Clone)]
pub struct Received {
    key: String,
    name: String,
    size: u64,
    checksum: String,
    marker: String,
}

impl Received {
    /// The name the client gave it (sanitised by [`safe_name`]).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// SHA-512, lower-case hex.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }
    /// The blob directory the upload was written into.
    fn dir(&self) -> &str {
        self.key.rsplit_once('/').map_or("", |(d, _)| d)
    }
}

/// What became of one uploaded file (an archive gives one per entry it registers).
#[derive(Debug)]
pub enum Outcome {
    /// A new image (ready, or queued for conversion).
    Created(Image),
    /// The set already holds this file (same name, same checksum): nothing added.
    Duplicate(Image),
    /// Not added: `error` says why (`InvalidInput` for files that are not images or are
    /// damaged, `AlreadyExists` for a different file under a name the set holds, …).
    Failed {
        /// File name.
        name: String,
        /// Size in bytes.
        size: u64,
        /// Why.
        error: Error,
    },
}

impl Outcome {
    /// The image (new or the identical one the set holds), or the reason there is none.
    pub fn image(&self) -> Result<&Image> {
        match self {
            Outcome::Created(i) | Outcome::Duplicate(i) => Ok(i),
            Outcome::Failed { error, name, .. } => Err(same_kind(error, name)),
        }
    }

    /// The image, or the reason there is none, by value.
    pub fn into_image(self) -> Result<Image> {
        match self {
            Outcome::Created(i) | Outcome::Duplicate(i) => Ok(i),
            Outcome::Failed { error, .. } => Err(error),
        }
    }
}

/// A copy of `e` (errors are not `Clone`): same kind, same message, prefixed with the file.
fn same_kind(e: &Error, name: &str) -> Error {
    let detail = format!("{name}: {e}");
    match e {
        Error::NotFound { .. } => Error::not_found(detail),
        Error::AlreadyExists { .. } => Error::exists(detail),
        Error::InvalidInput { field, .. } => Error::invalid(field.clone(), detail),
        Error::PermissionDenied { .. } => Error::denied(detail),
        Error::Unsupported { .. } => Error::Unsupported { what: detail },
        Error::Corrupt { source_name, .. } => Error::corrupt(source_name.clone(), detail),
        Error::Conflict { .. } => Error::Conflict { what: detail },
        Error::Stale {
            expected, current, ..
        } => Error::Stale {
            what: detail,
            expected: expected.clone(),
            current: current.clone(),
        },
        Error::NotReady { what, .. } => Error::NotReady {
            what: what.clone(),
            detail,
        },
        Error::Unservable { what, .. } => Error::Unservable {
            what: what.clone(),
            detail,
        },
        Error::TooLarge { what, limit } => Error::TooLarge {
            what: what.clone(),
            limit: *limit,
        },
        Error::Backend { backend, .. } => {
            Error::backend(backend.clone(), std::io::Error::other(detail))
        }
    }
}

/// A file name reduced to its last path component, without control characters; never
/// empty, `.` or `..`.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect();
    if clean.is_empty() || clean == "." || clean == ".." {
        "upload".into()
    } else {
        clean
    }
}

/// Image use cases: everything of [`Images`] (by `Deref`) plus those that touch files —
/// uploads, links by URL, downloads and set zips. Got from [`Exact::images`].
pub struct ImageFiles<'a> {
    exact: &'a Exact,
    images: Images<'a>,
}

impl<'a> std::ops::Deref for ImageFiles<'a> {
    type Target = Images<'a>;
    fn deref(&self) -> &Images<'a> {
        &self.images
    }
}

impl<'a> ImageFiles<'a> {
    pub(crate) fn new(exact: &'a Exact) -> Self {
        ImageFiles {
            exact,
            images: exact.catalog().images(),
        }
    }

    /// Uploads one file (a slide, a picture, or a zip archive of them) into `set` as `name`,
    /// with the same rules as EXACT's upload: the actor needs upload rights on the set
    /// (checked before a byte is written); at most [`max_upload`] bytes; a zip archive is
    /// unpacked (its MIRAX/VMS index files become the images, other entries each one); a file
    /// the set already holds under the same name with the same bytes is answered as
    /// [`Outcome::Duplicate`]. Slides the engine reads are ready at once; pictures (PNG, JPEG,
    /// BMP, strip TIFF) are registered as converting and converted by a running
    /// [`crate::ConversionWorker`]. Nothing of a file that is refused is kept.
    ///
    /// Fails as a whole only when nothing was received (rights, limit, empty or broken
    /// stream); per-file refusals are [`Outcome::Failed`].
    pub async fn upload<S>(
        &self,
        actor: &Actor,
        set: ImageSetId,
        name: &str,
        stream: S,
    ) -> Result<Vec<Outcome>>
    where
        S: Stream<Item = Result<Bytes>> + Send,
    {
        let (exact, a) = (self.exact.clone(), actor.clone());
        blocking(move || exact.catalog().images().check_upload(&a, set)).await?;
        let got = self.receive(name, stream, max_upload()).await?;
        Ok(self.register(actor, set, ImageType::Default, got).await)
    }

    /// Receives a file into the blob store without registering it (the HTTP layer receives a
    /// multipart body's files before it knows their set). Hashes it as it is written; at most
    /// `limit` bytes ([`Error::TooLarge`] beyond); an empty file is `InvalidInput`. On failure
    /// nothing is kept. The stream's own errors are passed through unchanged.
    pub async fn receive<S>(&self, name: &str, stream: S, limit: u64) -> Result<Received>
    where
        S: Stream<Item = Result<Bytes>> + Send,
    {
        let blobs = self.exact.blobs();
        let name = safe_name(name);
        let (dir, marker) = pending::fresh_dir();
        let key = format!("{dir}/{}", blob_name(&name));
        pending::mark_pending(blobs, &marker).await?;
        match receive::write_stream(blobs, stream, limit, &name, &key).await {
            Ok((size, checksum)) => Ok(Received {
                key,
                name,
                size,
                checksum,
                marker,
            }),
            Err(e) => {
                pending::remove_dir(blobs, &dir).await;
                let _ = blobs.delete(&marker).await;
                Err(e)
            }
        }
    }

    /// Registers a received file as images of `set` (see [`ImageFiles::upload`]); each
    /// outcome says what became of one file. Rights are checked per image.
    pub async fn register(
        &self,
        actor: &Actor,
        set: ImageSetId,
        image_type: ImageType,
        got: Received,
    ) -> Vec<Outcome> {
        register::ingest(self.exact, actor, set, image_type, got).await
    }

    /// Registers received pictures (PNG, JPEG, BMP, WebP, TIFF; all of one size) as the frames
    /// of one image `name` of `set`, in the order given, each frame described by its file
    /// name (EXACT's multi-frame image: `frames` = the number of files). The image is
    /// converted into one multi-page pyramid by the conversion worker and served per plane
    /// (`frame` 1..=n), like a multi-page TIFF. Upload rights are checked; a file that is not
    /// a picture, a size that differs from the first, or a name the set holds refuses the
    /// whole upload and keeps nothing.
    pub async fn register_frames(
        &self,
        actor: &Actor,
        set: ImageSetId,
        name: &str,
        files: Vec<Received>,
    ) -> Outcome {
        register::ingest_frames(self.exact, actor, set, &safe_name(name), files).await
    }

    /// Removes a received file that will not be registered.
    pub async fn discard(&self, got: &Received) {
        pending::discard(self.exact.blobs(), got).await;
    }

    /// Registers a slide in place by URL (`s3://…`, `file:///…` or an absolute path; EXACT's
    /// FILE_LINK image type), without copying it. Superusers only (the server reads the URL
    /// with its own credentials). The slide is opened and checked; its size, mpp and
    /// objective power fill what `new` leaves at the defaults. `new.series` links one image
    /// series of the file (from 0; a several-series OME-TIFF is linked series by series).
    pub async fn link(&self, actor: &Actor, mut new: NewImage) -> Result<Image> {
        self.images.check_link(actor)?;
        let (exact, a, set) = (self.exact.clone(), actor.clone(), new.image_set);
        blocking(move || exact.catalog().images().check_upload(&a, set)).await?;
        new.image_type = ImageType::FileLink;
        register::probe_link(&mut new).await?;
        let (exact, actor) = (self.exact.clone(), actor.clone());
        blocking(move || exact.catalog().images().add(&actor, new)).await
    }

    /// The file of an image the actor may read, for download: the file as uploaded
    /// (`original`), or the file served (the converted pyramid, the linked slide; `NotReady`
    /// while converting). `NotFound` for images registered by metadata only.
    pub async fn file(&self, actor: &Actor, id: ImageId, original: bool) -> Result<ImageFile> {
        let (exact, a) = (self.exact.clone(), actor.clone());
        let image = blocking(move || exact.catalog().images().get(&a, id)).await?;
        download::image_file(self.exact, image, original).await
    }

    /// Every image of a set the actor may read, as one zip streamed while it is written
    /// (stored, not recompressed: slides are compressed already). `None` when the set holds
    /// no image with a file.
    pub async fn set_zip(&self, actor: &Actor, set: ImageSetId) -> Result<Option<SetZip>> {
        let (exact, a) = (self.exact.clone(), actor.clone());
        let images = blocking(move || exact.catalog().image_sets().images(&a, set)).await?;
        download::set_zip(self.exact, images, false).await
    }

    /// [`ImageFiles::set_zip`] with every slide's label and macro images taken out (see
    /// [`exact_tiles::Slide::deidentify`]; pictures have none). Refused before a byte is
    /// sent, naming the image, when a slide's format cannot be done (DICOM, the formats read
    /// through OpenSlide, multi-file slides).
    pub async fn set_zip_deidentified(
        &self,
        actor: &Actor,
        set: ImageSetId,
    ) -> Result<Option<SetZip>> {
        let (exact, a) = (self.exact.clone(), actor.clone());
        let images = blocking(move || exact.catalog().image_sets().images(&a, set)).await?;
        download::set_zip(self.exact, images, true).await
    }
}

/// Media files on annotations: everything of [`MediaFiles`] (by `Deref`) plus attaching and
/// reading their bytes. Got from [`Exact::media_files`].
pub struct MediaStore<'a> {
    exact: &'a Exact,
    media: MediaFiles<'a>,
}

impl<'a> std::ops::Deref for MediaStore<'a> {
    type Target = MediaFiles<'a>;
    fn deref(&self) -> &MediaFiles<'a> {
        &self.media
    }
}

impl<'a> MediaStore<'a> {
    pub(crate) fn new(exact: &'a Exact) -> Self {
        MediaStore {
            exact,
            media: exact.catalog().media_files(),
        }
    }

    /// Stores `bytes` and attaches them to `annotation` as `name`. Read rights on the
    /// annotation are checked before anything is stored and edit rights when the record is
    /// written; the bytes are removed again if the record is refused.
    pub async fn upload(
        &self,
        actor: &Actor,
        annotation: AnnotationId,
        name: &str,
        kind: MediaFileType,
        bytes: Bytes,
    ) -> Result<AnnotationMediaFile> {
        let name = safe_name(name);
        if bytes.is_empty() {
            return Err(Error::invalid("file", "the file is empty"));
        }
        let (e, a) = (self.exact.clone(), actor.clone());
        blocking(move || e.annotations().get(&a, annotation).map(|_| ())).await?;
        let key = format!("media/{}/{}-{name}", annotation.0, uuid::Uuid::new_v4());
        self.exact.blobs().put(&key, bytes).await?;
        let (e, a, k) = (self.exact.clone(), actor.clone(), key.clone());
        let made = blocking(move || e.media_files().attach(&a, annotation, &name, kind, &k)).await;
        if made.is_err() {
            let _ = self.exact.blobs().delete(&key).await;
        }
        made
    }

    /// A media file the actor may see, with its bytes.
    pub async fn read(
        &self,
        actor: &Actor,
        id: MediaFileId,
    ) -> Result<(AnnotationMediaFile, Bytes)> {
        let (e, a) = (self.exact.clone(), actor.clone());
        let m = blocking(move || e.catalog().media_files().get(&a, id)).await?;
        let bytes = self.exact.blobs().get(&m.file).await?;
        Ok((m, bytes))
    }
}

/// Runs synchronous store work on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::backend(
            "exact-store",
            std::io::Error::other(format!("store task failed: {e}")),
        ))
    })
}
