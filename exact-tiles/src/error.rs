//! The crate's error type: one enum whose variants say what a caller can act on, and a small
//! `Copy` [`ErrorKind`] that the HTTP and Python layers match exhaustively.

use std::fmt;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while opening or reading a slide.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object, level, tile or associated image does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (a URL, a path, "level 7", …).
        what: String,
    },
    /// A caller-supplied argument is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument that was wrong.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// The file is well-formed but uses something this build cannot read
    /// (a compression, a format, a URL scheme).
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is unsupported, naming the file where there is one.
        what: String,
    },
    /// The file is damaged or hostile: truncated, looping, absurd sizes.
    #[error("{source_name}: corrupt: {detail}")]
    Corrupt {
        /// The file (URL or path) that is damaged.
        source_name: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The storage backend failed (network, permissions, I/O).
    #[error("storage error on {source_name}: {source}")]
    Backend {
        /// The object the request was for.
        source_name: String,
        /// The backend's own error.
        #[source]
        source: object_store::Error,
    },
    /// The render memory budget ([`crate::budget::RenderBudget`]) is used up by other renders
    /// right now: the same request can succeed shortly.
    #[error("busy: {what}; retry in {retry_after_secs} s")]
    Busy {
        /// What could not start, and the budget it needed.
        what: String,
        /// Seconds after which a retry is reasonable.
        retry_after_secs: u32,
    },
    /// A local I/O operation (not through object_store) failed.
    #[error("I/O error on {source_name}: {source}")]
    Io {
        /// The file or directory involved.
        source_name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of an [`Error`], for mapping to HTTP statuses and Python exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::Corrupt`].
    Corrupt,
    /// See [`Error::Backend`] and [`Error::Io`].
    Backend,
    /// See [`Error::Busy`]: transient, retry later.
    Busy,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Backend { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                _ => ErrorKind::Backend,
            },
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Backend,
            },
        }
    }

    /// A [`Error::Corrupt`] for `source_name`.
    pub fn corrupt(source_name: impl fmt::Display, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            source_name: source_name.to_string(),
            detail: detail.into(),
        }
    }

    /// An [`Error::Unsupported`].
    pub fn unsupported(what: impl Into<String>) -> Self {
        Error::Unsupported { what: what.into() }
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Seconds a client should wait before retrying, for [`Error::Busy`].
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Error::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A [`Error::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// A [`Error::Backend`] for `source_name`; object_store's NotFound stays a backend error
    /// whose [`ErrorKind`] is [`ErrorKind::NotFound`].
    pub fn backend(source_name: impl fmt::Display, source: object_store::Error) -> Self {
        Error::Backend {
            source_name: source_name.to_string(),
            source,
        }
    }
}
