//! OME-XML, as an OME-TIFF carries it in its first ImageDescription: the series (`Image`),
//! their `Pixels` sizes and `DimensionOrder`, `Channel` names and colours, and the `TiffData`
//! elements that say which IFD holds which plane.
//!
//! A small tag scanner rather than a full XML parser: the OME schema needs only start tags and
//! their attributes, the scan is linear in the description (itself capped by the IFD reader),
//! and every number is checked before anything is sized from it.

use crate::error::{Error, Result};

/// One `Channel` of a series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OmeChannel {
    /// `Name`.
    pub name: Option<String>,
    /// `Color` (OME's signed RGBA integer) as RGB.
    pub color: Option<[u8; 3]>,
    /// `SamplesPerPixel` (3 for an interleaved RGB channel).
    pub samples_per_pixel: u32,
}

/// One `TiffData` element: `PlaneCount` planes from (`FirstZ`, `FirstC`, `FirstT`) on are in
/// consecutive IFDs from `IFD` on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TiffData {
    /// `IFD`.
    pub ifd: Option<u64>,
    /// `FirstZ`, `FirstC`, `FirstT`.
    pub first: [u64; 3],
    /// `PlaneCount`.
    pub plane_count: Option<u64>,
    /// `UUID/@FileName`: the file holding these planes, where the document names one.
    pub file: Option<String>,
    /// The `UUID` element's value: the UUID of the file holding these planes (its OME root's
    /// `UUID`), where the document gives one.
    pub uuid: Option<String>,
}

/// A whole OME-XML document: its series and its own `UUID` (the root `OME` element's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OmeDoc {
    /// The series, in order.
    pub images: Vec<OmeImage>,
    /// `OME/@UUID`: the UUID of the file carrying the document.
    pub uuid: Option<String>,
}

impl OmeDoc {
    /// The files the document's `TiffData` name (`UUID/@FileName`), each once, in order, with
    /// the UUID the document gives each (`UUID` element's value), if any.
    pub fn files(&self) -> Vec<(&str, Option<&str>)> {
        let mut out: Vec<(&str, Option<&str>)> = Vec::new();
        let mut at = std::collections::HashMap::new();
        for td in self.images.iter().flat_map(|i| &i.tiff_data) {
            let Some(f) = td.file.as_deref() else {
                continue;
            };
            match at.get(f) {
                Some(&i) => {
                    let slot: &mut (&str, Option<&str>) = &mut out[i];
                    if slot.1.is_none() {
                        slot.1 = td.uuid.as_deref();
                    }
                }
                None => {
                    at.insert(f, out.len());
                    out.push((f, td.uuid.as_deref()));
                }
            }
        }
        out
    }

    /// True when the planes are spread over two or more files (Bio-Formats' multi-file
    /// OME-TIFF): the IFD numbers of `TiffData` are then those of the named files.
    pub fn is_multi_file(&self) -> bool {
        self.files().len() > 1
    }
}

/// One series (`Image` element).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OmeImage {
    /// `Image/@Name`.
    pub name: Option<String>,
    /// `SizeX`, `SizeY`.
    pub size_xy: (u64, u64),
    /// `SizeZ`, `SizeC`, `SizeT`.
    pub size_zct: [u64; 3],
    /// `DimensionOrder` (`XYZCT`, `XYCZT` …).
    pub dimension_order: String,
    /// The channels, in order.
    pub channels: Vec<OmeChannel>,
    /// The plane-to-IFD map (empty: planes in consecutive IFDs).
    pub tiff_data: Vec<TiffData>,
    /// Where the planes were taken (`Plane` elements), in document order.
    pub planes: Vec<OmePlane>,
}

/// One `Plane` element: which plane (`TheZ`, `TheC`, `TheT`, from 0) and where it was taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OmePlane {
    /// `TheZ`, `TheC`, `TheT`.
    pub the_zct: [u64; 3],
    /// `PositionZ` with its unit (`PositionZUnit`, OME's default µm).
    pub position_z: Option<(String, String)>,
    /// `DeltaT` with its unit (`DeltaTUnit`, OME's default s).
    pub delta_t: Option<(String, String)>,
}

