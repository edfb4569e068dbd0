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
//! - [`server`]: the HTTP server run in-process.

pub mod errors;
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
    m.add_class::<server::NativeServer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    keep_freed_memory_briefly();
    Ok(())
}

unsafe extern "C" {
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's `mi_option_purge_delay` (the same ordinal in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keep freed memory for a second before returning it to the OS, so the decoded tiles of the
/// next slide reuse pages instead of faulting in fresh zeroed ones (a seventh of the CPU time of
/// a cold Deep Zoom pass). Only when the option still has mimalloc's default of 10 ms: that
/// checks the ordinal, and leaves a `MIMALLOC_PURGE_DELAY` the user set alone.
fn keep_freed_memory_briefly() {
    // SAFETY: plain getters/setters of mimalloc's option table, callable at any time.
    unsafe {
        if mi_option_get(MI_OPTION_PURGE_DELAY) == 10 {
            mi_option_set(MI_OPTION_PURGE_DELAY, 1000);
        }
    }
}
