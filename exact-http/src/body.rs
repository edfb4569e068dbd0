//! Request bodies as EXACT's clients send them: JSON (objects, or lists for bulk creates) or
//! URL-encoded forms, with Python-ish scalars (`1` for true, `"12"` for 12). Unknown fields
//! are ignored, as DRF serializers do; wrong types are a 400 naming the field.

use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use exact_core::Timestamp;
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

/// A body object with typed, lenient accessors. `None` means absent.
#[derive(Debug, Clone, Default)]
pub struct Obj(pub Map<String, Value>);

impl Obj {
    /// The raw value of `key`.
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Whether `key` is present.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// A string field.
    pub fn str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(ApiError::bad(
                key,
                format!("expected a string, got {}", kind(other)),
            )),
        }
    }

    /// A required string field.
    pub fn req_str(&self, key: &str) -> ApiResult<String> {
        self.str(key)?
            .ok_or_else(|| ApiError::bad(key, "This field is required."))
    }

    /// A boolean: JSON booleans, 0/1, and "true"/"false"/"True"/"False"/"1"/"0".
    pub fn bool(&self, key: &str) -> ApiResult<Option<bool>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad(key, format!("expected a boolean, got {v}"))),
        }
    }

    /// A signed integer (numbers or numeric strings).
    pub fn i64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_i64(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad(key, format!("expected an integer, got {v}"))),
        }
    }

    /// A non-negative integer (ids, sizes).
    pub fn u64(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            Some(n) => Err(ApiError::bad(key, format!("must not be negative, got {n}"))),
        }
    }

    /// A required id.
    pub fn req_u64(&self, key: &str) -> ApiResult<u64> {
        self.u64(key)?
            .ok_or_else(|| ApiError::bad(key, "This field is required."))
    }

    /// A u32 field.
    pub fn u32(&self, key: &str) -> ApiResult<Option<u32>> {
        match self.u64(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| ApiError::bad(key, "too large")),
        }
    }

    /// An i32 field.
    pub fn i32(&self, key: &str) -> ApiResult<Option<i32>> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| ApiError::bad(key, "out of range")),
        }
    }

    /// A float field.
    pub fn f64(&self, key: &str) -> ApiResult<Option<f64>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| ApiError::bad(key, format!("expected a number, got {s:?}"))),
            Some(other) => Err(ApiError::bad(
                key,
                format!("expected a number, got {}", kind(other)),
            )),
        }
    }

    /// A list of ids (a JSON list, or a comma-separated string from a form).
    pub fn ids(&self, key: &str) -> ApiResult<Option<Vec<u64>>> {
        let bad = |v: &Value| ApiError::bad(key, format!("expected a list of ids, got {v}"));
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    as_i64(v)
                        .filter(|n| *n >= 0)
                        .map(|n| n as u64)
                        .ok_or_else(|| bad(v))
                })
                .collect::<ApiResult<Vec<u64>>>()
                .map(Some),
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<u64>().map_err(|_| bad(&Value::String(s.clone()))))
                .collect::<ApiResult<Vec<u64>>>()
                .map(Some),
            Some(v) => as_i64(v)
                .filter(|n| *n >= 0)
                .map(|n| Some(vec![n as u64]))
                .ok_or_else(|| bad(v)),
        }
    }

    /// A timestamp in EXACT's naive ISO-8601 format.
    pub fn time(&self, key: &str) -> ApiResult<Option<Timestamp>> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => Timestamp::parse(key, &s).map(Some).map_err(ApiError::from),
        }
    }

    /// A field decoded through serde (vectors, enums with integer codes).
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                let n: i64 = s.trim().parse().unwrap_or_default();
                serde_json::from_value(Value::from(n))
                    .map(Some)
                    .map_err(|e| ApiError::bad(key, e.to_string()))
            }
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ApiError::bad(key, e.to_string())),
        }
    }
}

/// A lenient boolean.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => parse_bool(s),
        _ => None,
    }
}

/// Python-style boolean text: `True/False/true/false/1/0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "True" | "TRUE" | "1" => Some(true),
        "false" | "False" | "FALSE" | "0" => Some(false),
        _ => None,
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
