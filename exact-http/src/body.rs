//! Request bodies as EXACT's clients send them: JSON (objects, or lists for bulk creates) or
//! URL-encoded forms, with Python-ish scalars (`1` for true, `"12"` for 12), read through
//! [`exact_core::wire`]. Unknown fields are ignored, as DRF serializers do; wrong types are a
//! 400 naming the field.

use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// The largest body accepted (bulk annotation creates are the big ones).
pub const BODY_LIMIT: usize = 64 << 20;

/// A parsed request body.
#[derive(Debug, Clone)]
pub struct Body(pub Value);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            // A client that stopped sending its body is told so (408), not that it was malformed.
            if crate::serve::is_body_timeout(&e) {
                return ApiError::Rejected {
                    status: axum::http::StatusCode::REQUEST_TIMEOUT,
                    detail: "the request body stopped arriving (body read timeout)".into(),
                };
            }
            ApiError::Rejected {
                status: e.status(),
                detail: e.body_text(),
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Value::Null));
        }
        if form {
            let mut map = Map::new();
            for (k, v) in url::form_urlencoded::parse(&bytes) {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            return Ok(Body(Value::Object(map)));
        }
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::bad("body", format!("invalid JSON: {e}")))
    }
}

impl Body {
    /// The body as one object; `null`/empty → 400 naming `what` is required.
    pub fn object(self) -> ApiResult<Obj> {
        match self.0 {
            Value::Object(m) => Ok(Obj(m)),
            Value::Null => Err(ApiError::bad("body", "a JSON object is required")),
            other => Err(ApiError::bad(
                "body",
                format!("expected a JSON object, got {}", kind(&other)),
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A body object: EXACT's lenient accessors, shared with the Python wheel.
pub use exact_core::wire::{Obj, as_bool, parse_bool};
