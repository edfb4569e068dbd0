//! Planes: z-stacks, time series and channels.
//!
//! A slide may hold `depth` × `frames` planes (OME-TIFF `SizeZ` × `SizeT`, or the equal pages of
//! a multi-page TIFF stack as frames). The [`Slide`] a caller opens *is* the default plane
//! (z = 1, frame = 1, EXACT's 1-based numbering), so single-plane callers see no change; the
//! other planes are slides of their own, reached with [`Slide::plane`], sharing the source.
//!
//! Fluorescence channels stored in separate single-channel IFDs (8 or 16 bits) are composited
//! to RGB for display: each channel is scaled through its display range (by default a robust
//! min/max — the 0.1 and 99.9 percentiles — of the default plane's lowest level, so every plane
//! of a stack shares one scale) and tinted with its colour, and the tints are added and
//! saturated. [`Slide::channel_region`] reads a channel's stored samples unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{Associated, Slide};
use crate::codec::{MAX_DECODED_BYTES, TileCodec};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::source::Source;
use crate::tiff::{Directory, compression};

/// Tiles sampled (at most) per channel to find the default display range.
const RANGE_SAMPLE_TILES: usize = 64;

/// How one composited channel is to be shown (see [`Slide::set_display`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChannelSetting {
    /// The channel, from 0.
    pub channel: usize,
    /// Its tint, or the file's.
    pub color: Option<[u8; 3]>,
    /// The stored value shown black, or the automatic one.
    pub low: Option<u16>,
    /// The stored value shown at full colour, or the automatic one.
    pub high: Option<u16>,
}

/// One channel of a composited slide.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// The channel's name (OME `Channel/@Name`), if the file gives one.
    pub name: Option<String>,
    /// The display colour (OME `Channel/@Color`, else red/green/blue … by position).
    pub color: [u8; 3],
    /// Bits per stored sample (8 or 16).
    pub bits: u16,
}

/// The planes beyond the default one (held by the default plane's slide only).
#[derive(Debug)]
pub(super) struct Planes {
    depth: u32,
    frames: u32,
    /// Names of the z planes and of the frames, where the file gives them.
    names: PlaneNames,
    /// At `(frame - 1) * depth + (z - 1)`; `None` at 0, the default plane itself.
    pub(super) slides: Vec<Option<Arc<Slide>>>,
}

/// Names of a stack's z planes and frames (0-based), where the file gives them: OME `Plane`
/// positions (`z=1.5 µm`, `t=30 s`), or the PageName of each page of a multi-page TIFF.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaneNames {
    /// By z plane.
    pub z: Vec<Option<String>>,
    /// By frame.
    pub frames: Vec<Option<String>>,
}

/// The channels of a composited slide and their display ranges, shared by every plane.
#[derive(Debug)]
pub(super) struct Display {
    channels: Vec<Channel>,
    ranges: OnceCell<Vec<(u16, u16)>>,
    /// Windows set by the user (low, high), by channel; `None` ends keep the automatic one.
    windows: Vec<(Option<u16>, Option<u16>)>,
    /// The default plane's lowest level, one directory per channel: what ranges come from.
    sample: Vec<Arc<Directory>>,
    source: Source,
}

/// Default colours by channel count: one channel grey, two green and magenta, else red, green,
/// blue, cyan, magenta, yellow, repeating.
fn default_color(index: usize, count: usize) -> [u8; 3] {
    const CYCLE: [[u8; 3]; 6] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [0, 255, 255],
        [255, 0, 255],
        [255, 255, 0],
    ];
    match count {
        1 => [255, 255, 255],
        2 => [[0, 255, 0], [255, 0, 255]][index],
        _ => CYCLE[index % CYCLE.len()],
    }
}

/// What a plane-aware reader found: per plane (frame-major, then z), per channel, the level
/// directories; and the channel names and colours, if the file gives them.
pub(super) struct PlaneLayout {
    pub depth: u32,
    pub frames: u32,
    pub planes: Vec<Vec<Vec<Arc<Directory>>>>,
    pub names: Vec<Option<String>>,
    pub colors: Vec<Option<[u8; 3]>>,
    pub plane_names: PlaneNames,
}

