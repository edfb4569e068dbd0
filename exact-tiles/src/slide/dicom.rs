//! DICOM whole-slide series as slides: the VOLUME instances of one series are the pyramid
//! levels (finest first), LABEL, OVERVIEW and THUMBNAIL instances the associated images
//! `label`, `macro` and `thumbnail` (OpenSlide's names). Opening one instance finds the
//! series' other instances beside it (same folder or object prefix), as OpenSlide does; a
//! folder opens too. The instances are read as one [`Source::concat`] address space, each
//! level described as a tiled [`Directory`] whose tile offsets are its frames' byte ranges,
//! so tiles, regions, Deep Zoom and the checks work as for TIFF; JPEG frames are served
//! unchanged (byte-equal to the stored frame).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use super::{Associated, Slide};
use crate::dicom::{self, Encoding, Instance, WSI_SOP_CLASS};
use crate::error::{Error, Result};
use crate::source::{PART_SHIFT, Source};
use crate::tiff::{Directory, compression, photometric};

/// Most entries of a folder (or object prefix) looked at for a series' instances.
const MAX_SIBLINGS: usize = 4096;

/// Most tiles one level's grid may have (sparse levels store fewer frames than tiles).
const MAX_TILES: u64 = 4 * dicom::MAX_FRAMES as u64;

impl Slide {
    /// Open the DICOM series of the instance in `source` (its first bytes in `head`, if read),
    /// with the series' other instances found beside it.
    pub(crate) async fn open_dicom(source: Source, head: Option<Bytes>) -> Result<Slide> {
        let first = dicom::read_instance(&source, head).await?;
        if first.header.sop_class != WSI_SOP_CLASS {
            return Err(Error::unsupported(format!(
                "{}: DICOM SOP class {} is not a VL Whole Slide Microscopy Image ({WSI_SOP_CLASS})",
                source.name(),
                first.header.sop_class
            )));
        }
        let mut siblings = if let Some(path) = source.local_path() {
            match path.parent() {
                Some(dir) => local_instances(dir, Some(&path)).await?,
                None => Vec::new(),
            }
        } else if let Some((store, path)) = source.store_location() {
            store_instances(store, &path, source.name()).await?
        } else {
            Vec::new()
        };
        siblings.retain(|i| i.header.series == first.header.series);
        if let Some(other) = siblings
            .iter()
            .find(|i| i.header.study != first.header.study)
        {
            return Err(Error::corrupt(
                other.source.name(),
                format!(
                    "instance of series {} belongs to study {}, but {} says study {}",
                    first.header.series,
                    other.header.study,
                    source.name(),
                    first.header.study
                ),
            ));
        }
        let mut all = vec![first];
        all.extend(siblings);
        series_slide(all, source.name())
    }

    /// Open the DICOM series whose instances are the files of folder `dir` (one series only).
    pub async fn open_dicom_folder(dir: &std::path::Path) -> Result<Slide> {
        let name = dir.display().to_string();
        let all = local_instances(dir, None).await?;
        let Some(first) = all.first() else {
            return Err(Error::unsupported(format!(
                "{name}: the folder holds no DICOM whole-slide image instances"
            )));
        };
        if let Some(other) = all.iter().find(|i| i.header.series != first.header.series) {
            return Err(Error::invalid(
                "path",
                format!(
                    "{name}: the folder mixes DICOM series {} (study {}, {}) and {} (study {}, \
                     {}); open one instance file to read its series",
                    first.header.series,
                    first.header.study,
                    first.source.name(),
                    other.header.series,
                    other.header.study,
                    other.source.name()
                ),
            ));
        }
        series_slide(all, &name)
    }
}

