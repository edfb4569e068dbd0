//! Maps library errors onto HTTP: client errors keep their status and a JSON body naming what
//! was wrong; internal errors become a plain 500 and are logged with their source chain.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use exact_core::{Error, ErrorKind};
use serde_json::json;

/// An error answered over HTTP.
#[derive(Debug)]
pub enum ApiError {
    /// A library error; its kind decides the status.
    Core(Error),
    /// No or wrong credentials (401 with a `WWW-Authenticate` challenge).
    Unauthenticated(String),
    /// The body could not be read (too large: 413, and the like), with axum's status.
    Rejected {
        /// The status to answer.
        status: StatusCode,
        /// Why.
        detail: String,
    },
    /// Too many failed logins from this client or for this account: 429 with `Retry-After`.
    Throttled {
        /// Seconds until the next attempt is considered.
        retry_after: u64,
        /// Why.
        detail: String,
    },
    /// The request is malformed before it reaches the library (400 naming the field).
    BadRequest {
        /// The offending field or parameter (`body` for the whole body).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A shared resource (the render memory budget) is used up right now: 503 with
    /// `Retry-After`.
    Busy {
        /// Seconds after which the client may retry.
        retry_after_secs: u32,
        /// What could not be done.
        detail: String,
    },
}

/// Results of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

/// The status code of an error kind (exhaustive: a new kind forces a decision here).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::Unsupported => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Stale => StatusCode::PRECONDITION_FAILED,
        // EXACT answers a tile of an image still being converted with 202 (try again).
        ErrorKind::NotReady => StatusCode::ACCEPTED,
        ErrorKind::Unservable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Corrupt => StatusCode::INTERNAL_SERVER_ERROR,
        // The database or object store is down or unreachable: nothing was written (batches
        // are atomic) and the same request may succeed once it is back (the pool reconnects).
        ErrorKind::Backend => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = match self {
            ApiError::Unauthenticated(detail) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"api\"")],
                    Json(json!({ "detail": detail })),
                )
                    .into_response();
            }
            ApiError::Rejected { status, detail } => {
                return (status, Json(json!({ "detail": detail }))).into_response();
            }
            ApiError::Throttled {
                retry_after,
                detail,
            } => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after.to_string())],
                    Json(json!({ "detail": detail, "retry_after": retry_after })),
                )
                    .into_response();
            }
            ApiError::Busy {
                retry_after_secs,
                detail,
            } => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, retry_after_secs.to_string())],
                    Json(json!({ "detail": detail })),
                )
                    .into_response();
            }
            ApiError::BadRequest { field, reason } => {
                let detail = format!("{field}: {reason}");
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ field: [reason], "detail": detail })),
                )
                    .into_response();
            }
            ApiError::Core(e) => e,
        };
        let status = status_of(e.kind());
        if status.is_server_error() {
            let mut chain = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            // Backend locations are redacted where they are made; the chain names no secret.
            tracing::error!(error = %chain, "internal error");
            crate::routes::admin::remember_error(&chain);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // The reason says which store is down, not where it is or how it failed
                // (that is in the log).
                let kind = match &e {
                    Error::Backend { backend, .. } => backend.split("://").next().unwrap_or(""),
                    _ => "",
                };
                return (
                    status,
                    [(header::RETRY_AFTER, "1")],
                    Json(json!({
                        "detail": format!(
                            "the {kind} storage backend is unavailable; nothing was written, \
                             try again shortly"
                        ),
                        "backend": kind,
                    })),
                )
                    .into_response();
            }
            return (status, Json(json!({"detail": "internal server error"}))).into_response();
        }
        let body = match &e {
            Error::InvalidInput { field, reason } => {
                json!({ field.clone(): [reason], "detail": e.to_string() })
            }
            Error::Stale { current, .. } => {
                json!({ "detail": e.to_string(), "current_version": current })
            }
            other => json!({"detail": other.to_string()}),
        };
        (status, Json(body)).into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Core(e) => e.fmt(f),
            ApiError::Unauthenticated(d)
            | ApiError::Rejected { detail: d, .. }
            | ApiError::Throttled { detail: d, .. }
            | ApiError::Busy { detail: d, .. } => f.write_str(d),
            ApiError::BadRequest { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}