impl Slide {
    /// Build the default plane's slide, with the others attached, from `layout`.
    pub(super) fn from_planes(
        source: Source,
        vendor: &str,
        layout: PlaneLayout,
        properties: BTreeMap<String, String>,
        associated: BTreeMap<String, Associated>,
    ) -> Result<Self> {
        let name = source.name().to_string();
        let first = layout
            .planes
            .first()
            .and_then(|p| p.first())
            .and_then(|l| l.first())
            .ok_or_else(|| Error::corrupt(&name, "no image planes"))?
            .clone();
        let n_channels = layout.planes[0].len();
        let composite =
            n_channels > 1 || (first.bits_per_sample > 8 && first.samples_per_pixel == 1);
        let display = if composite {
            let channels = (0..n_channels)
                .map(|c| Channel {
                    name: layout.names.get(c).cloned().flatten(),
                    color: layout
                        .colors
                        .get(c)
                        .copied()
                        .flatten()
                        .unwrap_or_else(|| default_color(c, n_channels)),
                    bits: first.bits_per_sample,
                })
                .collect();
            let sample = layout.planes[0]
                .iter()
                .map(|levels| {
                    levels
                        .iter()
                        .min_by_key(|d| d.width)
                        .cloned()
                        .unwrap_or_else(|| first.clone())
                })
                .collect();
            Some(Arc::new(Display {
                channels,
                ranges: OnceCell::new(),
                windows: Vec::new(),
                sample,
                source: source.clone(),
            }))
        } else {
            None
        };
        let mut slides = Vec::with_capacity(layout.planes.len());
        for (i, plane) in layout.planes.into_iter().enumerate() {
            let assoc = if i == 0 {
                associated.clone()
            } else {
                BTreeMap::new()
            };
            let mut s = Self::plane_slide(&source, vendor, plane, properties.clone(), assoc)?;
            s.display = display.clone();
            if i > 0 {
                s = s.with_tile_cache_bytes(super::DEFAULT_TILE_CACHE_BYTES / 4);
            }
            slides.push(s);
        }
        let mut rest = slides.into_iter();
        let mut top = rest
            .next()
            .ok_or_else(|| Error::corrupt(&name, "no image planes"))?;
        if layout.depth > 1 || layout.frames > 1 {
            let mut others = vec![None];
            others.extend(rest.map(|s| Some(Arc::new(s))));
            top.planes = Some(Planes {
                depth: layout.depth,
                frames: layout.frames,
                names: layout.plane_names,
                slides: others,
            });
        }
        Ok(top)
    }

    /// One plane: channel 0's levels make the slide; with several channels (or wide samples)
    /// each level also keeps every channel's directory, and passes nothing through.
    fn plane_slide(
        source: &Source,
        vendor: &str,
        mut channels: Vec<Vec<Arc<Directory>>>,
        properties: BTreeMap<String, String>,
        associated: BTreeMap<String, Associated>,
    ) -> Result<Self> {
        let name = source.name();
        for levels in &mut channels {
            levels.sort_by_key(|d| std::cmp::Reverse(d.width));
        }
        let composite = channels.len() > 1
            || (channels[0][0].bits_per_sample > 8 && channels[0][0].samples_per_pixel == 1);
        let mut s = Self::assemble(
            source.clone(),
            vendor,
            channels[0].clone(),
            properties,
            associated,
            true,
        )?;
        if !composite {
            return Ok(s);
        }
        for (i, level) in s.levels.iter_mut().enumerate() {
            let mut dirs = Vec::with_capacity(channels.len());
            for (c, levels) in channels.iter().enumerate() {
                let d = levels.get(i).ok_or_else(|| {
                    Error::corrupt(name, format!("channel {c} has fewer pyramid levels"))
                })?;
                let l0 = &level.dir;
                if (
                    d.width,
                    d.height,
                    d.tile_size,
                    d.rows_per_strip,
                    d.bits_per_sample,
                ) != (
                    l0.width,
                    l0.height,
                    l0.tile_size,
                    l0.rows_per_strip,
                    l0.bits_per_sample,
                ) {
                    return Err(Error::corrupt(
                        name,
                        format!("channel {c} of level {i} differs in size, tiling or bit depth"),
                    ));
                }
                check_gray(d, name)?;
                dirs.push(d.clone());
            }
            level.channel_dirs = dirs;
            level.passthrough_prefix = None;
        }
        Ok(s)
    }