impl OmeImage {
    /// A name for each z plane and each time point, from the `Plane` elements of channel 0
    /// (`z=1.5 µm`, `t=30 s`); `None` where the document says nothing.
    pub fn plane_names(&self) -> (Vec<Option<String>>, Vec<Option<String>>) {
        let [z, _, t] = self.size_zct;
        // Sizes are checked against the IFD count before this is called; cap anyway.
        let mut zs = vec![None; z.min(MAX_DIM) as usize];
        let mut ts = vec![None; t.min(MAX_DIM) as usize];
        for p in &self.planes {
            let [pz, pc, pt] = p.the_zct;
            if pc != 0 {
                continue;
            }
            if let (Some((v, unit)), Some(slot)) = (&p.position_z, zs.get_mut(pz as usize))
                && slot.is_none()
            {
                *slot = Some(format!("z={v} {unit}"));
            }
            if let (Some((v, unit)), Some(slot)) = (&p.delta_t, ts.get_mut(pt as usize))
                && slot.is_none()
            {
                *slot = Some(format!("t={v} {unit}"));
            }
        }
        (zs, ts)
    }
}

/// The planes of one series: `depth` × `frames` × `channels` IFDs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneMap {
    /// Z planes.
    pub depth: u32,
    /// Time points.
    pub frames: u32,
    /// Channels stored in separate IFDs (1 for interleaved RGB).
    pub channels: u32,
    /// Main-chain IFD index of each plane, at `((t * depth) + z) * channels + c` (0-based).
    pub ifds: Vec<usize>,
    /// The file of each plane (`TiffData`'s `UUID/@FileName`; `None`: the file carrying the
    /// document), beside `ifds`.
    pub files: Vec<Option<String>>,
}

/// Sizes above this are refused before anything is allocated from them.
const MAX_DIM: u64 = 1 << 20;

/// Parse the series of an OME-XML document; `name` names the file in errors.
pub fn parse(xml: &str, name: &str) -> Result<Vec<OmeImage>> {
    parse_doc(xml, name).map(|d| d.images)
}

