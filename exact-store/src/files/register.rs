//! Registering received files as images: archives unpacked, each file probed (a slide the
//! engine reads is ready at once, a picture it can convert is queued), duplicates found under
//! a per-(set, name) lock, and what is refused removed again.

use super::pending::remove_dir;
use super::receive::local_copy;
use super::unzip::unzip;
use super::{Outcome, Received, blocking, max_upload, safe_name};
use crate::{Blobs, Exact};
use bytes::Bytes;
use exact_core::catalog::NewImage;
use exact_core::model::{FrameDescription, FrameType, Image, ImageType, PixelState};
use exact_core::{Actor, Error, ImageSetId, Result};
use exact_tiles::Slide;

async fn remove_blob(blobs: &Blobs, key: &str) {
    let _ = blobs.delete(key).await;
}

fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

async fn head_of(blobs: &Blobs, key: &str, size: u64) -> Result<Bytes> {
    blobs.get_range(key, 0..size.min(16)).await
}

fn failed(got: &Received, error: Error) -> Outcome {
    if matches!(error.kind(), exact_core::ErrorKind::Backend) {
        tracing::error!(file = %got.name, error = %error, "upload failed");
    }
    Outcome::Failed {
        name: got.name.clone(),
        size: got.size,
        error,
    }
}

/// Registers what was received as images of `set`: an archive's slides or pictures, or the
/// file itself. Nothing of an upload none of whose files became an image stays.
pub(super) async fn ingest(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Vec<Outcome> {
    let blobs = exact.blobs();
    let (dir, marker) = (got.dir().to_owned(), got.marker.clone());
    let out = ingest_files(exact, actor, set, image_type, got).await;
    if !out.iter().any(|o| matches!(o, Outcome::Created(_))) {
        remove_dir(blobs, &dir).await;
    }
    let _ = blobs.delete(&marker).await;
    out
}

async fn ingest_files(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Vec<Outcome> {
    let blobs = exact.blobs();
    let head = match head_of(blobs, &got.key, got.size).await {
        Ok(h) => h,
        Err(e) => return vec![failed(&got, e)],
    };
    if !is_zip(&head) {
        return register(exact, actor, set, image_type, got).await;
    }
    let entries = match unzip(blobs, &got, max_upload()).await {
        Ok(e) => e,
        Err(e) => return vec![failed(&got, e)],
    };
    // The archive itself is not kept: its entries are.
    remove_blob(blobs, &got.key).await;
    // Multi-file slide formats: only the index file is an image, its data files stay beside it.
    let index: Vec<&Received> = entries
        .iter()
        .filter(|e| {
            let n = e.name.to_ascii_lowercase();
            n.ends_with(".mrxs") || n.ends_with(".vms")
        })
        .collect();
    // A DICOM series is one image: the first instance of each folder opens its series, the
    // other instances stay beside it.
    let mut dicom: Vec<&Received> = entries
        .iter()
        .filter(|e| e.name.to_ascii_lowercase().ends_with(".dcm"))
        .collect();
    dicom.sort_by(|a, b| a.name.cmp(&b.name));
    let folder = |e: &Received| e.name.rsplit_once('/').map(|(d, _)| d.to_string());
    dicom.dedup_by(|a, b| folder(a) == folder(b));
    let chosen: Vec<Received> = if index.is_empty() && !dicom.is_empty() {
        dicom.into_iter().cloned().collect()
    } else if index.is_empty() {
        without_companions(blobs, entries).await
    } else {
        index.into_iter().cloned().collect()
    };
    if chosen.is_empty() {
        return vec![failed(
            &got,
            Error::invalid("file", "the zip archive holds no files"),
        )];
    }
    let mut out = Vec::with_capacity(chosen.len());
    for e in chosen {
        out.extend(register(exact, actor, set, image_type, e).await);
    }
    out
}

/// Whether an archive entry is named as an OME-TIFF is.
pub(super) fn is_ome_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf"]
        .iter()
        .any(|s| n.ends_with(s))
}

/// The entries of an archive less the other files of the multi-file OME-TIFFs among them: a
/// multi-file OME-TIFF is one image, opened by the first of its files (by name), its other
/// files staying beside it.
async fn without_companions(blobs: &Blobs, mut entries: Vec<Received>) -> Vec<Received> {
    let mut order: Vec<usize> = (0..entries.len())
        .filter(|&i| is_ome_name(&entries[i].name))
        .collect();
    if order.len() < 2 {
        return entries;
    }
    order.sort_by(|&a, &b| entries[a].key.cmp(&entries[b].key));
    let mut covered = std::collections::HashSet::new();
    for i in order {
        let e = &entries[i];
        if covered.contains(&e.key) {
            continue;
        }
        let Ok(slide) = open_blob_slide(blobs, &e.key).await else {
            continue;
        };
        let dir = e.key.rsplit_once('/').map_or("", |(d, _)| d);
        for f in slide.files().iter().skip(1) {
            let file = f.rsplit(['/', '\\']).next().unwrap_or(f);
            let key = format!("{dir}/{file}");
            if key != e.key {
                covered.insert(key);
            }
        }
    }
    entries.retain(|e| !covered.contains(&e.key));
    entries
}

/// What a slide says about itself.
struct Probed {
    width: u64,
    height: u64,
    mpp: f64,
    objective_power: f64,
    /// Z planes, frames and (composited, else RGB's 3) channels.
    planes: (u32, u32, u32),
    /// The names the file gives its z planes and frames.
    descriptions: Vec<FrameDescription>,
}

/// The plane names a slide gives, as EXACT's frame descriptions (z planes as `ZStack`, frames
/// as `TimeSeries`, each counted from 0), cut to what an image keeps.
pub(crate) fn frame_descriptions(names: &exact_tiles::PlaneNames) -> Vec<FrameDescription> {
    use exact_core::catalog::{MAX_FRAME_DESCRIPTION_CHARS, MAX_FRAME_DESCRIPTIONS};
    let axis = |names: &[Option<String>], frame_type: FrameType| {
        names
            .iter()
            .enumerate()
            .filter_map(move |(i, n)| {
                let text: String = n
                    .as_deref()?
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_FRAME_DESCRIPTION_CHARS)
                    .collect();
                Some(FrameDescription {
                    frame_id: u32::try_from(i).ok()?,
                    frame_type,
                    description: text,
                })
            })
            .collect::<Vec<_>>()
    };
    let mut out = axis(&names.z, FrameType::ZStack);
    out.extend(axis(&names.frames, FrameType::TimeSeries));
    out.truncate(MAX_FRAME_DESCRIPTIONS);
    out
}

