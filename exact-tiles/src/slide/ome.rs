//! OME-TIFF series and files: every `Image` of the OME-XML is a series of its own (planes,
//! channels and SubIFD pyramid; series 0 is the slide a caller opens, the others reached with
//! [`Slide::series`]), and the planes may be spread over several files.
//!
//! Multi-file OME-TIFF (Bio-Formats' layout): the OME-XML of the opened file names, in each
//! `TiffData`, the file holding those planes (`UUID/@FileName`) and that file's UUID. The
//! named files are opened from beside the opened one (the same folder, or the same object
//! prefix of a store), each checked to carry the UUID the document expects, and read as one
//! [`Source::concat`] address space, as the instances of a DICOM series are; every plane is
//! then a (file, IFD) pair, and the slide, its planes and series read as a single-file
//! OME-TIFF's do. A named file that is missing, has another UUID, or has fewer IFDs than a
//! `TiffData` says is an error naming the file and why.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::planes::{PlaneLayout, PlaneNames};
use super::{Associated, Slide, props};
use crate::error::{Error, Result};
use crate::source::{PART_SHIFT, Source};
use crate::tiff::{self, Directory, Limits, ome};

/// Most files one multi-file OME-TIFF may name.
const MAX_FILES: usize = 4096;

/// Whether an ImageDescription is OME-XML.
pub(super) fn is_ome(desc: &str) -> bool {
    desc.contains("<OME") && desc.contains("http://www.openmicroscopy.org/Schemas/OME")
}

/// The OME-XML document of a TIFF whose planes are spread over several files, if `dirs` (the
/// opened file's) describe one; `None` for every other TIFF.
pub(super) fn multi_file_doc(dirs: &[Directory], name: &str) -> Result<Option<ome::OmeDoc>> {
    let Some(desc) = dirs.first().and_then(|d| d.description.as_deref()) else {
        return Ok(None);
    };
    if !is_ome(desc) {
        return Ok(None);
    }
    let doc = ome::parse_doc(desc, name)?;
    Ok(doc.is_multi_file().then_some(doc))
}

/// The last path segment of a path or URL.
fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// A file name as uploads store it (anything but `[A-Za-z0-9._-]` as `_`), tried when the
/// name as written is not found.
fn stored_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Slide {
    /// Open a multi-file OME-TIFF: `source` is the opened file, `dirs` its directories, `doc`
    /// its OME-XML (naming the other files).
    pub(super) async fn open_ome_files(
        source: Source,
        dirs: Vec<Directory>,
        doc: ome::OmeDoc,
    ) -> Result<Slide> {
        let name = source.name().to_string();
        let own = base_name(&name).to_string();
        let files: Vec<(String, Option<String>)> = doc
            .files()
            .into_iter()
            .map(|(f, u)| (f.to_string(), u.map(str::to_string)))
            .collect();
        if files.len() > MAX_FILES {
            return Err(Error::unsupported(format!(
                "{name}: a multi-file OME-TIFF of {} files; at most {MAX_FILES} are read",
                files.len()
            )));
        }
        let mut properties = BTreeMap::new();
        let first = dirs
            .first()
            .ok_or_else(|| Error::corrupt(&name, "no image directories"))?;
        props::tiff_properties(first, &mut properties);
        props::resolution_mpp(first, &mut properties);
        if let Some(desc) = &first.description {
            props::ome_mpp(desc, &mut properties);
        }
        let mut sources = vec![source.clone()];
        let mut parts = vec![dirs];
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (f, want) in &files {
            let want = want.as_deref();
            if f.is_empty() || f.contains(['/', '\\']) || f == "." || f == ".." {
                return Err(Error::corrupt(
                    &name,
                    format!("OME-XML names {f:?}, which is not a file name beside it"),
                ));
            }
            if *f == own {
                check_uuid(&name, want, doc.uuid.as_deref(), &name)?;
                index.insert(f.clone(), 0);
                continue;
            }
            let (sib, head) = open_sibling(&source, f).await?;
            let sib_dirs = tiff::read_directories(&sib, head, &Limits::default()).await?;
            let got = sib_dirs
                .first()
                .and_then(|d| d.description.as_deref())
                .and_then(ome::document_uuid);
            check_uuid(sib.name(), want, got.as_deref(), &name)?;
            let part = sources.len();
            let base = (part as u64) << PART_SHIFT;
            let shifted = sib_dirs
                .into_iter()
                .map(|mut d| {
                    d.offset += base;
                    for o in &mut d.offsets {
                        *o += base;
                    }
                    d
                })
                .collect();
            sources.push(sib);
            parts.push(shifted);
            index.insert(f.clone(), part);
        }
        let concat = Source::concat(name.clone(), sources)?;
        let part_of = |f: Option<&str>| match f {
            None => Some(0),
            Some(f) => index.get(f).copied(),
        };
        let layout = ome_layout_parts(&doc, parts, &part_of, &name)?;
        Self::from_ome(concat, properties, layout)
    }
}

