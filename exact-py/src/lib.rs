//! exact-py: Python bindings of exact-rs, the native half of the wheel `exact-wsi`.
//!
//! The Rust extension is `exact_wsi._native`; the Python package `exact_wsi` (in `python/`)
//! wraps it with openslide-python's API (PIL images, numpy arrays, mappings), so the pixel
//! conversions that need PIL or numpy stay in Python and this crate needs neither.
//!
//! - [`runtime`]: one lazily created tokio runtime, re-created after `fork`; blocking calls
//!   release the GIL and stay interruptible by Ctrl-C;
//! - [`errors`]: error kinds mapped to the `exact_wsi.ExactError` hierarchy;
//! - [`slide`]: slides and Deep Zoom generators;
//! - [`store`] and [`rows`]: the embedded store (the library handle `exact serve` uses), rows
//!   as EXACT's JSON and annotations as numpy-ready columns;
//! - [`files`]: uploads, slides by image id, downloads and media files of the store;
//! - [`server`]: the HTTP server run in-process.

pub mod errors;
pub mod files;
pub mod interop;
pub mod rows;
pub mod runtime;
pub mod server;
pub mod slide;
pub mod store;

use pyo3::prelude::*;

// Only Rust allocations: buffers handed to Python are copied into Python objects first.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The extension module `exact_wsi._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<slide::NativeSlide>()?;
    m.add_class::<slide::NativeDeepZoom>()?;
    m.add_class::<store::NativeStore>()?;
    m.add_class::<store::NativeBuffer>()?;
    m.add_class::<server::NativeServer>()?;
    m.add_function(wrap_pyfunction!(files::store_upload, m)?)?;
    m.add_function(wrap_pyfunction!(files::store_slide, m)?)?;
    m.add_function(wrap_pyfunction!(files::store_download, m)?)?;
    m.add_function(wrap_pyfunction!(files::store_attach_media, m)?)?;
    m.add_function(wrap_pyfunction!(files::store_media, m)?)?;
    m.add_function(wrap_pyfunction!(interop::store_import, m)?)?;
    m.add_function(wrap_pyfunction!(interop::store_export, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