    /// Z planes (1 for a single-plane slide).
    pub fn depth(&self) -> u32 {
        self.planes.as_ref().map_or(1, |p| p.depth)
    }

    /// Time points (frames; 1 for a single-plane slide).
    pub fn frames(&self) -> u32 {
        self.planes.as_ref().map_or(1, |p| p.frames)
    }

    /// Names of the z planes and frames the file gives (empty for a single-plane slide).
    pub fn plane_names(&self) -> PlaneNames {
        self.planes
            .as_ref()
            .map(|p| p.names.clone())
            .unwrap_or_default()
    }

    /// The composited channels (empty when the stored pixels are RGB or 8-bit grey already).
    pub fn channels(&self) -> &[Channel] {
        self.display.as_ref().map_or(&[], |d| &d.channels)
    }

    /// The plane at `z`, `frame` (1-based, as EXACT's URLs): the slide itself for (1, 1), or
    /// [`Error::NotFound`] naming the slide's depth and frames.
    pub fn plane(self: &Arc<Self>, z: u32, frame: u32) -> Result<Arc<Slide>> {
        let (depth, frames) = (self.depth(), self.frames());
        if z == 0 || frame == 0 || z > depth || frame > frames {
            return Err(Error::not_found(format!(
                "plane z={z} frame={frame} of {} (depth {depth}, frames {frames})",
                self.name()
            )));
        }
        let i = (frame as usize - 1) * depth as usize + (z as usize - 1);
        match self.planes.as_ref().and_then(|p| p.slides.get(i)) {
            Some(Some(s)) => Ok(s.clone()),
            _ => Ok(self.clone()),
        }
    }

    /// Each channel's display range (low, high stored values): the window set by
    /// [`Slide::set_display`], else the automatic one, computed once per slide.
    pub async fn display_ranges(&self) -> Result<Vec<(u16, u16)>> {
        let Some(d) = &self.display else {
            return Ok(Vec::new());
        };
        let mut ranges = d
            .ranges
            .get_or_try_init(|| d.compute_ranges())
            .await
            .cloned()?;
        for (r, &(lo, hi)) in ranges.iter_mut().zip(&d.windows) {
            let lo = lo.unwrap_or(r.0);
            let hi = hi.unwrap_or(r.1);
            *r = (lo, hi.max(lo.saturating_add(1)));
        }
        Ok(ranges)
    }

    /// Sets how composited channels are shown, on this slide and every plane of it: per
    /// channel (index, colour, low, high), `None` keeping the file's colour or the automatic
    /// window end. Call it on a slide just opened (planes shared elsewhere are not changed:
    /// [`Error::InvalidInput`]); a channel beyond the slide's is `InvalidInput` too.
    pub fn set_display(&mut self, settings: &[ChannelSetting]) -> Result<()> {
        let Some(d) = &self.display else {
            return if settings.is_empty() {
                Ok(())
            } else {
                Err(Error::invalid(
                    "channels",
                    format!("{} has no composited channels to set", self.name()),
                ))
            };
        };
        let mut channels = d.channels.clone();
        let mut windows = vec![(None, None); channels.len()];
        for s in settings {
            let c = channels.get_mut(s.channel).ok_or_else(|| {
                Error::invalid(
                    "channels",
                    format!(
                        "channel {} of {} (it has {})",
                        s.channel,
                        self.name(),
                        d.channels.len()
                    ),
                )
            })?;
            if let Some(rgb) = s.color {
                c.color = rgb;
            }
            windows[s.channel] = (s.low, s.high);
        }
        let shown = Arc::new(Display {
            channels,
            ranges: OnceCell::new_with(d.ranges.get().cloned()),
            windows,
            sample: d.sample.clone(),
            source: d.source.clone(),
        });
        if let Some(p) = &mut self.planes {
            for slot in p.slides.iter_mut().flatten() {
                let plane = Arc::get_mut(slot).ok_or_else(|| {
                    Error::invalid(
                        "channels",
                        "the planes are in use; set the display on a slide just opened",
                    )
                })?;
                plane.display = Some(shown.clone());
            }
        }
        self.display = Some(shown);
        Ok(())
    }

