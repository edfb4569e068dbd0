//! [`Slide`]: an open pyramidal image — its levels, properties and associated images, with
//! native tiles (raw, passthrough JPEG, or decoded) read through a [`Source`].
//!
//! Formats: Aperio SVS (`aperio`), generic tiled TIFF pyramids (`generic-tiff`), OME-TIFF
//! (`ome-tiff`, every series with its planes and SubIFD pyramids, also spread over several
//! files: see the `ome` submodule), and striped TIFFs as a one-level
//! fallback, and DICOM whole-slide image series (`dicom`, see the `dicom` submodule). Level
//! layout and properties follow OpenSlide's naming.

mod check;
mod deidentify;
mod dicom;
mod ome;
#[cfg(feature = "openslide")]
mod openslide;
mod planes;
mod props;
mod reduced;
mod region;
mod runtime;

pub use runtime::{LIB_ENV as OPENSLIDE_LIB_ENV, OPENSLIDE_ONLY, library as openslide_library};

pub use check::max_expansion;
pub use deidentify::{Deidentified, Edit, IDENTIFYING};
pub use planes::{Channel, ChannelSetting, PlaneNames};
pub use reduced::DIRECT_REGION_PIXELS;

pub use props::{format_double, format_g};

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::budget::RenderBudget;
use crate::cache::ByteCache;
use crate::codec::TileCodec;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::jpeg;
use crate::source::Source;
use crate::tiff::{self, Directory, Limits, compression, photometric};

/// Default bytes of decoded tiles kept per slide.
pub const DEFAULT_TILE_CACHE_BYTES: usize = 64 << 20;

/// One resolution level of a slide.
#[derive(Debug, Clone)]
pub struct Level {
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Downsample relative to level 0, computed as OpenSlide does.
    pub downsample: f64,
    /// Native tile (or strip) width.
    pub tile_width: u32,
    /// Native tile (or strip) height.
    pub tile_height: u32,
    /// Tiles per row.
    pub tiles_across: u32,
    /// Tile rows.
    pub tiles_down: u32,
    /// TIFF compression code of the tiles.
    pub compression: u16,
    dir: Arc<Directory>,
    codec: Result<TileCodec, String>,
    /// SOI + APP14 (RGB) + JPEGTables: what goes before each passthrough tile.
    passthrough_prefix: Option<Bytes>,
    /// Composited levels: one directory per channel (same grid as `dir`); else empty.
    channel_dirs: Vec<Arc<Directory>>,
}

impl Level {
    /// True if the level is stored in tiles (not strips).
    pub fn is_tiled(&self) -> bool {
        self.dir.is_tiled()
    }

    /// True if tiles of this level can be served as JPEG without decoding.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough_prefix.is_some()
    }
}

/// A native JPEG tile ready to serve: `prefix` (shared by the level) then `body` (the tile's
/// bytes minus SOI, a zero-copy slice of what was read).
#[derive(Debug, Clone)]
pub struct NativeTile {
    /// SOI, Adobe APP14 when needed, and the level's JPEG tables.
    pub prefix: Bytes,
    /// The stored tile after its SOI.
    pub body: Bytes,
}

impl NativeTile {
    /// The two parts in one buffer (one copy of the tile).
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.prefix.len() + self.body.len());
        v.extend_from_slice(&self.prefix);
        v.extend_from_slice(&self.body);
        Bytes::from(v)
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.prefix.len() + self.body.len()
    }

    /// True if empty (never, for a valid tile).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An associated image (label, macro, thumbnail).
#[derive(Debug, Clone)]
struct Associated {
    dir: Arc<Directory>,
}

/// An open slide. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Slide {
    source: Source,
    vendor: String,
    levels: Vec<Level>,
    properties: BTreeMap<String, String>,
    associated: BTreeMap<String, Associated>,
    tiles: ByteCache<(usize, u32, u32), Arc<Image>>,
    /// The memory budget renders reserve from; `None`: unbounded.
    budget: Option<Arc<RenderBudget>>,
    /// Set when OpenSlide (the `openslide` feature) reads this slide instead of the TIFF code.
    #[cfg(feature = "openslide")]
    osr: Option<Arc<openslide_rs::OpenSlide>>,
    /// Set when the OpenSlide library loaded at run time reads this slide.
    runtime: Option<Arc<runtime::Handle>>,
    /// The other planes (z, frames), on the default plane's slide.
    planes: Option<planes::Planes>,
    /// Channels composited to RGB, shared by every plane.
    display: Option<Arc<planes::Display>>,
    /// The file's further image series (OME-TIFF series 1, 2 …), on series 0's slide.
    series: Vec<ome::Series>,
    /// This series' name (OME `Image/@Name`), where the file gives one.
    series_name: Option<String>,
}

