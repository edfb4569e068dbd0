//! exact-py: Python bindings of exact-rs, the native half of the wheel `exact-wsi`.
//!
//! The Rust extension is `exact_wsi._native`; the Python package `exact_wsi` (in `python/`)
//! wraps it with openslide-python's API (PIL images, numpy arrays, mappings), so the pixel
//! conversions that need PIL or numpy stay in Python and this crate needs neither.
//!
//! - [`runtime`]: one lazily created tokio runtime, re-created after `fork`; blocking calls
//!   release the GIL and stay interruptible by Ctrl-C;
//! - [`errors`]: error kinds mapped to the `exact_wsi.ExactError` hierarchy;
//! - [`slide`]: slides and Deep Zoom generators.

pub mod errors;
pub mod runtime;
pub mod slide;

use pyo3::prelude::*;

/// The extension module `exact_wsi._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<slide::NativeSlide>()?;
    m.add_class::<slide::NativeDeepZoom>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