    /// A channel's stored samples (8 or 16 bits, unscaled) in the `w` × `h` region of `level`
    /// whose corner is at (`x`, `y`) in that level's pixels; zero outside the image.
    pub async fn channel_region(
        &self,
        channel: usize,
        level: usize,
        x: u64,
        y: u64,
        w: u32,
        h: u32,
    ) -> Result<Vec<u16>> {
        let l = self.level(level)?;
        let dir = l.channel_dirs.get(channel).ok_or_else(|| {
            Error::not_found(format!(
                "channel {channel} of {} ({} composited channels)",
                self.name(),
                l.channel_dirs.len()
            ))
        })?;
        let len = w as usize * h as usize;
        if len == 0 || len.saturating_mul(2) > MAX_DECODED_BYTES {
            return Err(Error::invalid("size", format!("{w}x{h} channel region")));
        }
        let mut out = vec![0u16; len];
        let (tw, th) = (l.tile_width, l.tile_height);
        let (x1, y1) = (
            (x + u64::from(w)).min(l.width),
            (y + u64::from(h)).min(l.height),
        );
        if x >= x1 || y >= y1 {
            return Ok(out);
        }
        let cols = (x / u64::from(tw)) as u32..=((x1 - 1) / u64::from(tw)) as u32;
        let rows = (y / u64::from(th)) as u32..=((y1 - 1) / u64::from(th)) as u32;
        for row in rows {
            for col in cols.clone() {
                self.tile_range(level, col, row)?;
                let i = row as usize * l.tiles_across as usize + col as usize;
                let (Some(&off), Some(&n)) = (dir.offsets.get(i), dir.byte_counts.get(i)) else {
                    return Err(Error::corrupt(
                        self.name(),
                        format!("channel tile {i} missing"),
                    ));
                };
                let range = off..off.saturating_add(n);
                let raw = self.source.read(range).await?;
                let tile = decode_gray(dir, &raw, tw, th, self.name())?;
                let (ox, oy) = (
                    u64::from(col) * u64::from(tw),
                    u64::from(row) * u64::from(th),
                );
                for ty in 0..th as u64 {
                    let gy = oy + ty;
                    if gy < y || gy >= y1 {
                        continue;
                    }
                    for tx in 0..tw as u64 {
                        let gx = ox + tx;
                        if gx < x || gx >= x1 {
                            continue;
                        }
                        out[((gy - y) * u64::from(w) + (gx - x)) as usize] =
                            tile[(ty * u64::from(tw) + tx) as usize];
                    }
                }
            }
        }
        Ok(out)
    }