/// Fails unless the file `file` carries the UUID `want` the document of `opened` expects
/// (nothing to check when the document gives none).
fn check_uuid(file: &str, want: Option<&str>, got: Option<&str>, opened: &str) -> Result<()> {
    match (want, got) {
        (None, _) => Ok(()),
        (Some(w), Some(g)) if w == g => Ok(()),
        (Some(w), g) => Err(Error::corrupt(
            file,
            format!(
                "the multi-file OME-TIFF {opened} expects this file to have UUID {w}, but it has {}",
                g.unwrap_or("none")
            ),
        )),
    }
}

/// The error for a named file that is not beside the opened one.
fn missing(file: &str, opened: &str, wheres: &str) -> Error {
    Error::not_found(format!(
        "{file:?}, a file of the multi-file OME-TIFF {opened} (looked for {wheres})"
    ))
}

/// Opens the file `file` beside `opened` (its folder, or its object prefix), with the first
/// bytes read when the store gave them.
async fn open_sibling(opened: &Source, file: &str) -> Result<(Source, Option<Bytes>)> {
    let name = opened.name();
    if let Some(path) = opened.local_path() {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        for candidate in [file.to_string(), stored_name(file)] {
            let p = dir.join(&candidate);
            if p.is_file() {
                return Ok((Source::from_file(&p)?, None));
            }
        }
        return Err(missing(file, name, &format!("in {}", dir.display())));
    }
    if let Some((store, path)) = opened.store_location() {
        let prefix: Vec<_> = path.parts().collect();
        let prefix = &prefix[..prefix.len().saturating_sub(1)];
        // The URL the slide was opened by, minus its last segment, names the siblings.
        let base = name.rsplit_once('/').map_or("", |(b, _)| b);
        for candidate in [file.to_string(), stored_name(file)] {
            let p: Path = prefix
                .iter()
                .cloned()
                .chain(std::iter::once(candidate.as_str().into()))
                .collect();
            match Source::from_store(store.clone(), p.clone()).await {
                Ok((src, head)) => {
                    return Ok((src.renamed(format!("{base}/{candidate}")), Some(head)));
                }
                Err(e) => {
                    if !is_missing(&store, &p).await {
                        return Err(e);
                    }
                }
            }
        }
        return Err(missing(file, name, &format!("beside it in {base}")));
    }
    Err(Error::unsupported(format!(
        "{name}: a multi-file OME-TIFF read from memory: its file {file:?} cannot be looked for"
    )))
}

/// True when `path` is not in `store` (a failed GET is told apart from a missing object).
async fn is_missing(store: &Arc<dyn ObjectStore>, path: &Path) -> bool {
    matches!(
        store.head(path).await,
        Err(object_store::Error::NotFound { .. })
    )
}

