//! Slides and Deep Zoom generators as native classes.
//!
//! Pixels cross into Python as `bytearray`s (one copy, writable, so `numpy.frombuffer` gives a
//! writable array without a second copy); the Python layer turns them into PIL images or numpy
//! arrays. Every read runs on the runtime with the GIL released ([`crate::runtime::block_on`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use exact_tiles::deepzoom::{DeepZoomGenerator, DeepZoomOptions};
use exact_tiles::{Image, Slide};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::errors;
use crate::runtime::block_on;

/// Width, height, channels and pixels of a decoded image.
type Pixels<'py> = (u32, u32, u8, Bound<'py, PyByteArray>);

fn pixels(py: Python<'_>, img: Image) -> Pixels<'_> {
    (
        img.width,
        img.height,
        img.channels,
        PyByteArray::new(py, &img.data),
    )
}

/// An open slide (the engine's [`Slide`]).
#[pyclass(frozen, module = "exact_wsi._native")]
pub struct NativeSlide {
    pub(crate) slide: Arc<Slide>,
    url: String,
}

impl NativeSlide {
    /// A slide the store opened (by image id, with permissions): `url` names it.
    pub(crate) fn from_slide(slide: Arc<Slide>, url: String) -> Self {
        Self { slide, url }
    }
}

#[pymethods]
impl NativeSlide {
    /// Open a path or URL (`file://`, `s3://bucket/key`, `memory://`).
    #[new]
    fn new(py: Python<'_>, url: String) -> PyResult<Self> {
        let u = url.clone();
        let slide = block_on(py, async move { Slide::open(&u).await })?.map_err(errors::tiles)?;
        Ok(Self {
            slide: Arc::new(slide),
            url,
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn vendor(&self) -> &str {
        self.slide.vendor()
    }

    /// `(depth, frames)`: z planes and time points (1, 1 for a single-plane slide).
    #[getter]
    fn planes(&self) -> (u32, u32) {
        (self.slide.depth(), self.slide.frames())
    }

    /// The composited channels as `(name, "#rrggbb", bits)` (empty for RGB slides).
    #[getter]
    fn channels(&self) -> Vec<(Option<String>, String, u16)> {
        self.slide
            .channels()
            .iter()
            .map(|c| {
                let [r, g, b] = c.color;
                (c.name.clone(), format!("#{r:02x}{g:02x}{b:02x}"), c.bits)
            })
            .collect()
    }

    /// The plane at `z`, `frame` (1-based, as EXACT's URLs), sharing the open file.
    fn plane(&self, z: i64, frame: i64) -> PyResult<Self> {
        let (z, frame) = (plane_number("z", z)?, plane_number("frame", frame)?);
        let slide = self.slide.plane(z, frame).map_err(errors::tiles)?;
        Ok(Self {
            slide,
            url: self.url.clone(),
        })
    }

    /// Image series in the file (an OME-TIFF's `Image` count; 1 for other slides).
    #[getter]
    fn series_count(&self) -> usize {
        self.slide.series_count()
    }

    /// The name of each series, where the file gives one.
    #[getter]
    fn series_names(&self) -> Vec<Option<String>> {
        self.slide.series_names()
    }

    /// Series `n` (from 0, as tifffile and Bio-Formats count), sharing the open file.
    fn series(&self, n: i64) -> PyResult<Self> {
        let n = usize::try_from(n).map_err(|_| {
            pyo3::exceptions::PyValueError::new_err(format!("series must be 0 or more, not {n}"))
        })?;
        let slide = self.slide.series(n).map_err(errors::tiles)?;
        Ok(Self {
            slide,
            url: self.url.clone(),
        })
    }

    #[getter]
    fn level_dimensions(&self) -> Vec<(u64, u64)> {
        self.slide.level_dimensions()
    }

    #[getter]
    fn level_downsamples(&self) -> Vec<f64> {
        self.slide.level_downsamples()
    }

    /// `(tile_width, tile_height)` of each level.
    #[getter]
    fn level_tile_sizes(&self) -> Vec<(u32, u32)> {
        self.slide
            .levels()
            .iter()
            .map(|l| (l.tile_width, l.tile_height))
            .collect()
    }

    #[getter]
    fn properties(&self) -> BTreeMap<String, String> {
        self.slide.properties().clone()
    }

    #[getter]
    fn associated_image_names(&self) -> Vec<String> {
        self.slide
            .associated_image_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn best_level_for_downsample(&self, downsample: f64) -> PyResult<usize> {
        if !downsample.is_finite() {
            return Err(errors::invalid(format!(
                "downsample must be finite, got {downsample}"
            )));
        }
        Ok(self.slide.best_level_for_downsample(downsample))
    }

    /// RGBA pixels of a region: `(width, height, 4, bytearray)`.
    fn read_region<'py>(
        &self,
        py: Python<'py>,
        x: i64,
        y: i64,
        level: i64,
        width: i64,
        height: i64,
    ) -> PyResult<Pixels<'py>> {
        let level = self.check_level(level)?;
        let (w, h) = (size("width", width)?, size("height", height)?);
        let slide = self.slide.clone();
        let img = block_on(
            py,
            async move { slide.read_region(x, y, level, w, h).await },
        )?
        .map_err(errors::tiles)?;
        Ok(pixels(py, img))
    }

    /// A thumbnail fitting in `width` × `height` (RGB).
    fn thumbnail<'py>(&self, py: Python<'py>, width: i64, height: i64) -> PyResult<Pixels<'py>> {
        let (w, h) = (size("width", width)?, size("height", height)?);
        let slide = self.slide.clone();
        let img =
            block_on(py, async move { slide.thumbnail(w, h).await })?.map_err(errors::tiles)?;
        Ok(pixels(py, img))
    }

    /// An associated image (label, macro, thumbnail …) by name.
    fn associated_image<'py>(&self, py: Python<'py>, name: String) -> PyResult<Pixels<'py>> {
        let slide = self.slide.clone();
        let img = block_on(py, async move { slide.associated_image(&name).await })?
            .map_err(errors::tiles)?;
        Ok(pixels(py, img))
    }

    /// A native tile's bytes as stored (JPEG tables spliced in front for JPEG tiles), without
    /// decoding.
    fn native_tile<'py>(
        &self,
        py: Python<'py>,
        level: i64,
        col: u32,
        row: u32,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let level = self.check_level(level)?;
        let slide = self.slide.clone();
        let tile = block_on(py, async move { slide.native_tile(level, col, row).await })?
            .map_err(errors::tiles)?;
        Ok(PyBytes::new(py, &tile.to_bytes()))
    }

    fn __repr__(&self) -> String {
        let (w, h) = self.slide.dimensions();
        format!(
            "NativeSlide({:?}, {w}x{h}, {} levels)",
            self.url,
            self.slide.level_count()
        )
    }
}