    /// Composite the tiles `tiles` of `level` (which has channel directories) to RGB.
    pub(super) async fn composite_tiles(
        &self,
        level: usize,
        tiles: &[(u32, u32)],
    ) -> Result<Vec<Image>> {
        let l = self.level(level)?;
        let ranges = self.display_ranges().await?;
        let colors: Vec<[u8; 3]> = self.channels().iter().map(|c| c.color).collect();
        let mut reads = Vec::with_capacity(tiles.len() * l.channel_dirs.len());
        for &(col, row) in tiles {
            self.tile_range(level, col, row)?;
            let i = row as usize * l.tiles_across as usize + col as usize;
            for d in &l.channel_dirs {
                let (Some(&off), Some(&len)) = (d.offsets.get(i), d.byte_counts.get(i)) else {
                    return Err(Error::corrupt(
                        self.name(),
                        format!("channel tile {i} missing"),
                    ));
                };
                reads.push(off..off.saturating_add(len));
            }
        }
        let raws = self.source.read_many(&reads).await?;
        let (w, h) = (l.tile_width, l.tile_height);
        let per = l.channel_dirs.len();
        let jobs = raws.chunks(per).map(|chunk| {
            let chunk = chunk.to_vec();
            let dirs = l.channel_dirs.clone();
            let name = self.name().to_string();
            let (ranges, colors) = (ranges.clone(), colors.clone());
            crate::cpu::run(move || {
                let planes = chunk
                    .iter()
                    .zip(&dirs)
                    .map(|(raw, d)| decode_gray(d, raw, w, h, &name))
                    .collect::<Result<Vec<_>>>()?;
                Ok(composite(&planes, &ranges, &colors, w, h))
            })
        });
        futures::future::try_join_all(jobs).await
    }
}

impl Display {
    async fn compute_ranges(&self) -> Result<Vec<(u16, u16)>> {
        let mut out = Vec::with_capacity(self.sample.len());
        for d in &self.sample {
            let (tw, th) = d.tile_size.unwrap_or((d.width, d.rows_per_strip));
            let across = d.width.div_ceil(tw) as usize;
            let n = across * d.height.div_ceil(th) as usize;
            let step = n.div_ceil(RANGE_SAMPLE_TILES).max(1);
            let picks: Vec<usize> = (0..n).step_by(step).collect();
            let mut reads = Vec::with_capacity(picks.len());
            for &i in &picks {
                let (Some(&off), Some(&len)) = (d.offsets.get(i), d.byte_counts.get(i)) else {
                    return Err(Error::corrupt(
                        self.source.name(),
                        format!("tile {i} missing"),
                    ));
                };
                reads.push(off..off.saturating_add(len));
            }
            let raws = self.source.read_many(&reads).await?;
            let mut hist = vec![0u64; 1 << d.bits_per_sample.min(16)];
            let top = hist.len() - 1;
            let mut total = 0u64;
            for (&i, raw) in picks.iter().zip(&raws) {
                let bh = if d.is_tiled() {
                    th
                } else {
                    th.min(d.height - (i / across) as u32 * th)
                };
                let px = decode_gray(d, raw, tw, bh, self.source.name())?;
                let (ox, oy) = ((i % across) as u32 * tw, (i / across) as u32 * th);
                let (vw, vh) = (tw.min(d.width - ox), bh.min(d.height - oy));
                for row in px.chunks_exact(tw as usize).take(vh as usize) {
                    for &v in &row[..vw as usize] {
                        hist[usize::from(v).min(top)] += 1;
                        total += 1;
                    }
                }
            }
            out.push(robust_range(&hist, total));
        }
        Ok(out)
    }
}

/// The values at ranks ⌊0.001 (n − 1)⌋ and ⌈0.999 (n − 1)⌉ of the histogrammed samples, with
/// the high end above the low one.
fn robust_range(hist: &[u64], total: u64) -> (u16, u16) {
    if total == 0 {
        return (0, (hist.len() - 1) as u16);
    }
    let at = |rank: u64| {
        let mut seen = 0;
        for (v, &c) in hist.iter().enumerate() {
            seen += c;
            if seen > rank {
                return v as u16;
            }
        }
        (hist.len() - 1) as u16
    };
    let n = (total - 1) as f64;
    let lo = at((n * 0.001).floor() as u64);
    let hi = at((n * 0.999).ceil() as u64);
    (lo, hi.max(lo.saturating_add(1)))
}

