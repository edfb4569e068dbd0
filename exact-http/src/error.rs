//! Maps library errors onto HTTP: client errors keep their status and a JSON body naming what
//! was wrong; internal errors become a plain 500 and are logged with their source chain.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use exact_core::{Error, ErrorKind};
use serde_json::json;

/// An error answered over HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
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
        ErrorKind::Corrupt | ErrorKind::Backend => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.0.kind());
        if status.is_server_error() {
            let mut chain = self.0.to_string();
            let mut source = std::error::Error::source(&self.0);
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(error = %chain, "internal error");
            return (status, Json(json!({"detail": "internal server error"}))).into_response();
        }
        let body = match &self.0 {
            Error::InvalidInput { field, reason } => {
                json!({ field.clone(): [reason], "detail": self.0.to_string() })
            }
            other => json!({"detail": other.to_string()}),
        };
        (status, Json(body)).into_response()
    }
}