/// Parse an OME-XML document: its series and its own UUID; `name` names the file in errors.
pub fn parse_doc(xml: &str, name: &str) -> Result<OmeDoc> {
    let bad = |what: String| Error::corrupt(name, format!("OME-XML: {what}"));
    let mut images: Vec<OmeImage> = Vec::new();
    let mut uuid = None;
    let mut in_image = false;
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix("!--") {
            rest = r.find("-->").map_or("", |j| &r[j + 3..]);
            continue;
        }
        if rest.starts_with('?') || rest.starts_with('!') {
            rest = rest.find('>').map_or("", |j| &rest[j + 1..]);
            continue;
        }
        let closing = rest.starts_with('/');
        let body_start = usize::from(closing);
        let end = tag_end(rest).ok_or_else(|| bad("unterminated tag".into()))?;
        let tag = &rest[body_start..end];
        rest = &rest[end + 1..];
        let (tag_name, attrs) = tag
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((tag.trim_end_matches('/'), ""));
        let local = tag_name
            .rsplit(':')
            .next()
            .unwrap_or(tag_name)
            .trim_end_matches('/');
        if closing {
            if local == "Image" {
                in_image = false;
            }
            continue;
        }
        match local {
            "Image" => {
                images.push(OmeImage {
                    name: attr(attrs, "Name"),
                    ..OmeImage::default()
                });
                in_image = !tag.ends_with('/');
            }
            "Plane" if in_image => {
                let img = images.last_mut().ok_or_else(|| bad("no Image".into()))?;
                if img.planes.len() as u64 >= MAX_DIM {
                    return Err(bad("too many Plane elements".into()));
                }
                let index = |key: &str| -> Result<u64> {
                    attr(attrs, key)
                        .map(|v| {
                            v.trim()
                                .parse::<u64>()
                                .map_err(|_| bad(format!("Plane {key}={v:?} is not a number")))
                        })
                        .transpose()
                        .map(|v| v.unwrap_or(0))
                };
                // A position is shown as written, if it is a finite number.
                let measure = |key: &str, unit: &str, default: &str| {
                    attr(attrs, key)
                        .filter(|v| v.trim().parse::<f64>().is_ok_and(f64::is_finite))
                        .map(|v| {
                            let u = attr(attrs, unit)
                                .filter(|u| u.chars().count() <= 16)
                                .unwrap_or_else(|| default.into());
                            (v.trim().chars().take(32).collect(), u)
                        })
                };
                img.planes.push(OmePlane {
                    the_zct: [index("TheZ")?, index("TheC")?, index("TheT")?],
                    position_z: measure("PositionZ", "PositionZUnit", "\u{b5}m"),
                    delta_t: measure("DeltaT", "DeltaTUnit", "s"),
                });
            }
            "OME" if uuid.is_none() => {
                uuid = attr(attrs, "UUID").map(|u| u.trim().chars().take(256).collect());
            }
            "UUID" if in_image => {
                let img = images.last_mut().ok_or_else(|| bad("no Image".into()))?;
                if let Some(td) = img.tiff_data.last_mut() {
                    if let Some(f) = attr(attrs, "FileName") {
                        td.file = Some(f.chars().take(1024).collect());
                    }
                    // The element's text (up to the next tag) is the file's UUID.
                    if !tag.ends_with('/') {
                        let text = &rest[..rest.find('<').unwrap_or(rest.len())];
                        let text = unescape(text.trim());
                        if !text.is_empty() {
                            td.uuid = Some(text.chars().take(256).collect());
                        }
                    }
                }
            }
            "Pixels" | "Channel" | "TiffData" if in_image => {
                let img = images.last_mut().ok_or_else(|| bad("no Image".into()))?;
                let num = |key: &str| -> Result<Option<u64>> {
                    attr(attrs, key)
                        .map(|v| {
                            v.trim()
                                .parse::<u64>()
                                .map_err(|_| bad(format!("{local} {key}={v:?} is not a number")))
                        })
                        .transpose()
                };
                match local {
                    "Pixels" => {
                        let size = |key: &str| -> Result<u64> {
                            let v =
                                num(key)?.ok_or_else(|| bad(format!("Pixels without {key}")))?;
                            if v == 0 || v > MAX_DIM * 64 {
                                return Err(bad(format!("Pixels {key}={v} is out of range")));
                            }
                            Ok(v)
                        };
                        img.size_xy = (size("SizeX")?, size("SizeY")?);
                        img.size_zct = [size("SizeZ")?, size("SizeC")?, size("SizeT")?];
                        img.dimension_order = attr(attrs, "DimensionOrder")
                            .ok_or_else(|| bad("Pixels without DimensionOrder".into()))?;
                    }
                    "Channel" => {
                        let color = attr(attrs, "Color")
                            .map(|v| {
                                v.trim()
                                    .parse::<i64>()
                                    .map_err(|_| bad(format!("Channel Color={v:?}")))
                            })
                            .transpose()?
                            .map(|v| {
                                let v = v as u32;
                                [(v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8]
                            });
                        let spp = num("SamplesPerPixel")?.unwrap_or(1);
                        if spp == 0 || spp > 4 {
                            return Err(bad(format!("Channel SamplesPerPixel={spp}")));
                        }
                        if img.channels.len() as u64 >= MAX_DIM {
                            return Err(bad("too many channels".into()));
                        }
                        img.channels.push(OmeChannel {
                            name: attr(attrs, "Name"),
                            color,
                            samples_per_pixel: spp as u32,
                        });
                    }
                    _ => {
                        if img.tiff_data.len() as u64 >= MAX_DIM {
                            return Err(bad("too many TiffData elements".into()));
                        }
                        img.tiff_data.push(TiffData {
                            ifd: num("IFD")?,
                            first: [
                                num("FirstZ")?.unwrap_or(0),
                                num("FirstC")?.unwrap_or(0),
                                num("FirstT")?.unwrap_or(0),
                            ],
                            plane_count: num("PlaneCount")?,
                            file: None,
                            uuid: None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    images.retain(|i| i.size_xy != (0, 0));
    if images.is_empty() {
        return Err(bad("no Image with Pixels".into()));
    }
    Ok(OmeDoc { images, uuid })
}

/// The `UUID` of an OME-XML document's root `OME` element (also of a `BinaryOnly` document,
/// which holds no series), if it has one.
pub fn document_uuid(xml: &str) -> Option<String> {
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = tag_end(rest)?;
        let tag = &rest[..end];
        let (tag_name, attrs) = tag
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((tag, ""));
        if tag_name.rsplit(':').next() == Some("OME") {
            return attr(attrs, "UUID").map(|u| u.trim().chars().take(256).collect());
        }
        return None;
    }
    None
}

/// Where the `>` of the tag starting at `s` is, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The value of attribute `key` (local name, any prefix) in an attribute list, unescaped.
fn attr(attrs: &str, key: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        let eq = rest.find('=')?;
        let k = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let q = after.chars().next()?;
        if q != '"' && q != '\'' {
            return None;
        }
        let close = after[1..].find(q)?;
        let value = &after[1..1 + close];
        if k.rsplit(':').next() == Some(key) {
            return Some(unescape(value));
        }
        rest = &after[close + 2..];
    }
}

fn unescape(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl OmeImage {
    /// The IFD of every plane of this series. `spp`: samples per pixel of its IFDs;
    /// `series_start`: the IFD of its first plane when it has no `TiffData`; `ifd_count`: IFDs
    /// in the main chain. Errors name the file and what does not add up.
    pub fn plane_map(
        &self,
        spp: u32,
        series_start: usize,
        ifd_count: usize,
        name: &str,
    ) -> Result<PlaneMap> {
        self.plane_map_files(spp, series_start, ifd_count, &|_| Some(ifd_count), name)
    }

    /// [`OmeImage::plane_map`] of planes spread over several files: `total_ifds` bounds the
    /// plane count (the IFDs of every file), `ifds_in(file)` is the main-chain IFD count of a
    /// file `TiffData` names (`None`: the document's own file), `None` for a file not read.
    pub fn plane_map_files(
        &self,
        spp: u32,
        series_start: usize,
        total_ifds: usize,
        ifds_in: &dyn Fn(Option<&str>) -> Option<usize>,
        name: &str,
    ) -> Result<PlaneMap> {
        let ifd_count = total_ifds;
        let bad = |what: String| Error::corrupt(name, format!("OME-XML: {what}"));
        let [z, c, t] = self.size_zct;
        let c_ifd = if spp > 1 && c % u64::from(spp) == 0 {
            c / u64::from(spp)
        } else {
            c
        };
        let n = z
            .checked_mul(c_ifd)
            .and_then(|v| v.checked_mul(t))
            .filter(|&n| n <= ifd_count as u64)
            .ok_or_else(|| {
                bad(format!(
                    "SizeZ {z} x SizeC {c_ifd} x SizeT {t} planes, but the file has {ifd_count} IFDs"
                ))
            })? as usize;
        let order = self.dimension_order.as_bytes();
        let mut axes: Vec<u8> = order
            .iter()
            .copied()
            .filter(|a| *a != b'X' && *a != b'Y')
            .collect();
        let valid = order.len() == 5 && order.starts_with(b"XY") && {
            axes.sort_unstable();
            axes == b"CTZ"
        };
        if !valid {
            return Err(bad(format!("DimensionOrder {:?}", self.dimension_order)));
        }
        // Stride of Z, C and T in the plane order.
        let size = |a: u8| match a {
            b'Z' => z,
            b'C' => c_ifd,
            _ => t,
        };
        let mut stride = [0u64; 3];
        let mut s = 1u64;
        for &a in &order[2..] {
            stride[match a {
                b'Z' => 0,
                b'C' => 1,
                _ => 2,
            }] = s;
            s *= size(a);
        }
        let linear = |zct: [u64; 3]| zct[0] * stride[0] + zct[1] * stride[1] + zct[2] * stride[2];
        let mut by_linear: Vec<Option<(usize, Option<&str>)>> = vec![None; n];
        if self.tiff_data.is_empty() {
            for (p, slot) in by_linear.iter_mut().enumerate() {
                *slot = Some((series_start + p, None));
            }
        } else {
            for td in &self.tiff_data {
                let [fz, fc, ft] = td.first;
                if fz >= z || fc >= c_ifd || ft >= t {
                    return Err(bad(format!(
                        "TiffData FirstZ={fz} FirstC={fc} FirstT={ft} lies outside the Pixels"
                    )));
                }
                let p0 = linear(td.first) as usize;
                let count = match (td.plane_count, td.ifd) {
                    (Some(k), _) => k,
                    (None, Some(_)) => 1,
                    (None, None) => (n - p0) as u64,
                };
                let ifd0 = td.ifd.unwrap_or(0);
                if count > (n - p0) as u64 {
                    return Err(bad(format!(
                        "TiffData PlaneCount={count} runs past the {n} planes"
                    )));
                }
                for k in 0..count as usize {
                    by_linear[p0 + k] =
                        Some(((ifd0 as usize).saturating_add(k), td.file.as_deref()));
                }
            }
        }
        let mut ifds = Vec::with_capacity(n);
        let mut files = Vec::with_capacity(n);
        for ti in 0..t {
            for zi in 0..z {
                for ci in 0..c_ifd {
                    let (ifd, file) =
                        by_linear[linear([zi, ci, ti]) as usize].ok_or_else(|| {
                            bad(format!("plane Z={zi} C={ci} T={ti} has no TiffData"))
                        })?;
                    let count = ifds_in(file).ok_or_else(|| {
                        bad(format!(
                            "plane Z={zi} C={ci} T={ti} is in {:?}, a file that was not read",
                            file.unwrap_or(name)
                        ))
                    })?;
                    if ifd >= count {
                        let which = match file {
                            Some(f) => format!("{f:?}"),
                            None => "the file".to_string(),
                        };
                        return Err(bad(format!(
                            "plane Z={zi} C={ci} T={ti} is in IFD {ifd} of {which}, but it has {count} IFDs"
                        )));
                    }
                    ifds.push(ifd);
                    files.push(file.map(str::to_string));
                }
            }
        }
        Ok(PlaneMap {
            depth: z as u32,
            frames: t as u32,
            channels: c_ifd as u32,
            ifds,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIFFFILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- comment with <Image> inside -->
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:1">
<Image ID="Image:0" Name="stack &amp; co"><Pixels ID="Pixels:0" DimensionOrder="XYCZT"
 Type="uint16" SizeX="512" SizeY="384" SizeC="3" SizeZ="5" SizeT="3">
<Channel ID="Channel:0:0" Name="DAPI" Color="65535" SamplesPerPixel="1"/>
<Channel ID="Channel:0:1" Name="GFP" Color="16711935" SamplesPerPixel="1"/>
<Channel ID="Channel:0:2" SamplesPerPixel="1"/>
<TiffData IFD="0" PlaneCount="45"/></Pixels></Image>
<Image ID="Image:1" Name="label"><Pixels DimensionOrder="XYCZT" SizeX="10" SizeY="10"
 SizeC="3" SizeZ="1" SizeT="1"><Channel SamplesPerPixel="3"/><TiffData IFD="45"/></Pixels></Image>
</OME>"#;

    #[test]
    fn tifffile_layout() {
        let imgs = parse(TIFFFILE, "x.ome.tif").unwrap();
        assert_eq!(imgs.len(), 2);
        assert_eq!(imgs[0].name.as_deref(), Some("stack & co"));
        assert_eq!(imgs[0].size_zct, [5, 3, 3]);
        assert_eq!(imgs[0].channels[0].color, Some([0, 0, 255]));
        assert_eq!(imgs[0].channels[1].color, Some([0, 255, 0]));
        let m = imgs[0].plane_map(1, 0, 46, "x").unwrap();
        assert_eq!((m.depth, m.frames, m.channels), (5, 3, 3));
        // XYCZT: C fastest, then Z, then T — the same order as ours.
        assert_eq!(m.ifds, (0..45).collect::<Vec<_>>());
        let l = imgs[1].plane_map(3, 45, 46, "x").unwrap();
        assert_eq!((l.channels, l.ifds.clone()), (1, vec![45]));
    }

    #[test]
    fn other_orders_and_bad_input() {
        let xml = TIFFFILE.replace("XYCZT\"\n Type", "XYZTC\"\n Type");
        let m = parse(&xml, "x").unwrap()[0]
            .plane_map(1, 0, 46, "x")
            .unwrap();
        // (t, z, c) = (0, 1, 0) is Z index 1 in XYZTC: IFD 1; c = 1 is 5*3 = 15.
        assert_eq!(m.ifds[3], 1);
        assert_eq!(m.ifds[1], 15);
        let err = parse(TIFFFILE, "x.ome.tif").unwrap()[0]
            .plane_map(1, 0, 40, "x.ome.tif")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.ome.tif") && err.contains("40 IFDs"),
            "{err}"
        );
        for bad in [
            TIFFFILE.replace("SizeZ=\"5\"", "SizeZ=\"five\""),
            TIFFFILE.replace("SizeZ=\"5\"", "SizeZ=\"99999999999999\""),
            TIFFFILE.replace("XYCZT", "XYCZZ"),
            TIFFFILE.replace("PlaneCount=\"45\"", "PlaneCount=\"46\""),
            "<OME><Image Name=\"x".to_string(),
            "<OME></OME>".to_string(),
        ] {
            let r = parse(&bad, "h.tif").and_then(|i| i[0].plane_map(1, 0, 46, "h.tif"));
            assert!(r.is_err(), "{bad}");
        }
    }

    /// Bio-Formats' multi-file layout: each plane's TiffData names the file holding it and
    /// that file's UUID. One file named throughout (a single file that names itself) reads as
    /// before; with two or more, each plane maps to (file, IFD) and a plane past its file's
    /// IFDs is an error naming the file.
    #[test]
    fn multi_file_maps_planes_to_files() {
        let td = |z: u32, file: &str| {
            format!(
                r#"<TiffData FirstZ="{z}" IFD="0" PlaneCount="1"><UUID FileName="{file}">urn:uuid:{z}</UUID></TiffData>"#
            )
        };
        let doc = |a: &str, b: &str| {
            format!(
                r#"<OME UUID="urn:uuid:0"><Image ID="Image:0"><Pixels DimensionOrder="XYZCT" SizeX="8" SizeY="8" SizeC="1" SizeZ="2" SizeT="1">{}{}</Pixels></Image></OME>"#,
                td(0, a),
                td(1, b)
            )
        };
        let one = parse_doc(&doc("s.ome.tif", "s.ome.tif"), "s.ome.tif").unwrap();
        assert_eq!(
            one.images[0].tiff_data[1].file.as_deref(),
            Some("s.ome.tif")
        );
        assert!(!one.is_multi_file());
        let two = parse_doc(&doc("z0.ome.tif", "z1.ome.tif"), "z0.ome.tif").unwrap();
        assert!(two.is_multi_file());
        assert_eq!(
            two.files(),
            [
                ("z0.ome.tif", Some("urn:uuid:0")),
                ("z1.ome.tif", Some("urn:uuid:1"))
            ]
        );
        assert_eq!(two.uuid.as_deref(), Some("urn:uuid:0"));
        let one_each = |f: Option<&str>| f.map(|_| 1);
        let m = two.images[0]
            .plane_map_files(1, 0, 2, &one_each, "z0.ome.tif")
            .unwrap();
        assert_eq!(m.ifds, [0, 0]);
        assert_eq!(
            m.files,
            [
                Some("z0.ome.tif".to_string()),
                Some("z1.ome.tif".to_string())
            ]
        );
        // A TiffData pointing past its file's IFDs, or at a file that was not read.
        let past = doc("z0.ome.tif", "z1.ome.tif")
            .replace(r#"FirstZ="1" IFD="0""#, r#"FirstZ="1" IFD="3""#);
        let err = parse_doc(&past, "z0.ome.tif").unwrap().images[0]
            .plane_map_files(1, 0, 2, &one_each, "z0.ome.tif")
            .unwrap_err()
            .to_string();
        assert!(err.contains("z1.ome.tif") && err.contains("IFD 3"), "{err}");
        let err = two.images[0]
            .plane_map_files(1, 0, 2, &|_| None, "z0.ome.tif")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not read"), "{err}");
        assert_eq!(
            document_uuid(
                r#"<?xml?><ome:OME xmlns:ome="x" UUID="urn:uuid:7"><BinaryOnly/></ome:OME>"#
            ),
            Some("urn:uuid:7".to_string())
        );
    }
}