/// Tint and add the channels: `rgb = Σ color_c · clamp((v − lo_c) / (hi_c − lo_c), 0, 1)`.
pub(crate) fn composite(
    planes: &[Vec<u16>],
    ranges: &[(u16, u16)],
    colors: &[[u8; 3]],
    w: u32,
    h: u32,
) -> Image {
    let n = w as usize * h as usize;
    let mut acc = vec![0f32; n * 3];
    for ((p, &(lo, hi)), color) in planes.iter().zip(ranges).zip(colors) {
        let scale = 1.0 / (f32::from(hi) - f32::from(lo));
        let color = color.map(f32::from);
        for (a, &v) in acc.chunks_exact_mut(3).zip(p) {
            let t = ((f32::from(v) - f32::from(lo)) * scale).clamp(0.0, 1.0);
            a[0] += color[0] * t;
            a[1] += color[1] * t;
            a[2] += color[2] * t;
        }
    }
    Image {
        width: w,
        height: h,
        channels: 3,
        data: acc.iter().map(|&v| v.round().min(255.0) as u8).collect(),
    }
}

/// The planes of a TIFF that is not OME: equal pages (same size, samples and tiling, not
/// reduced-resolution) are the frames of a stack (or an ImageJ hyperstack's channels × slices ×
/// frames), each with its SubIFD pyramid; anything else is one plane, laid out as before.
pub(super) fn stack_layout(dirs: Vec<Directory>, desc: &str) -> PlaneLayout {
    let dirs: Vec<Arc<Directory>> = dirs.into_iter().map(Arc::new).collect();
    let first = dirs[0].clone();
    let key = |d: &Directory| {
        (
            d.width,
            d.height,
            d.samples_per_pixel,
            d.bits_per_sample,
            d.tile_size,
            d.compression,
        )
    };
    let pages: Vec<Arc<Directory>> = dirs
        .iter()
        .filter(|d| !d.is_subifd && d.subfile_type & 5 == 0 && key(d) == key(&first))
        .cloned()
        .collect();
    if pages.len() <= 1 {
        let levels = if first.is_tiled() {
            dirs.iter()
                .filter(|d| {
                    !d.is_subifd && d.is_tiled() && (d.index == 0 || d.subfile_type & 1 == 1)
                })
                .cloned()
                .collect()
        } else {
            vec![first]
        };
        return PlaneLayout {
            depth: 1,
            frames: 1,
            planes: vec![vec![levels]],
            names: Vec::new(),
            colors: Vec::new(),
            plane_names: PlaneNames::default(),
        };
    }
    let n = pages.len();
    let ij = |k: &str| {
        desc.lines().find_map(|l| {
            l.strip_prefix(k)?
                .strip_prefix('=')?
                .trim()
                .parse::<u32>()
                .ok()
        })
    };
    let (c, z, t) = if desc.starts_with("ImageJ=") {
        (
            ij("channels").unwrap_or(1).max(1),
            ij("slices").unwrap_or(1).max(1),
            ij("frames").unwrap_or(1).max(1),
        )
    } else {
        (1, 1, n as u32)
    };
    let (c, z, t) = if u64::from(c) * u64::from(z) * u64::from(t) == n as u64
        && (c == 1 || first.samples_per_pixel == 1)
    {
        (c, z, t)
    } else {
        (1, 1, n as u32)
    };
    let with_subs = |p: &Arc<Directory>| {
        let mut v = vec![p.clone()];
        v.extend(
            dirs.iter()
                .filter(|d| d.is_subifd && d.index == p.index)
                .cloned(),
        );
        v
    };
    // Page names (a stack of uploads names each page after its file): per frame when the
    // stack is frames only, per z plane when it is z planes only.
    let page_names: Vec<Option<String>> = pages
        .chunks(c as usize)
        .map(|plane| plane[0].page_name.clone())
        .collect();
    let plane_names = if page_names.iter().all(Option::is_none) {
        PlaneNames::default()
    } else if z == 1 {
        PlaneNames {
            z: Vec::new(),
            frames: page_names,
        }
    } else if t == 1 {
        PlaneNames {
            z: page_names,
            frames: Vec::new(),
        }
    } else {
        PlaneNames::default()
    };
    PlaneLayout {
        depth: z,
        frames: t,
        planes: pages
            .chunks(c as usize)
            .map(|plane| plane.iter().map(with_subs).collect())
            .collect(),
        names: Vec::new(),
        colors: Vec::new(),
        plane_names,
    }
}