impl Slide {
    /// Open a slide from a URL (`s3://bucket/key`, `file:///path`, `memory://`) or a local path.
    /// With the `openslide` feature, local files the pure reader cannot read (MRXS, NDPI …)
    /// are opened with OpenSlide.
    /// A local folder opens as a DICOM series (its instance files).
    pub async fn open(url: &str) -> Result<Self> {
        if let Some(dir) = crate::source::local_dir(url) {
            return Self::open_dicom_folder(&dir).await;
        }
        let (source, head) = Source::open_url(url).await?;
        let local = source.local_path();
        if let Some(path) = local.as_deref().filter(|p| runtime::openslide_only(p)) {
            #[cfg(feature = "openslide")]
            if let Ok(s) = Self::open_with_openslide(path).await {
                return Ok(s);
            }
            return Self::open_with_runtime_openslide(path).await;
        }
        let pure = Self::from_source(source.clone(), head).await;
        #[cfg(feature = "openslide")]
        if let Err(e) = &pure
            && matches!(
                e.kind(),
                crate::ErrorKind::Unsupported | crate::ErrorKind::Corrupt
            )
            && let Some(path) = source.local_path()
        {
            return Self::open_with_openslide(&path)
                .await
                .map_err(|_| pure.unwrap_err());
        }
        // Formats the pure readers refuse (Philips TIFF variants, …): OpenSlide, if found.
        if let Err(e) = &pure
            && matches!(e.kind(), crate::ErrorKind::Unsupported)
            && let Some(path) = &local
            && runtime::library().is_ok()
            && let Ok(s) = Self::open_with_runtime_openslide(path).await
        {
            return Ok(s);
        }
        pure
    }