/// The WSI instances among the files of `dir` (except `skip`), in name order. Files that
/// are not DICOM, or DICOM of another SOP class, are passed over; damaged ones are errors.
async fn local_instances(
    dir: &std::path::Path,
    skip: Option<&std::path::Path>,
) -> Result<Vec<Instance>> {
    let io = |source| Error::Io {
        source_name: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        if e.file_type().map_err(io)?.is_file() && Some(e.path().as_path()) != skip {
            paths.push(e.path());
        }
        if paths.len() > MAX_SIBLINGS {
            return Err(Error::unsupported(format!(
                "{}: more than {MAX_SIBLINGS} files beside the DICOM instance",
                dir.display()
            )));
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let Ok(src) = Source::from_file(&p) else {
            continue;
        };
        if src.size() < 132 || !dicom::is_dicom(&src.read(0..132).await?) {
            continue;
        }
        if let Some(i) = wsi_instance(&src, None).await? {
            out.push(i);
        }
    }
    Ok(out)
}

/// The WSI instances beside `path` in `store` (one LIST, then one GET per object for the
/// header, a second only for large headers).
async fn store_instances(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    name: &str,
) -> Result<Vec<Instance>> {
    let parts: Vec<_> = path.parts().collect();
    let prefix: Path = parts[..parts.len().saturating_sub(1)]
        .iter()
        .cloned()
        .collect();
    let listed = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| Error::backend(name, e))?;
    if listed.objects.len() > MAX_SIBLINGS {
        return Err(Error::unsupported(format!(
            "{name}: more than {MAX_SIBLINGS} objects beside the DICOM instance"
        )));
    }
    // The URL the slide was opened by, minus its last segment, names the siblings.
    let base = name.rsplit_once('/').map_or("", |(b, _)| b);
    let mut metas: Vec<_> = listed
        .objects
        .into_iter()
        .filter(|m| &m.location != path && m.size >= 132)
        .collect();
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let opened = futures::stream::iter(metas.into_iter().map(|m| {
        let store = store.clone();
        async move {
            let (src, head) = Source::from_store(store, m.location.clone()).await?;
            let file = m.location.filename().unwrap_or_default().to_string();
            let src = src.renamed(format!("{base}/{file}"));
            if !dicom::is_dicom(&head) {
                return Ok(None);
            }
            wsi_instance(&src, Some(head)).await
        }
    }))
    .buffered(8)
    .collect::<Vec<Result<Option<Instance>>>>()
    .await;
    let mut out = Vec::new();
    for r in opened {
        if let Some(i) = r? {
            out.push(i);
        }
    }
    Ok(out)
}