/// Refuse a channel directory the gray decoder cannot read.
fn check_gray(d: &Directory, name: &str) -> Result<()> {
    let ok_compression = matches!(
        d.compression,
        compression::NONE
            | compression::LZW
            | compression::ADOBE_DEFLATE
            | compression::DEFLATE
            | compression::JPEG
    );
    if d.samples_per_pixel != 1
        || !matches!(d.bits_per_sample, 8 | 16)
        || !matches!(d.sample_format, 1)
        || !matches!(d.predictor, 1 | 2)
        || !ok_compression
        || (d.compression == compression::JPEG && d.bits_per_sample != 8)
    {
        return Err(Error::unsupported(format!(
            "{name}: channel planes of {} samples x {} bits (format {}, {} compression, \
             predictor {}); 8- or 16-bit unsigned single-sample planes are supported",
            d.samples_per_pixel,
            d.bits_per_sample,
            d.sample_format,
            crate::tiff::compression_name(d.compression),
            d.predictor
        )));
    }
    Ok(())
}

/// One stored single-channel block as samples (`w` × `h`, short data padded with zeros).
pub(crate) fn decode_gray(
    d: &Directory,
    data: &[u8],
    w: u32,
    h: u32,
    name: &str,
) -> Result<Vec<u16>> {
    check_gray(d, name)?;
    let n = (w as usize).saturating_mul(h as usize);
    if n == 0 || n.saturating_mul(3) > MAX_DECODED_BYTES {
        return Err(Error::unsupported(format!(
            "{name}: {w}x{h} tile is too large"
        )));
    }
    if d.compression == compression::JPEG {
        let img = TileCodec::new(d, name)?.decode(data, w, h, name)?;
        return Ok(img.data.chunks_exact(3).map(|p| u16::from(p[0])).collect());
    }
    let bytes = usize::from(d.bits_per_sample / 8);
    let mut raw = crate::codec::inflate(d.compression, data, n * bytes, name)?;
    raw.resize(n * bytes, 0);
    let mut out: Vec<u16> = if bytes == 1 {
        raw.iter().map(|&v| u16::from(v)).collect()
    } else if d.big_endian {
        raw.chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    } else {
        raw.chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect()
    };
    if d.predictor == 2 {
        let mask = if bytes == 1 { 0xFF } else { 0xFFFF };
        for row in out.chunks_exact_mut(w as usize) {
            for i in 1..row.len() {
                row[i] = row[i].wrapping_add(row[i - 1]) & mask;
            }
        }
    }
    if d.photometric == 0 {
        let max = if bytes == 1 { 0xFF } else { 0xFFFF };
        for v in &mut out {
            *v = max - *v;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_range_ignores_outliers() {
        let mut hist = vec![0u64; 65536];
        hist[100] = 1; // one dark outlier in 10,001 samples
        hist[1000] = 5000;
        hist[2000] = 5000;
        hist[60000] = 1;
        assert_eq!(robust_range(&hist, 10002), (1000, 2000));
        assert_eq!(robust_range(&[0, 0, 5], 5), (2, 3));
    }

    #[test]
    fn composite_tints_and_saturates() {
        let img = composite(
            &[vec![0, 50, 100, 200], vec![100, 100, 100, 100]],
            &[(0, 100), (0, 100)],
            &[[255, 0, 0], [255, 255, 0]],
            2,
            2,
        );
        assert_eq!(&img.data[..3], &[255, 255, 0]);
        assert_eq!(&img.data[3..6], &[255, 255, 0]);
        let single = composite(&[vec![0, 50]], &[(0, 100)], &[[0, 255, 0]], 2, 1);
        assert_eq!(single.data, vec![0, 0, 0, 0, 128, 0]);
    }
}
