//! The error type of exact-core: every failure a caller can act on has its own variant, and
//! [`ErrorKind`] is the small `Copy` tag the HTTP and Python layers map exhaustively.

use std::fmt;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (or is not visible to the caller, which must not learn more).
    #[error("{what} not found")]
    NotFound {
        /// Names the object, e.g. `image 12`.
        what: String,
    },
    /// A unique name or key is already taken.
    #[error("{what} already exists")]
    AlreadyExists {
        /// Names the conflicting object, e.g. `team named "pathology"`.
        what: String,
    },
    /// A field of the input breaks a rule.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field, as the API spells it (`vector.x3`, `name`).
        field: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The caller may see the object but not do this to it.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// What was refused and why.
        reason: String,
    },
    /// A feature or format this build does not support.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
    /// Stored data that cannot be decoded.
    #[error("corrupt data in {source_name}: {detail}")]
    Corrupt {
        /// The store, file or record that is damaged.
        source_name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A concurrent writer changed the object first; retrying may succeed.
    #[error("conflict: {what} was changed concurrently")]
    Conflict {
        /// The object that changed.
        what: String,
    },
    /// The caller's precondition (an HTTP `If-Match` version) no longer holds: someone else
    /// changed the object since the caller read it. Nothing was written; re-read and retry.
    #[error("{what} was changed since version {expected}; it is now at version {current}")]
    Stale {
        /// The object, e.g. `annotation 12`.
        what: String,
        /// The version(s) the caller expected, as given.
        expected: String,
        /// The object's current version.
        current: String,
    },
    /// The object exists but is not ready yet (an image whose pixels are being converted);
    /// asking again later may succeed.
    #[error("{what} is not ready: {detail}")]
    NotReady {
        /// The object, e.g. `image 12`.
        what: String,
        /// What it is waiting for.
        detail: String,
    },
    /// The object exists but its content cannot be served: its conversion failed or its file
    /// is damaged. Asking again will not help.
    #[error("{what} cannot be served: {detail}")]
    Unservable {
        /// The object, e.g. `image 12`.
        what: String,
        /// Why (the conversion's or the reader's reason, without server paths).
        detail: String,
    },
    /// An upload beyond the upload limit (`EXACT_MAX_UPLOAD`).
    #[error("{what} is larger than the upload limit of {limit} bytes")]
    TooLarge {
        /// What was too large, e.g. the uploaded file's name.
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The storage backend failed (I/O, network, database).
    #[error("storage backend {backend} failed")]
    Backend {
        /// The backend, e.g. `sled://./exact-data/db`.
        backend: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The category of an [`Error`]; matched exhaustively by the HTTP and Python layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::AlreadyExists`].
    AlreadyExists,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::PermissionDenied`].
    PermissionDenied,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::Corrupt`].
    Corrupt,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::Stale`].
    Stale,
    /// See [`Error::NotReady`].
    NotReady,
    /// See [`Error::Unservable`].
    Unservable,
    /// See [`Error::TooLarge`].
    TooLarge,
    /// See [`Error::Backend`].
    Backend,
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Stale { .. } => ErrorKind::Stale,
            Error::NotReady { .. } => ErrorKind::NotReady,
            Error::Unservable { .. } => ErrorKind::Unservable,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// `NotFound` for `what`.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Error::NotFound {
            what: what.to_string(),
        }
    }

    /// `InvalidInput` for `field` breaking `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// `PermissionDenied` with a reason.
    pub fn denied(reason: impl Into<String>) -> Self {
        Error::PermissionDenied {
            reason: reason.into(),
        }
    }

    /// `AlreadyExists` for `what`.
    pub fn exists(what: impl Into<String>) -> Self {
        Error::AlreadyExists { what: what.into() }
    }

    /// `Corrupt` data in `source_name`.
    pub fn corrupt(source_name: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            source_name: source_name.into(),
            detail: detail.into(),
        }
    }

    /// `Backend` failure of `backend`.
    pub fn backend(
        backend: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Backend {
            backend: backend.into(),
            source: source.into(),
        }
    }
}
