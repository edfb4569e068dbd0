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

use super::{Slide, planes, props};
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
        let layout = planes::ome_layout_parts(&doc, parts, &part_of, &name)?;
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