pub(super) async fn open_blob_slide(blobs: &Blobs, key: &str) -> exact_tiles::Result<Slide> {
    match blobs.object_url(key) {
        Ok(Some(url)) => Slide::open(&url).await,
        _ => {
            let path = blobs
                .path(key)
                .map_err(|e| exact_tiles::Error::invalid("key", e.to_string()))?;
            Slide::open_store(blobs.object_store().0.clone(), path).await
        }
    }
}

/// Size, mpp and objective power of an open slide.
fn describe(slide: &Slide) -> Probed {
    let (width, height) = slide.dimensions();
    let prop = |k: &str| {
        slide
            .properties()
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let mpp = match (prop("openslide.mpp-x"), prop("openslide.mpp-y")) {
        (Some(x), Some(y)) => (x + y) / 2.0,
        (Some(x), None) | (None, Some(x)) => x,
        _ => 0.0,
    };
    Probed {
        width,
        height,
        mpp,
        objective_power: prop("openslide.objective-power").unwrap_or(1.0),
        planes: (
            slide.depth(),
            slide.frames(),
            match slide.channels().len() {
                0 => 3,
                n => n as u32,
            },
        ),
        descriptions: frame_descriptions(&slide.plane_names()),
    }
}

/// Opens a linked slide (its image series `new.series`; one beyond the file is `InvalidInput`
/// naming the count), checks it as an upload is checked, and fills what `new` leaves at the
/// defaults (size, mpp, objective power, a name from the URL and the series).
pub(super) async fn probe_link(new: &mut NewImage) -> Result<()> {
    let url = new.filename.clone();
    let file = Slide::open(&url)
        .await
        .map_err(|e| crate::pixels::slide_error(&url, e))?;
    // One series of the file (`series`, from 0): named after it unless a name was given.
    let n = new.series as usize;
    let series_name = file.series_names().get(n).cloned().flatten();
    let slide = file.into_series(n).map_err(|e| match e.kind() {
        exact_tiles::ErrorKind::NotFound => Error::invalid("series", e.to_string()),
        _ => crate::pixels::slide_error(&url, e),
    })?;
    // The same checks as an upload: a linked slide that is damaged is refused, not served.
    slide.check().map_err(|e| match e {
        exact_tiles::Error::Corrupt { detail, .. } => {
            Error::invalid("filename", format!("the slide is damaged: {detail}"))
        }
        e => crate::pixels::slide_error(&url, e),
    })?;
    let p = describe(&slide);
    if new.width <= 1 && new.height <= 1 {
        new.width = p.width;
        new.height = p.height;
    }
    if new.mpp == 0.0 {
        new.mpp = p.mpp;
    }
    if new.objective_power == 1.0 {
        new.objective_power = p.objective_power;
    }
    if (new.depth, new.frames) == (1, 1) {
        (new.depth, new.frames, new.channels) = p.planes;
        if new.frame_descriptions.is_empty() {
            new.frame_descriptions = p.descriptions;
        }
    }
    if new.name == new.filename || new.name.is_empty() {
        new.name = safe_name(&new.filename);
        if n > 0 {
            new.name = series_image_name(&new.name, series_name.as_deref(), n);
        }
    }
    Ok(())
}

/// The answer for a file whose name the set already holds: the existing image when the bytes
/// are the same (a duplicate), else `AlreadyExists`.
async fn existing(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    got: &Received,
) -> Result<Option<Outcome>> {
    let (e, a, n) = (exact.clone(), actor.clone(), got.name.clone());
    let found = blocking(move || e.catalog().images().by_name(&a, set, &n)).await?;
    Ok(found.map(|existing| {
        if existing.checksum == got.checksum {
            return Outcome::Duplicate(existing);
        }
        failed(
            got,
            Error::exists(format!(
                "set {} already holds a different image named {:?} (image {})",
                set.0, existing.name, existing.id.0
            )),
        )
    }))
}

/// Registers one received file as an image: a slide the engine opens is ready at once (a
/// file of several image series gives one image per series, see [`series_images`]); a
/// picture it can convert is registered as converting and queued for the conversion worker;
/// anything else is refused and its blob removed.
async fn register(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
) -> Vec<Outcome> {
    let mut series = Vec::new();
    let first = register_first(exact, actor, set, image_type, got, &mut series).await;
    let mut out = vec![first];
    if matches!(out[0], Outcome::Created(_)) {
        for (name, new) in series {
            out.push(register_series(exact, actor, set, name, new).await);
        }
    }
    out
}

/// The image of series `n` of a file named `file`, as Bio-Formats and QuPath name it:
/// `file - <series name>`, or `file #<n + 1>` (their 1-based series number) when the series
/// has no name.
pub(crate) fn series_image_name(file: &str, series_name: Option<&str>, n: usize) -> String {
    let named = series_name
        .map(|s| s.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|s| !s.trim().is_empty());
    let name = match named {
        Some(s) => format!("{file} - {}", s.trim()),
        None => format!("{file} #{}", n + 1),
    };
    name.chars().take(256).collect()
}

/// The further image series of a slide (OME-TIFF series 1, 2 …, not its label or macro), each
/// as an image like `first` (same file, checksum and set) of its own size and planes: the
/// image's name, and the image or why the series cannot be served.
fn series_images(slide: Slide, first: &NewImage) -> Vec<(String, Result<NewImage>)> {
    let names = slide.series_names();
    let wanted = slide.image_series();
    let slide = std::sync::Arc::new(slide);
    wanted
        .into_iter()
        .filter(|&n| n > 0)
        .map(|n| {
            let name = series_image_name(&first.name, names.get(n).and_then(|s| s.as_deref()), n);
            let image = slide
                .series(n)
                .and_then(|s| s.check().map(|()| s))
                .map(|s| {
                    let p = describe(&s);
                    let mut new = first.clone();
                    new.name = name.clone();
                    new.series = n as u32;
                    new.width = p.width;
                    new.height = p.height;
                    new.mpp = p.mpp;
                    new.objective_power = p.objective_power;
                    (new.depth, new.frames, new.channels) = p.planes;
                    new.frame_descriptions = p.descriptions;
                    new
                })
                .map_err(|e| {
                    Error::invalid("file", format!("series {n} is not a readable slide: {e}"))
                });
            (name, image)
        })
        .collect()
}

/// Registers the image of one further series of an upload whose first image was registered:
/// the set's image of that name and file is answered as the duplicate; a different image
/// under that name refuses this series (the other series stay).
async fn register_series(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    name: String,
    new: Result<NewImage>,
) -> Outcome {
    let fail = |error: Error| Outcome::Failed {
        name: name.clone(),
        size: 0,
        error,
    };
    let new = match new {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let _registering = exact.registrations().lock(set, &name).await;
    let (e, a, n) = (exact.clone(), actor.clone(), name.clone());
    match blocking(move || e.catalog().images().by_name(&a, set, &n)).await {
        Ok(None) => {}
        Ok(Some(existing)) if existing.checksum == new.checksum => {
            return Outcome::Duplicate(existing);
        }
        Ok(Some(existing)) => {
            return fail(Error::exists(format!(
                "set {} already holds a different image named {:?} (image {})",
                set.0, existing.name, existing.id.0
            )));
        }
        Err(e) => return fail(e),
    }
    let (e, a) = (exact.clone(), actor.clone());
    match blocking(move || e.catalog().images().add(&a, new)).await {
        Ok(image) => Outcome::Created(image),
        Err(e) => fail(e),
    }
}

/// [`register`] of the file itself (series 0); `series` receives the images of its further
/// series, to be registered once this one is.
async fn register_first(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    image_type: ImageType,
    got: Received,
    series: &mut Vec<(String, Result<NewImage>)>,
) -> Outcome {
    let blobs = exact.blobs();
    let _registering = exact.registrations().lock(set, &got.name).await;
    match existing(exact, actor, set, &got).await {
        Ok(None) => {}
        Ok(Some(outcome)) => {
            remove_blob(blobs, &got.key).await;
            return outcome;
        }
        Err(e) => {
            remove_blob(blobs, &got.key).await;
            return failed(&got, e);
        }
    }
    let mut new = NewImage::new(set, got.name.clone(), 1, 1);
    new.filename = got.key.clone();
    new.original = got.key.clone();
    new.checksum = got.checksum.clone();
    new.image_type = if image_type == ImageType::FileLink {
        ImageType::Default
    } else {
        image_type
    };
    // A slide is checked before it is accepted (`Slide::check`: tile bytes inside the file,
    // declared sizes plausible for the bytes present, a readable sample layout). A damaged or
    // hostile file is refused with the reason and nothing is kept, as EXACT answers an upload
    // it cannot open: a `failed` image left in the set would only be a dead entry its users
    // must find and delete. Files the engine does not serve may still be pictures to convert.
    let probed = match open_blob_slide(blobs, &got.key).await {
        Ok(slide) => slide.check().map(|()| slide),
        Err(e) => Err(e),
    };
    // A file of a multi-file slide whose other files are not beside it: its own pixels are one
    // plane of many, so it is refused (naming what is missing) rather than converted alone.
    if let Err(e) = &probed
        && e.kind() == exact_tiles::ErrorKind::NotFound
    {
        let e = e.to_string();
        remove_blob(blobs, &got.key).await;
        return failed(
            &got,
            Error::invalid("file", format!("not a readable slide: {e}")),
        );
    }
    if let Err(exact_tiles::Error::Corrupt { detail, .. }) = &probed {
        remove_blob(blobs, &got.key).await;
        return failed(
            &got,
            Error::invalid(
                "file",
                format!("not a readable slide: the file is damaged: {detail}"),
            ),
        );
    }
    let convert = match probed {
        Ok(slide) => {
            let p = describe(&slide);
            new.width = p.width;
            new.height = p.height;
            new.mpp = p.mpp;
            new.objective_power = p.objective_power;
            (new.depth, new.frames, new.channels) = p.planes;
            new.frame_descriptions = p.descriptions;
            if slide.series_count() > 1 {
                *series = series_images(slide, &new);
            }
            false
        }
        Err(slide_err) => {
            let dims = match local_copy(blobs, &got.key).await {
                Ok((path, guard)) => {
                    let r = tokio::task::spawn_blocking(move || {
                        let r = exact_tiles::convert::dimensions(&path);
                        drop(guard);
                        r
                    })
                    .await;
                    match r {
                        Ok(Ok(d)) => Ok(d),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            match dims {
                Ok((_, w, h)) => {
                    new.width = u64::from(w);
                    new.height = u64::from(h);
                    new.state = PixelState::Converting;
                    new.state_detail = "queued for conversion into a pyramid".into();
                    true
                }
                Err(picture_err) => {
                    remove_blob(blobs, &got.key).await;
                    return failed(
                        &got,
                        Error::invalid(
                            "file",
                            format!(
                                "not an image exact-rs can read: as a slide: {slide_err}; as a picture: {picture_err}"
                            ),
                        ),
                    );
                }
            }
        }
    };
    // From here on the image names this directory: a crash must not sweep it away.
    let _ = blobs.delete(&got.marker).await;
    let (e, a) = (exact.clone(), actor.clone());
    let image: Image = match blocking(move || e.catalog().images().add(&a, new)).await {
        Ok(i) => i,
        Err(e) => {
            remove_blob(blobs, &got.key).await;
            return failed(&got, e);
        }
    };
    if convert {
        exact.conversions().queue(image.clone());
    }
    Outcome::Created(image)
}

/// Registers received pictures as the frames of one image `name` (EXACT's multi-frame image,
/// `frames` = the number of files, each frame described by its file name): checked as
/// pictures of one size now, converted together into one multi-page pyramid by the
/// conversion worker. Refused as a whole (nothing kept) when one file is not a picture, the
/// sizes differ, or the set holds `name` already.
pub(super) async fn ingest_frames(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    name: &str,
    files: Vec<Received>,
) -> Outcome {
    let blobs = exact.blobs();
    let size: u64 = files.iter().map(|f| f.size).sum();
    let fail = |error: Error| Outcome::Failed {
        name: name.to_owned(),
        size,
        error,
    };
    let out = frames_checked(exact, actor, set, name, &files).await;
    let out = match out {
        Ok(new) => {
            let (e, a) = (exact.clone(), actor.clone());
            for f in &files {
                let _ = blobs.delete(&f.marker).await;
            }
            match blocking(move || e.catalog().images().add(&a, new)).await {
                Ok(image) => {
                    exact.conversions().queue(image.clone());
                    return Outcome::Created(image);
                }
                Err(e) => fail(e),
            }
        }
        Err(e) => fail(e),
    };
    for f in &files {
        remove_dir(blobs, f.dir()).await;
        let _ = blobs.delete(&f.marker).await;
    }
    out
}

async fn frames_checked(
    exact: &Exact,
    actor: &Actor,
    set: ImageSetId,
    name: &str,
    files: &[Received],
) -> Result<NewImage> {
    use exact_core::catalog::MAX_FRAME_FILES;
    if files.is_empty() {
        return Err(Error::invalid("file", "no files to make frames of"));
    }
    if files.len() > MAX_FRAME_FILES {
        return Err(Error::invalid(
            "file",
            format!("at most {MAX_FRAME_FILES} files make the frames of one image"),
        ));
    }
    let _registering = exact.registrations().lock(set, name).await;
    let (e, a, n) = (exact.clone(), actor.clone(), name.to_owned());
    if let Some(existing) = blocking(move || e.catalog().images().by_name(&a, set, &n)).await? {
        return Err(Error::exists(format!(
            "set {} already holds an image named {:?} (image {})",
            set.0, existing.name, existing.id.0
        )));
    }
    let mut size = None;
    let mut descriptions = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let (path, guard) = local_copy(exact.blobs(), &f.key).await?;
        let dims = tokio::task::spawn_blocking(move || {
            let r = exact_tiles::convert::dimensions(&path);
            drop(guard);
            r
        })
        .await
        .map_err(|e| Error::invalid("file", e.to_string()))?
        .map_err(|e| Error::invalid("file", format!("{}: not a picture: {e}", f.name)))?;
        let (w, h) = (dims.1, dims.2);
        match size {
            None => size = Some((w, h)),
            Some((w0, h0)) if (w0, h0) != (w, h) => {
                return Err(Error::invalid(
                    "file",
                    format!(
                        "{} is {w}x{h}, but the first frame ({}) is {w0}x{h0}: the frames of one image share their size",
                        f.name, files[0].name
                    ),
                ));
            }
            Some(_) => {}
        }
        descriptions.push(FrameDescription {
            frame_id: i as u32,
            frame_type: FrameType::TimeSeries,
            description: f
                .name
                .chars()
                .take(exact_core::catalog::MAX_FRAME_DESCRIPTION_CHARS)
                .collect(),
        });
    }
    let (w, h) = size.unwrap_or((1, 1));
    let mut new = NewImage::new(set, name.to_owned(), u64::from(w), u64::from(h));
    new.filename = files[0].key.clone();
    new.original = files[0].key.clone();
    new.frame_sources = files[1..].iter().map(|f| f.key.clone()).collect();
    new.checksum = files[0].checksum.clone();
    new.frames = files.len() as u32;
    new.frame_descriptions = descriptions;
    new.state = PixelState::Converting;
    new.state_detail = format!(
        "queued for conversion of {} files into the frames of one pyramid",
        files.len()
    );
    Ok(new)
}
