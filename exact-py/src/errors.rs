//! Error kinds to Python exceptions.
//!
//! The classes live in `exact_wsi/_errors.py` because Python needs multiple inheritance there
//! (not-found is also a `FileNotFoundError` and a `KeyError`, invalid input a `ValueError`).
//! The mapping matches the kind enums exhaustively, so a new kind forces a decision here; it
//! never looks at message text.

use pyo3::prelude::*;
use pyo3::types::PyType;

/// The `exact_wsi._errors` class for a kind name.
fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    let cls = py
        .import("exact_wsi._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match cls {
        Ok(cls) => PyErr::from_type(cls, message),
        // The package was imported without its Python half (only the extension): still raise.
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// Convert a tile-engine error into its typed Python exception.
pub fn tiles(err: exact_tiles::Error) -> PyErr {
    use exact_tiles::ErrorKind as K;
    let class = match err.kind() {
        K::NotFound => "NotFoundError",
        K::InvalidInput => "InvalidInputError",
        K::Unsupported => "UnsupportedError",
        K::Corrupt => "CorruptError",
        K::Backend => "BackendError",
    };
    Python::attach(|py| raise(py, class, err.to_string()))
}

/// An invalid-input exception raised by the bindings themselves.
pub fn invalid(message: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "InvalidInputError", message.into()))
}