impl NativeSlide {
    fn check_level(&self, level: i64) -> PyResult<usize> {
        usize::try_from(level)
            .ok()
            .filter(|&l| l < self.slide.level_count())
            .ok_or_else(|| {
                errors::invalid(format!(
                    "level {level} out of range (slide has {} levels)",
                    self.slide.level_count()
                ))
            })
    }
}

/// A 1-based plane number.
fn plane_number(field: &str, v: i64) -> PyResult<u32> {
    u32::try_from(v).ok().filter(|&v| v >= 1).ok_or_else(|| {
        errors::invalid(format!("{field}: {v} is not a plane (planes count from 1)"))
    })
}

fn size(field: &str, v: i64) -> PyResult<u32> {
    u32::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| errors::invalid(format!("{field} must be a positive 32-bit size, got {v}")))
}

/// Deep Zoom tiles of one slide with openslide-python's geometry.
#[pyclass(frozen, module = "exact_wsi._native")]
pub struct NativeDeepZoom {
    dz: DeepZoomGenerator,
}

#[pymethods]
impl NativeDeepZoom {
    #[new]
    #[pyo3(signature = (slide, tile_size=254, overlap=1, limit_bounds=false, quality=75))]
    fn new(
        slide: &NativeSlide,
        tile_size: i64,
        overlap: i64,
        limit_bounds: bool,
        quality: i64,
    ) -> PyResult<Self> {
        let tile_size = size("tile_size", tile_size)?;
        let overlap = u32::try_from(overlap)
            .map_err(|_| errors::invalid(format!("overlap must be >= 0, got {overlap}")))?;
        let quality = u8::try_from(quality)
            .ok()
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| errors::invalid(format!("quality must be 1..=100, got {quality}")))?;
        let opts = DeepZoomOptions {
            tile_size,
            overlap,
            limit_bounds,
            quality,
        };
        let dz = DeepZoomGenerator::new(slide.slide.clone(), opts).map_err(errors::tiles)?;
        Ok(Self { dz })
    }

    #[getter]
    fn level_count(&self) -> usize {
        self.dz.geometry().level_count()
    }

    #[getter]
    fn level_tiles(&self) -> Vec<(u32, u32)> {
        self.dz.geometry().level_tiles().to_vec()
    }

    #[getter]
    fn level_dimensions(&self) -> Vec<(u64, u64)> {
        self.dz.geometry().level_dimensions().to_vec()
    }

    #[getter]
    fn tile_count(&self) -> u64 {
        self.dz.geometry().tile_count()
    }

    fn dzi(&self, format: &str) -> String {
        self.dz.geometry().dzi(format)
    }

    /// `((x, y), slide_level, (w, h), (tile_w, tile_h))` of a tile: where it is read from.
    #[allow(clippy::type_complexity)]
    fn tile_info(
        &self,
        level: i64,
        col: i64,
        row: i64,
    ) -> PyResult<((i64, i64), usize, (u32, u32), (u32, u32))> {
        let (level, col, row) = self.address(level, col, row)?;
        let i = self
            .dz
            .geometry()
            .tile_info(level, col, row)
            .map_err(errors::tiles)?;
        Ok((i.l0_location, i.slide_level, i.l_size, i.z_size))
    }

    /// A tile's RGB pixels.
    fn render<'py>(
        &self,
        py: Python<'py>,
        level: i64,
        col: i64,
        row: i64,
    ) -> PyResult<Pixels<'py>> {
        let (level, col, row) = self.address(level, col, row)?;
        let img = block_on(py, self.dz.render(level, col, row))?.map_err(errors::tiles)?;
        Ok(pixels(py, img))
    }

    /// A tile as JPEG bytes, passed through untouched when it is a native tile.
    fn tile<'py>(
        &self,
        py: Python<'py>,
        level: i64,
        col: i64,
        row: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (level, col, row) = self.address(level, col, row)?;
        let bytes = block_on(py, self.dz.tile(level, col, row))?.map_err(errors::tiles)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

impl NativeDeepZoom {
    fn address(&self, level: i64, col: i64, row: i64) -> PyResult<(usize, u32, u32)> {
        let g = self.dz.geometry();
        let level_ok = usize::try_from(level)
            .ok()
            .filter(|&l| l < g.level_count())
            .ok_or_else(|| {
                errors::invalid(format!(
                    "level {level} out of range (0..{})",
                    g.level_count()
                ))
            })?;
        let (tc, tr) = g.level_tiles()[level_ok];
        let c = u32::try_from(col).ok().filter(|&c| c < tc);
        let r = u32::try_from(row).ok().filter(|&r| r < tr);
        match (c, r) {
            (Some(c), Some(r)) => Ok((level_ok, c, r)),
            _ => Err(errors::invalid(format!(
                "tile ({col}, {row}) out of range ({tc}x{tr} tiles at level {level})"
            ))),
        }
    }
}
