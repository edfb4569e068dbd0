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
        // Only a budgeted slide is ever busy; the Python API opens slides without one.
        K::Backend | K::Busy => "BackendError",
    };
    Python::attach(|py| raise(py, class, err.to_string()))
}

/// An invalid-input exception raised by the bindings themselves.
pub fn invalid(message: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "InvalidInputError", message.into()))
}

/// Convert a library (store, use case) error into its typed Python exception.
pub fn core(err: exact_core::Error) -> PyErr {
    use exact_core::ErrorKind as K;
    let class = match err.kind() {
        K::NotFound => "NotFoundError",
        K::AlreadyExists => "AlreadyExistsError",
        K::InvalidInput => "InvalidInputError",
        K::PermissionDenied => "PermissionDeniedError",
        K::Unsupported => "UnsupportedError",
        K::Corrupt => "CorruptError",
        // A stale version is a lost race, as a conflict: re-read and retry.
        K::Conflict | K::Stale => "ConflictError",
        K::NotReady => "NotReadyError",
        K::Unservable => "UnservableError",
        K::TooLarge => "TooLargeError",
        K::Backend => "BackendError",
    };
    // A backend error's own text only names the backend; the cause is what a user can act on.
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Python::attach(|py| raise(py, class, message))
}

/// The data directory is locked by another process (or another open handle).
pub fn in_use(message: String) -> PyErr {
    Python::attach(|py| raise(py, "StoreInUseError", message))
}

/// A handle used in a process it does not belong to (after `fork`), or after `close()`.
pub fn closed(message: impl Into<String>) -> PyErr {
    Python::attach(|py| raise(py, "ClosedError", message.into()))
}