    /// Which reader reads this slide: `exact-tiles` (pure Rust), `openslide-rs` (the
    /// `openslide` feature) or `openslide-runtime` (the library loaded at run time).
    pub fn reader(&self) -> &'static str {
        #[cfg(feature = "openslide")]
        if self.osr.is_some() {
            return "openslide-rs";
        }
        if self.runtime.is_some() {
            return "openslide-runtime";
        }
        "exact-tiles"
    }

    /// Open the object at `path` in `store` (at most a few GETs: see [`Source::from_store`]).
    pub async fn open_store(store: Arc<dyn ObjectStore>, path: Path) -> Result<Self> {
        let (source, head) = Source::from_store(store, path).await?;
        Self::from_source(source, Some(head)).await
    }

    /// Open a slide from a [`Source`]; `head` holds its first bytes if already read.
    pub async fn from_source(source: Source, head: Option<Bytes>) -> Result<Self> {
        let magic = match &head {
            Some(h) => h.slice(..h.len().min(132)),
            None => source.read(0..source.size().min(132)).await?,
        };
        if crate::dicom::is_dicom(&magic) {
            return Self::open_dicom(source, head).await;
        }
        let dirs = tiff::read_directories(&source, head, &Limits::default()).await?;
        if let Some(doc) = ome::multi_file_doc(&dirs, source.name())? {
            return Self::open_ome_files(source, dirs, doc).await;
        }
        Self::from_directories(source, dirs)
    }

    /// The files this slide reads: the opened file, then the other files of a multi-file
    /// slide (a multi-file OME-TIFF's, a DICOM series' other instances), by URL or path.
    pub fn files(&self) -> Vec<String> {
        self.source.part_names()
    }

    fn from_directories(source: Source, dirs: Vec<Directory>) -> Result<Self> {
        let name = source.name().to_string();
        let first = dirs
            .first()
            .ok_or_else(|| Error::corrupt(&name, "no image directories"))?;
        let desc = first.description.clone().unwrap_or_default();
        let mut properties = BTreeMap::new();
        props::tiff_properties(first, &mut properties);
        let mut associated = BTreeMap::new();
        let mut level_dirs: Vec<Arc<Directory>> = Vec::new();
        let vendor = if desc.starts_with("Aperio") {
            props::aperio_properties(&desc, &mut properties);
            for d in dirs.into_iter().filter(|d| !d.is_subifd) {
                let d = Arc::new(d);
                if d.is_tiled() {
                    level_dirs.push(d);
                } else if d.index == 1 {
                    associated.insert("thumbnail".to_string(), Associated { dir: d });
                } else if let Some(n) = aperio_associated_name(&d) {
                    associated.insert(n, Associated { dir: d });
                }
            }
            "aperio"
        } else if ome::is_ome(&desc) {
            props::resolution_mpp(first, &mut properties);
            props::ome_mpp(&desc, &mut properties);
            let layout = ome::ome_layout(&desc, dirs, &name)?;
            return Self::from_ome(source, properties, layout);
        } else {
            props::resolution_mpp(first, &mut properties);
            // A pyramid, a stack of equal pages, or one striped level (callers may prefer
            // converting that).
            let vendor = if first.is_tiled() {
                "generic-tiff"
            } else {
                "tiff"
            };
            let layout = planes::stack_layout(dirs, &desc);
            return Self::from_planes(source, vendor, layout, properties, associated);
        };
        Self::assemble(source, vendor, level_dirs, properties, associated, true)
    }

    /// The slide of an OME-TIFF's series 0, with the further series attached.
    #[allow(clippy::type_complexity)]
    fn from_ome(
        source: Source,
        properties: BTreeMap<String, String>,
        layout: (
            Vec<(Option<String>, planes::PlaneLayout)>,
            BTreeMap<String, Associated>,
        ),
    ) -> Result<Self> {
        let (mut all, associated) = layout;
        let (first_name, layout) = all.remove(0);
        let mut top = Self::from_planes(
            source.clone(),
            "ome-tiff",
            layout,
            properties.clone(),
            associated,
        )?;
        top.series_name = first_name;
        top.series = all
            .into_iter()
            .map(|(series_name, layout)| ome::Series {
                name: series_name.clone(),
                slide: Self::from_planes(
                    source.clone(),
                    "ome-tiff",
                    layout,
                    properties.clone(),
                    BTreeMap::new(),
                )
                .map(|mut s| {
                    s.series_name = series_name;
                    Arc::new(s)
                })
                .map_err(|e| e.to_string()),
            })
            .collect();
        Ok(top)
    }

    /// A slide of `level_dirs` (any order) and `associated` images: levels sorted finest
    /// first, OpenSlide's level properties added to `properties`. `app14`: put an Adobe APP14
    /// marker before the passthrough tiles of RGB levels (TIFF; DICOM frames pass unchanged).
    fn assemble(
        source: Source,
        vendor: &str,
        mut level_dirs: Vec<Arc<Directory>>,
        mut properties: BTreeMap<String, String>,
        associated: BTreeMap<String, Associated>,
        app14: bool,
    ) -> Result<Self> {
        let name = source.name().to_string();
        if level_dirs.is_empty() {
            return Err(Error::corrupt(&name, "no tiled image levels"));
        }
        level_dirs.sort_by_key(|d| std::cmp::Reverse(d.width));
        let (w0, h0) = (
            f64::from(level_dirs[0].width),
            f64::from(level_dirs[0].height),
        );
        let mut levels = Vec::with_capacity(level_dirs.len());
        for dir in level_dirs {
            let (tw, th) = dir.tile_size.unwrap_or((dir.width, dir.rows_per_strip));
            let downsample = (w0 / f64::from(dir.width) + h0 / f64::from(dir.height)) / 2.0;
            let codec = TileCodec::new(&dir, &name).map_err(|e| e.to_string());
            let passthrough_prefix = if dir.compression == compression::JPEG
                && dir.is_tiled()
                && matches!(dir.samples_per_pixel, 1 | 3)
            {
                let rgb = app14 && dir.photometric == photometric::RGB;
                Some(
                    jpeg::tile_prefix(dir.jpeg_tables.as_deref(), rgb)
                        .map_err(|e| Error::corrupt(&name, e.0))?,
                )
            } else {
                None
            };
            levels.push(Level {
                width: u64::from(dir.width),
                height: u64::from(dir.height),
                downsample: if levels.is_empty() { 1.0 } else { downsample },
                tile_width: tw,
                tile_height: th,
                tiles_across: dir.width.div_ceil(tw),
                tiles_down: dir.height.div_ceil(th),
                compression: dir.compression,
                dir,
                codec,
                passthrough_prefix,
                channel_dirs: Vec::new(),
            });
        }
        properties.insert("openslide.vendor".into(), vendor.into());
        properties.insert("openslide.level-count".into(), levels.len().to_string());
        for (i, l) in levels.iter().enumerate() {
            let p = format!("openslide.level[{i}]");
            properties.insert(format!("{p}.width"), l.width.to_string());
            properties.insert(format!("{p}.height"), l.height.to_string());
            properties.insert(format!("{p}.downsample"), format_double(l.downsample));
            properties.insert(format!("{p}.tile-width"), l.tile_width.to_string());
            properties.insert(format!("{p}.tile-height"), l.tile_height.to_string());
        }
        for (n, a) in &associated {
            let p = format!("openslide.associated.{n}");
            properties.insert(format!("{p}.width"), a.dir.width.to_string());
            properties.insert(format!("{p}.height"), a.dir.height.to_string());
        }
        if let Some(icc) = levels[0].dir.icc_size {
            properties.insert("openslide.icc-size".into(), icc.to_string());
        }
        Ok(Self {
            source,
            vendor: vendor.to_string(),
            levels,
            properties,
            associated,
            tiles: ByteCache::new(DEFAULT_TILE_CACHE_BYTES),
            budget: None,
            #[cfg(feature = "openslide")]
            osr: None,
            runtime: None,
            planes: None,
            display: None,
            series: Vec::new(),
            series_name: None,
        })
    }

    /// Make every render of this slide (regions, thumbnails, decoded tiles, Deep Zoom tiles)
    /// reserve its peak memory from `budget` first, failing with [`Error::Busy`] when it is
    /// used up (see [`crate::budget`]).
    pub fn with_budget(mut self, budget: Arc<RenderBudget>) -> Self {
        if let Some(p) = &mut self.planes {
            for s in p.slides.iter_mut().flatten() {
                if let Some(s) = Arc::get_mut(s) {
                    s.budget = Some(budget.clone());
                }
            }
        }
        self.budget = Some(budget);
        self
    }

    /// The render budget, if any.
    pub fn budget(&self) -> Option<&RenderBudget> {
        self.budget.as_deref()
    }

    /// Keep at most `bytes` of decoded tiles for this slide (default
    /// [`DEFAULT_TILE_CACHE_BYTES`]; 0 disables the cache).
    pub fn with_tile_cache_bytes(mut self, bytes: usize) -> Self {
        self.tiles = ByteCache::new(bytes);
        self
    }

    /// The source's name (URL or path), as used in errors.
    pub fn name(&self) -> &str {
        self.source.name()
    }

    /// The byte source the slide reads from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// `aperio`, `generic-tiff`, `ome-tiff` or `tiff` (OpenSlide's `openslide.vendor`), or
    /// OpenSlide's vendor for slides it reads.
    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// Level 0 width and height.
    pub fn dimensions(&self) -> (u64, u64) {
        (self.levels[0].width, self.levels[0].height)
    }

    /// Number of levels.
    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// All levels, finest first.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// One level, or [`Error::NotFound`].
    pub fn level(&self, level: usize) -> Result<&Level> {
        self.levels
            .get(level)
            .ok_or_else(|| Error::not_found(format!("level {level} of {}", self.name())))
    }

    /// Width and height of each level.
    pub fn level_dimensions(&self) -> Vec<(u64, u64)> {
        self.levels.iter().map(|l| (l.width, l.height)).collect()
    }

    /// Downsample of each level.
    pub fn level_downsamples(&self) -> Vec<f64> {
        self.levels.iter().map(|l| l.downsample).collect()
    }

    /// Properties with OpenSlide's names (`openslide.*`, `tiff.*`, `aperio.*`).
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// Names of the associated images (`label`, `macro`, `thumbnail` …).
    pub fn associated_image_names(&self) -> Vec<&str> {
        self.associated.keys().map(String::as_str).collect()
    }

    /// The level OpenSlide picks for `downsample`: the last whose downsample is not above it.
    pub fn best_level_for_downsample(&self, downsample: f64) -> usize {
        if downsample < self.levels[0].downsample {
            return 0;
        }
        for (i, l) in self.levels.iter().enumerate().skip(1) {
            if downsample < l.downsample {
                return i - 1;
            }
        }
        self.levels.len() - 1
    }

    fn tile_range(
        &self,
        level: usize,
        col: u32,
        row: u32,
    ) -> Result<(&Level, std::ops::Range<u64>)> {
        let l = self.level(level)?;
        if col >= l.tiles_across || row >= l.tiles_down {
            return Err(Error::not_found(format!(
                "tile {col},{row} of level {level} ({}x{} tiles) in {}",
                l.tiles_across,
                l.tiles_down,
                self.name()
            )));
        }
        let i = row as usize * l.tiles_across as usize + col as usize;
        let (Some(&off), Some(&len)) = (l.dir.offsets.get(i), l.dir.byte_counts.get(i)) else {
            return Err(Error::unsupported(format!(
                "{}: level {level} has no stored tiles (read it with read_region)",
                self.name()
            )));
        };
        let end = off
            .checked_add(len)
            .ok_or_else(|| Error::corrupt(self.name(), format!("tile {i} offset overflows")))?;
        Ok((l, off..end))
    }

    /// The stored (compressed) bytes of a native tile: one ranged read.
    pub async fn raw_tile(&self, level: usize, col: u32, row: u32) -> Result<Bytes> {
        let (_, range) = self.tile_range(level, col, row)?;
        self.source.read(range).await
    }

    /// A native JPEG tile without decoding (tables spliced in, APP14 when the TIFF holds RGB).
    /// Exactly one ranged read. [`Error::Unsupported`] if the level is not JPEG-tiled.
    pub async fn native_tile(&self, level: usize, col: u32, row: u32) -> Result<NativeTile> {
        let (l, range) = self.tile_range(level, col, row)?;
        let Some(prefix) = &l.passthrough_prefix else {
            return Err(Error::unsupported(format!(
                "{}: level {level} is {} compressed, not JPEG tiles",
                self.name(),
                tiff::compression_name(l.compression)
            )));
        };
        if range.is_empty() {
            return Err(Error::not_found(format!(
                "tile {col},{row} of level {level} (sparse)"
            )));
        }
        let raw = self.source.read(range).await?;
        let body = jpeg::tile_body(&raw).map_err(|e| Error::corrupt(self.name(), e.0))?;
        Ok(NativeTile {
            prefix: prefix.clone(),
            body,
        })
    }

    /// Several native JPEG tiles of one level, with neighbouring tiles fetched in one
    /// coalesced read (a viewer's batch, a prefetch).
    pub async fn native_tiles(
        &self,
        level: usize,
        tiles: &[(u32, u32)],
    ) -> Result<Vec<NativeTile>> {
        let l = self.level(level)?;
        let Some(prefix) = &l.passthrough_prefix else {
            return Err(Error::unsupported(format!(
                "{}: level {level} is {} compressed, not JPEG tiles",
                self.name(),
                tiff::compression_name(l.compression)
            )));
        };
        let mut ranges = Vec::with_capacity(tiles.len());
        for &(c, r) in tiles {
            let range = self.tile_range(level, c, r)?.1;
            if range.is_empty() {
                return Err(Error::not_found(format!(
                    "tile {c},{r} of level {level} (sparse)"
                )));
            }
            ranges.push(range);
        }
        self.source
            .read_many(&ranges)
            .await?
            .into_iter()
            .map(|raw| {
                let body = jpeg::tile_body(&raw).map_err(|e| Error::corrupt(self.name(), e.0))?;
                Ok(NativeTile {
                    prefix: prefix.clone(),
                    body,
                })
            })
            .collect()
    }

    /// A native tile decoded to RGB at its full stored size (edge tiles include padding),
    /// through the slide's byte-bounded tile cache and the CPU pool.
    pub async fn decoded_tile(&self, level: usize, col: u32, row: u32) -> Result<Arc<Image>> {
        if let Some(t) = self.tiles.get(&(level, col, row)) {
            return Ok(t);
        }
        let (l, range) = self.tile_range(level, col, row)?;
        if !l.channel_dirs.is_empty() {
            let img = Arc::new(self.composite_tiles(level, &[(col, row)]).await?.remove(0));
            self.tiles.insert((level, col, row), img.clone());
            return Ok(img);
        }
        let codec = l.codec.clone().map_err(Error::unsupported)?;
        let (w, h) = (l.tile_width, l.tile_height);
        let _held = crate::budget::reserve(
            self.budget(),
            (u64::from(w) * u64::from(h))
                .saturating_mul(3)
                .saturating_add(range.end - range.start),
            &format_args!("tile {col},{row} of level {level} of {}", self.name()),
        )?;
        let img = if range.is_empty() {
            // Sparse tile: OpenSlide paints nothing, which reads as white after compositing.
            blank_tile(w, h, self.name())?
        } else {
            let raw = self.source.read(range).await?;
            let name = self.name().to_string();
            crate::cpu::run(move || codec.decode(&raw, w, h, &name)).await?
        };
        let img = Arc::new(img);
        self.tiles.insert((level, col, row), img.clone());
        Ok(img)
    }

    /// An associated image decoded to RGB.
    pub async fn associated_image(&self, name: &str) -> Result<Image> {
        #[cfg(feature = "openslide")]
        if let Some(osr) = &self.osr {
            return openslide::associated(osr.clone(), name, self.name()).await;
        }
        if let Some(h) = &self.runtime {
            return runtime::associated(h.clone(), name, self.name()).await;
        }
        let a = self.associated.get(name).ok_or_else(|| {
            Error::not_found(format!("associated image {name:?} in {}", self.name()))
        })?;
        self.read_whole_directory(&a.dir).await
    }

    /// Decode every strip or tile of `dir` into one RGB image (associated images, one-level
    /// striped TIFFs). Bounded by [`crate::codec::MAX_DECODED_BYTES`].
    async fn read_whole_directory(&self, dir: &Arc<Directory>) -> Result<Image> {
        let codec = TileCodec::new(dir, self.name())?;
        let (w, h) = (dir.width, dir.height);
        if (w as usize).saturating_mul(h as usize).saturating_mul(3)
            > crate::codec::MAX_DECODED_BYTES
        {
            return Err(Error::unsupported(format!(
                "{}: {w}x{h} image is too large to decode whole",
                self.name()
            )));
        }
        let _held = crate::budget::reserve(
            self.budget(),
            w as u64 * h as u64 * 3 * 2,
            &format_args!("a {w}x{h} image of {}", self.name()),
        )?;
        let (tw, th) = dir.tile_size.unwrap_or((w, dir.rows_per_strip));
        let across = w.div_ceil(tw);
        let down = h.div_ceil(th);
        let n = across as usize * down as usize;
        let ranges: Vec<_> = (0..n)
            .map(|i| dir.offsets[i]..dir.offsets[i].saturating_add(dir.byte_counts[i]))
            .collect();
        let blocks = self.source.read_many(&ranges).await?;
        let name = self.name().to_string();
        let striped = !dir.is_tiled();
        crate::cpu::run(move || {
            let mut out = Image::new(w, h, 3);
            for (i, raw) in blocks.iter().enumerate() {
                let (c, r) = (i as u32 % across, i as u32 / across);
                // Strips are stored at their true height; tiles at full size.
                let bh = if striped { th.min(h - r * th) } else { th };
                let block = codec.decode(raw, tw, bh, &name)?;
                region::blit(&block, &mut out, i64::from(c * tw), i64::from(r * th));
            }
            Ok(out)
        })
        .await
    }
}

/// A white `w` × `h` tile (a sparse tile, which OpenSlide leaves unpainted), no larger than a
/// decoded tile may be: a hostile header cannot make an empty tile allocate gigabytes.
pub(crate) fn blank_tile(w: u32, h: u32, name: &str) -> Result<Image> {
    let len = (w as usize).saturating_mul(h as usize).saturating_mul(3);
    if len > crate::codec::MAX_DECODED_BYTES || len == 0 {
        return Err(Error::unsupported(format!(
            "{name}: {w}x{h} tile is too large"
        )));
    }
    Ok(Image {
        width: w,
        height: h,
        channels: 3,
        data: vec![255; len],
    })
}

/// Aperio names label and macro images by the second line of their ImageDescription.
fn aperio_associated_name(dir: &Directory) -> Option<String> {
    let desc = dir.description.as_deref()?;
    let line = desc.split(['\r', '\n']).filter(|s| !s.is_empty()).nth(1)?;
    let word = line.split(' ').next()?;
    matches!(word, "label" | "macro").then(|| word.to_string())
}

#[cfg(test)]
mod tests;