/// The instance in `src` if it is a whole-slide image instance.
async fn wsi_instance(src: &Source, head: Option<Bytes>) -> Result<Option<Instance>> {
    match dicom::read_instance(src, head).await {
        Ok(i) if i.header.sop_class == WSI_SOP_CLASS => Ok(Some(i)),
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The third Image Type value: VOLUME, LABEL, OVERVIEW, THUMBNAIL.
fn flavor(i: &Instance) -> &str {
    i.header.image_type.get(2).map_or("VOLUME", String::as_str)
}

/// The slide of the instances of one series.
fn series_slide(mut all: Vec<Instance>, name: &str) -> Result<Slide> {
    // Finest first; among equal sizes (other optical paths, focal planes) the first file.
    all.sort_by_key(|i| std::cmp::Reverse(u64::from(i.header.total_columns)));
    let mut parts: Vec<Source> = Vec::new();
    let mut levels: Vec<Arc<Directory>> = Vec::new();
    let mut associated = BTreeMap::new();
    let mut first_volume: Option<&Instance> = None;
    let mut icc_sizes = Vec::new();
    for inst in &all {
        let kind = flavor(inst);
        let assoc = match kind {
            "LABEL" => Some("label"),
            "OVERVIEW" => Some("macro"),
            "THUMBNAIL" => Some("thumbnail"),
            _ => None,
        };
        if let Some(a) = assoc {
            if associated.contains_key(a) {
                continue;
            }
            let dir = directory(inst, parts.len())?;
            parts.push(inst.source.clone());
            if let Some(icc) = inst.header.icc_size {
                icc_sizes.push((a, icc));
            }
            associated.insert(a.to_string(), Associated { dir: Arc::new(dir) });
            continue;
        }
        if levels.iter().any(|d| {
            u64::from(d.width) == u64::from(inst.header.total_columns)
                && d.height == inst.header.total_rows
        }) {
            continue;
        }
        let dir = directory(inst, parts.len())?;
        parts.push(inst.source.clone());
        levels.push(Arc::new(dir));
        first_volume.get_or_insert(inst);
    }
    let Some(base) = first_volume else {
        return Err(Error::corrupt(
            name,
            "the DICOM series has no VOLUME instance (only label or overview images)",
        ));
    };
    let mut properties = BTreeMap::new();
    let h = &base.header;
    for (a, icc) in icc_sizes {
        properties.insert(
            format!("openslide.associated.{a}.icc-size"),
            icc.to_string(),
        );
    }
    if let Some((row, col)) = h.pixel_spacing.filter(|(r, c)| *r > 0.0 && *c > 0.0) {
        properties.insert("openslide.mpp-x".into(), super::format_double(col * 1000.0));
        properties.insert("openslide.mpp-y".into(), super::format_double(row * 1000.0));
    }
    if let Some(p) = h.objective_power.filter(|p| *p > 0.0) {
        properties.insert("openslide.objective-power".into(), super::format_double(p));
    }
    for (k, v) in [
        ("dicom.StudyInstanceUID", &h.study),
        ("dicom.SeriesInstanceUID", &h.series),
        ("dicom.Manufacturer", &h.manufacturer),
        ("dicom.TransferSyntaxUID", &h.transfer_syntax),
    ] {
        if !v.is_empty() {
            properties.insert(k.to_string(), v.clone());
        }
    }
    let source = Source::concat(name, parts)?;
    Slide::assemble(source, "dicom", levels, properties, associated, false)
}

/// One instance as a tiled directory whose tile offsets address part `part` of the
/// concatenated source.
fn directory(inst: &Instance, part: usize) -> Result<Directory> {
    let h = &inst.header;
    let name = inst.source.name();
    let corrupt = |d: String| Error::corrupt(name, d);
    let unsupported = |d: String| Error::unsupported(format!("{name}: {d}"));
    if h.rows == 0 || h.columns == 0 {
        return Err(corrupt(format!("tile size {}x{}", h.columns, h.rows)));
    }
    if h.rows > 16384 || h.columns > 16384 {
        return Err(unsupported(format!(
            "tiles of {}x{} pixels (at most 16384 a side)",
            h.columns, h.rows
        )));
    }
    let (tw, th) = (h.columns, h.rows);
    let (w, hh) = (
        if h.total_columns == 0 {
            tw
        } else {
            h.total_columns
        },
        if h.total_rows == 0 { th } else { h.total_rows },
    );
    let across = u64::from(w.div_ceil(tw));
    let down = u64::from(hh.div_ceil(th));
    if across * down > MAX_TILES {
        return Err(unsupported(format!(
            "{w}x{hh} pixels in {tw}x{th} tiles make {} tiles (at most {MAX_TILES})",
            across * down
        )));
    }
    if h.bits_allocated != 8 {
        return Err(unsupported(format!("{} bits allocated", h.bits_allocated)));
    }
    let (samples, photo) = match (h.samples, h.photometric.as_str()) {
        (1, "MONOCHROME2") => (1, photometric::MIN_IS_BLACK),
        (3, "RGB" | "YBR_ICT" | "YBR_RCT") => (3, photometric::RGB),
        (3, "YBR_FULL_422" | "YBR_FULL") if inst.encoding != Encoding::Native => {
            (3, photometric::YCBCR)
        }
        (s, p) => {
            return Err(unsupported(format!(
                "{s} samples per pixel of photometric interpretation {p:?}"
            )));
        }
    };
    if samples > 1 && h.planar != 0 && inst.encoding == Encoding::Native {
        return Err(unsupported("planar (separate) colour planes".into()));
    }
    let compression = match inst.encoding {
        Encoding::Native => compression::NONE,
        Encoding::JpegBaseline | Encoding::JpegExtended => compression::JPEG,
        Encoding::Jpeg2000 => compression::JPEG2000,
    };
    let tiles = (across * down) as usize;
    let mut offsets = vec![0u64; tiles];
    let mut counts = vec![0u64; tiles];
    let base = (part as u64) << PART_SHIFT;
    let put = |offsets: &mut [u64], counts: &mut [u64], t: usize, f: usize| {
        let r = &inst.frames[f];
        offsets[t] = base + r.start;
        counts[t] = r.end - r.start;
    };
    let sparse = h.dimension_organization == "TILED_SPARSE"
        || (h.dimension_organization != "TILED_FULL" && !h.positions.is_empty() && tiles > 1);
    if sparse {
        if h.positions.len() != inst.frames.len() {
            return Err(corrupt(format!(
                "TILED_SPARSE with {} per-frame positions for {} frames",
                h.positions.len(),
                inst.frames.len()
            )));
        }
        let first = h.positions[0];
        for (f, p) in h.positions.iter().enumerate() {
            if p.z != first.z || p.path != first.path {
                continue; // another focal plane or optical path
            }
            let (c, r) = (p.column - 1, p.row - 1);
            if c < 0
                || r < 0
                || c % i64::from(tw) != 0
                || r % i64::from(th) != 0
                || c as u64 / u64::from(tw) >= across
                || r as u64 / u64::from(th) >= down
            {
                return Err(corrupt(format!(
                    "frame {} is placed at column {}, row {}: not on the {tw}x{th} tile grid \
                     of a {w}x{hh} image",
                    f + 1,
                    p.column,
                    p.row
                )));
            }
            let t = (r as u64 / u64::from(th) * across + c as u64 / u64::from(tw)) as usize;
            if counts[t] == 0 {
                put(&mut offsets, &mut counts, t, f);
            }
        }
    } else {
        if (inst.frames.len() as u64) < across * down {
            return Err(corrupt(format!(
                "TILED_FULL {w}x{hh} image in {tw}x{th} tiles needs {} frames, has {}",
                across * down,
                inst.frames.len()
            )));
        }
        for t in 0..tiles {
            put(&mut offsets, &mut counts, t, t);
        }
    }
    Ok(Directory {
        width: w,
        height: hh,
        tile_size: Some((tw, th)),
        rows_per_strip: th,
        compression,
        photometric: photo,
        samples_per_pixel: samples,
        bits_per_sample: 8,
        planar_config: 1,
        predictor: 1,
        sample_format: 1,
        subfile_type: 0,
        ycbcr_subsampling: (2, 2),
        icc_size: h.icc_size,
        offsets,
        byte_counts: counts,
        ..Directory::default()
    })
}