impl Slide {
    /// Image series in the file: 1, or an OME-TIFF's `Image` count. Series 0 is this slide.
    pub fn series_count(&self) -> usize {
        1 + self.series.len()
    }

    /// The name of each series (OME `Image/@Name`), where the file gives one; series 0 first.
    pub fn series_names(&self) -> Vec<Option<String>> {
        std::iter::once(self.series_name.clone())
            .chain(self.series.iter().map(|s| s.name.clone()))
            .collect()
    }

    /// Series `n` (from 0, as tifffile and Bio-Formats count) as a slide of its own, with its
    /// planes and channels: this slide for 0, [`Error::NotFound`] past the last, and
    /// [`Error::Corrupt`] (naming the series and why) for a series that cannot be read.
    pub fn series(self: &Arc<Self>, n: usize) -> Result<Arc<Slide>> {
        if n == 0 {
            return Ok(self.clone());
        }
        let s = self.series.get(n - 1).ok_or_else(|| {
            Error::not_found(format!(
                "series {n} of {} (it has {}; series count from 0)",
                self.name(),
                self.series_count()
            ))
        })?;
        s.slide
            .clone()
            .map_err(|e| Error::corrupt(self.name(), format!("series {n}: {e}")))
    }

    /// Series `n` of a slide just opened, by value (so its display and render budget can still
    /// be set): this slide for 0, errors as [`Slide::series`]. The other series are dropped.
    pub fn into_series(mut self, n: usize) -> Result<Slide> {
        if n == 0 {
            return Ok(self);
        }
        let count = self.series_count();
        if n >= count {
            return Err(Error::not_found(format!(
                "series {n} of {} (it has {count}; series count from 0)",
                self.name()
            )));
        }
        let s = self.series.swap_remove(n - 1);
        let slide = s
            .slide
            .map_err(|e| Error::corrupt(self.name(), format!("series {n}: {e}")))?;
        Arc::try_unwrap(slide).map_err(|_| {
            Error::invalid(
                "series",
                format!("series {n} of {} is in use elsewhere", self.name()),
            )
        })
    }

    /// The series that are images of their own (what an upload registers, one image each):
    /// every series but those named as a slide's label, macro or thumbnail picture (QuPath's
    /// and Bio-Formats' associated images), series 0 always first.
    pub fn image_series(&self) -> Vec<usize> {
        self.series_names()
            .iter()
            .enumerate()
            .filter(|(i, name)| *i == 0 || !name.as_deref().is_some_and(is_associated_name))
            .map(|(i, _)| i)
            .collect()
    }
}

/// A further image series of the file (OME-TIFF series 1, 2 …): a slide of its own, or why it
/// cannot be read (the file's first series still opens).
#[derive(Debug)]
pub(super) struct Series {
    pub name: Option<String>,
    pub slide: std::result::Result<Arc<Slide>, String>,
}

/// The planes of an OME-TIFF: its first series' Z × T × C planes with their SubIFD pyramids,
/// and the same for every further series (openable with [`Slide::series`]); further
/// single-plane series without a pyramid (label, macro) are also associated images named by
/// the series.
/// Returns every series (name, planes), series 0 first, and the associated images.
#[allow(clippy::type_complexity)]
pub(super) fn ome_layout(
    desc: &str,
    dirs: Vec<Directory>,
    name: &str,
) -> Result<(
    Vec<(Option<String>, PlaneLayout)>,
    BTreeMap<String, Associated>,
)> {
    let doc = ome::parse_doc(desc, name)?;
    ome_layout_parts(&doc, vec![dirs], &|_| Some(0), name)
}

/// [`ome_layout`] of planes in several files (a multi-file OME-TIFF): `parts` holds each
/// file's directories (their offsets already in the concatenated source's address space),
/// `part_of(file)` the part of a file `TiffData` names (`None`: the document's own file).
#[allow(clippy::type_complexity)]
pub(super) fn ome_layout_parts(
    doc: &ome::OmeDoc,
    parts: Vec<Vec<Directory>>,
    part_of: &dyn Fn(Option<&str>) -> Option<usize>,
    name: &str,
) -> Result<(
    Vec<(Option<String>, PlaneLayout)>,
    BTreeMap<String, Associated>,
)> {
    let parts: Vec<Vec<Arc<Directory>>> = parts
        .into_iter()
        .map(|dirs| dirs.into_iter().map(Arc::new).collect())
        .collect();
    let mains: Vec<Vec<&Arc<Directory>>> = parts
        .iter()
        .map(|dirs| dirs.iter().filter(|d| !d.is_subifd).collect())
        .collect();
    let levels_of = |(part, ifd): (usize, usize)| -> Vec<Arc<Directory>> {
        let main = &mains[part];
        let mut v = vec![main[ifd].clone()];
        v.extend(
            parts[part]
                .iter()
                .filter(|d| d.is_subifd && d.index == main[ifd].index)
                .cloned(),
        );
        v
    };
    let total: usize = mains.iter().map(Vec::len).sum();
    let ifds_in = |f: Option<&str>| part_of(f).and_then(|p| mains.get(p)).map(Vec::len);
    let mut start = 0;
    let mut all = Vec::new();
    let mut associated = BTreeMap::new();
    for (s, img) in doc.images.iter().enumerate() {
        let spp = img.channels.first().map_or(1, |c| c.samples_per_pixel);
        let map = img.plane_map_files(spp, start, total, &ifds_in, name)?;
        start += map.ifds.len();
        // Every plane's (part, IFD); `plane_map_files` checked both.
        let at: Vec<(usize, usize)> = map
            .ifds
            .iter()
            .zip(&map.files)
            .map(|(&i, f)| (part_of(f.as_deref()).unwrap_or(0), i))
            .collect();
        let first = mains[at[0].0][at[0].1];
        if (u64::from(first.width), u64::from(first.height)) != img.size_xy {
            let file = map.files[0].as_deref().unwrap_or(name);
            return Err(Error::corrupt(
                name,
                format!(
                    "OME-XML: series {s} is {}x{} but its IFD {} (of {file}) is {}x{}",
                    img.size_xy.0, img.size_xy.1, map.ifds[0], first.width, first.height
                ),
            ));
        }
        let c = map.channels as usize;
        let planes = at
            .chunks(c)
            .map(|plane| plane.iter().map(|&p| levels_of(p)).collect())
            .collect();
        let named = img.channels.len() == c;
        let (z, frames) = img.plane_names();
        let this = PlaneLayout {
            plane_names: PlaneNames { z, frames },
            depth: map.depth,
            frames: map.frames,
            planes,
            names: if named {
                img.channels.iter().map(|c| c.name.clone()).collect()
            } else {
                Vec::new()
            },
            colors: if named {
                img.channels.iter().map(|c| c.color).collect()
            } else {
                Vec::new()
            },
        };
        all.push((img.name.clone(), this));
        // A single-plane series without a pyramid (label, macro) is also an associated image.
        if s > 0 && at.len() == 1 && levels_of(at[0]).len() == 1 {
            let key = img.name.clone().unwrap_or_else(|| format!("series {s}"));
            associated.insert(key, Associated { dir: first.clone() });
        }
    }
    if all.is_empty() {
        return Err(Error::corrupt(name, "OME-XML: no series"));
    }
    Ok((all, associated))
}

/// Whether a series name is that of a slide's associated picture (label, macro, thumbnail),
/// as QuPath and Bio-Formats name them.
fn is_associated_name(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    let n = n.strip_suffix(" image").unwrap_or(&n);
    matches!(n, "label" | "macro" | "thumbnail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associated_series_names() {
        for n in ["label", "Macro", " macro image ", "thumbnail"] {
            assert!(is_associated_name(n), "{n}");
        }
        for n in ["overview", "cells", "label 2", "labels"] {
            assert!(!is_associated_name(n), "{n}");
        }
    }
}
