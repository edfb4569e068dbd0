//! List query parameters the django-filter way: `field`, `field__contains`, `__icontains`,
//! `__in`, `__gte`/`__lte`/`__gt`/`__lt`, `__range=a,b`, `field_min`/`field_max`, `__isnull`,
//! applied to the objects' JSON; drf-flex-fields `fields`/`omit`. Parameters naming no field are
//! ignored, as django-filter does; a value of the wrong type for its field is a 400.

use crate::body::parse_bool;
use crate::error::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::header::HOST;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use std::convert::Infallible;

/// Parameters that are never filters.
const RESERVED: &[&str] = &[
    "limit",
    "offset",
    "fields",
    "omit",
    "expand",
    "format",
    "ordering",
    "page",
    "search",
    "pagination",
];

/// The query of a request, plus what is needed to write absolute page links.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Parameters in order.
    pub params: Vec<(String, String)>,
    /// `scheme://host/path` of the request.
    pub base: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let params = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        // A configured public URL names the server in links, not the client's `Host`.
        if let Some(crate::PublicUrl(u)) = parts.extensions.get::<crate::PublicUrl>() {
            return Ok(ListQuery {
                params,
                base: format!("{}{}", u.as_str().trim_end_matches('/'), parts.uri.path()),
            });
        }
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        let scheme = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .filter(|s| *s == "https" || *s == "http")
            .unwrap_or("http");
        Ok(ListQuery {
            params,
            base: format!("{scheme}://{host}{}", parts.uri.path()),
        })
    }
}

impl ListQuery {
    /// The last value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The names of the parameters given, in order (repeated names repeat).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(k, _)| k.as_str())
    }

    /// Whether the parameter `name` is present (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.params.iter().any(|(k, _)| k == name)
    }

    /// An unsigned integer parameter.
    pub fn u64(&self, name: &str) -> ApiResult<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::bad(name, format!("expected an integer, got {v:?}")))
            })
            .transpose()
    }

    /// A float parameter.
    pub fn f64(&self, name: &str) -> ApiResult<Option<f64>> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::bad(name, format!("expected a number, got {v:?}")))
            })
            .transpose()
    }

    /// A boolean parameter (`True/False/true/false/1/0`).
    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        self.get(name)
            .map(|v| {
                parse_bool(v)
                    .ok_or_else(|| ApiError::bad(name, format!("expected a boolean, got {v:?}")))
            })
            .transpose()
    }

    /// A comma-separated id list parameter (`id__in=1,2`).
    pub fn ids(&self, name: &str) -> ApiResult<Option<Vec<u64>>> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        p.parse().map_err(|_| {
                            ApiError::bad(name, format!("expected comma-separated ids, got {v:?}"))
                        })
                    })
                    .collect()
            })
            .transpose()
    }

    /// Keeps the objects matching every filter parameter that names one of their fields,
    /// except those in `skip` (handled by the caller).
    pub fn filter(&self, items: Vec<Value>, skip: &[&str]) -> ApiResult<Vec<Value>> {
        let Some(sample) = items.first().and_then(Value::as_object).cloned() else {
            return Ok(items);
        };
        let mut tests = Vec::new();
        for (name, value) in &self.params {
            if RESERVED.contains(&name.as_str()) || skip.contains(&name.as_str()) {
                continue;
            }
            if let Some(test) = Test::parse(&sample, name, value)? {
                tests.push(test);
            }
        }
        if tests.is_empty() {
            return Ok(items);
        }
        Ok(items
            .into_iter()
            .filter(|item| tests.iter().all(|t| t.matches(item)))
            .collect())
    }

    /// Whether any parameter (outside `skip`) filters objects shaped like `sample`; when none
    /// does, callers may page before rendering JSON.
    pub fn filters(&self, sample: &Value, skip: &[&str]) -> ApiResult<bool> {
        let Some(sample) = sample.as_object() else {
            return Ok(false);
        };
        for (name, value) in &self.params {
            if RESERVED.contains(&name.as_str()) || skip.contains(&name.as_str()) {
                continue;
            }
            if Test::parse(sample, name, value)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Applies `fields` (whitelist) and `omit` (blacklist) to each object; dot paths reach
    /// into nested objects.
    pub fn shape(&self, items: &mut [Value]) {
        let fields: Vec<&str> = self.list("fields");
        let omit: Vec<&str> = self.list("omit");
        if fields.is_empty() && omit.is_empty() {
            return;
        }
        for item in items {
            shape(item, &fields, &omit);
        }
    }

    fn list(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn shape(item: &mut Value, fields: &[&str], omit: &[&str]) {
    let Value::Object(map) = item else { return };
    if !fields.is_empty() {
        let top: Vec<&str> = fields
            .iter()
            .map(|f| f.split('.').next().unwrap_or(f))
            .collect();
        map.retain(|k, _| top.contains(&k.as_str()));
        for (k, v) in map.iter_mut() {
            let sub: Vec<&str> = fields
                .iter()
                .filter_map(|f| f.strip_prefix(k.as_str())?.strip_prefix('.'))
                .collect();
            if !sub.is_empty() {
                shape_nested(v, &sub, &[]);
            }
        }
    }
    for o in omit {
        match o.split_once('.') {
            None => {
                map.remove(*o);
            }
            Some((head, rest)) => {
                if let Some(v) = map.get_mut(head) {
                    shape_nested(v, &[], &[rest]);
                }
            }
        }
    }
}

fn shape_nested(v: &mut Value, fields: &[&str], omit: &[&str]) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| shape(i, fields, omit)),
        other => shape(other, fields, omit),
    }
}

enum Op {
    Exact(String),
    Contains(String, bool),
    In(Vec<String>),
    Cmp(std::cmp::Ordering, bool, String),
    Range(String, String),
    IsNull(bool),
}

struct Test {
    field: String,
    op: Op,
}

const LOOKUPS: &[&str] = &[
    "exact",
    "contains",
    "icontains",
    "in",
    "gte",
    "lte",
    "gt",
    "lt",
    "range",
    "isnull",
];

impl Test {
    fn parse(sample: &Map<String, Value>, name: &str, value: &str) -> ApiResult<Option<Test>> {
        use std::cmp::Ordering::*;
        let (field, lookup) = match name.rsplit_once("__") {
            Some((f, l)) if LOOKUPS.contains(&l) => (f, l),
            _ => match (name.strip_suffix("_min"), name.strip_suffix("_max")) {
                (Some(f), _) if sample.contains_key(f) => (f, "gte"),
                (_, Some(f)) if sample.contains_key(f) => (f, "lte"),
                _ => (name, "exact"),
            },
        };
        let Some(example) = sample.get(field) else {
            return Ok(None);
        };
        if value.is_empty() && lookup != "isnull" {
            return Ok(None);
        }
        let v = value.to_owned();
        let op = match lookup {
            "exact" => Op::Exact(v),
            "contains" => Op::Contains(v, false),
            "icontains" => Op::Contains(v.to_lowercase(), true),
            "in" => Op::In(v.split(',').map(|s| s.trim().to_owned()).collect()),
            "gte" => Op::Cmp(Less, false, v),
            "gt" => Op::Cmp(Less, true, v),
            "lte" => Op::Cmp(Greater, false, v),
            "lt" => Op::Cmp(Greater, true, v),
            "range" => match v.split_once(',') {
                Some((a, b)) => Op::Range(a.trim().into(), b.trim().into()),
                None => return Err(ApiError::bad(name, "expected two comma-separated values")),
            },
            _ => Op::IsNull(parse_bool(value).ok_or_else(|| {
                ApiError::bad(name, format!("expected a boolean, got {value:?}"))
            })?),
        };
        // Reject values of the wrong type now, so bad filters are a 400, not an empty page.
        let check = |s: &str| -> ApiResult<()> {
            match example {
                Value::Number(_) if s.parse::<f64>().is_err() => {
                    Err(ApiError::bad(name, format!("expected a number, got {s:?}")))
                }
                Value::Bool(_) if parse_bool(s).is_none() => Err(ApiError::bad(
                    name,
                    format!("expected a boolean, got {s:?}"),
                )),
                Value::Array(_) if s.parse::<f64>().is_err() => {
                    Err(ApiError::bad(name, format!("expected an id, got {s:?}")))
                }
                // A datetime field (`time`, `last_edit_time` …) takes datetimes, as EXACT's
                // DateTimeFilter: anything else is a 400, not a string comparison.
                Value::String(t) if time(t).is_some() && time(s).is_none() => Err(ApiError::bad(
                    name,
                    format!("{s:?} is not a datetime like 2021-06-15T10:20:30.123456"),
                )),
                _ => Ok(()),
            }
        };
        match &op {
            Op::Exact(s) | Op::Cmp(_, _, s) => check(s)?,
            Op::In(list) => list.iter().try_for_each(|s| check(s))?,
            Op::Range(a, b) => {
                check(a)?;
                check(b)?
            }
            Op::Contains(..) | Op::IsNull(_) => {}
        }
        Ok(Some(Test {
            field: field.to_owned(),
            op,
        }))
    }

    fn matches(&self, item: &Value) -> bool {
        let v = item.get(&self.field).unwrap_or(&Value::Null);
        match &self.op {
            Op::IsNull(want) => v.is_null() == *want,
            Op::Exact(s) => eq(v, s),
            Op::In(list) => list.iter().any(|s| eq(v, s)),
            Op::Contains(s, ci) => match v {
                Value::String(t) if *ci => t.to_lowercase().contains(s.as_str()),
                Value::String(t) => t.contains(s.as_str()),
                _ => false,
            },
            Op::Cmp(not, strict, s) => {
                cmp(v, s).is_some_and(|o| o != *not && !(*strict && o.is_eq()))
            }
            Op::Range(a, b) => {
                cmp(v, a).is_some_and(|o| o.is_ge()) && cmp(v, b).is_some_and(|o| o.is_le())
            }
        }
    }
}

fn eq(v: &Value, s: &str) -> bool {
    match v {
        Value::Array(items) => items.iter().any(|i| eq(i, s)),
        Value::Bool(b) => parse_bool(s) == Some(*b),
        Value::Number(n) => s.parse::<f64>().ok() == n.as_f64(),
        Value::String(t) => match (time(t), time(s)) {
            (Some(a), Some(b)) => a == b,
            _ => t == s,
        },
        Value::Null => false,
        Value::Object(_) => false,
    }
}

/// How `v` compares with the parameter `s`.
fn cmp(v: &Value, s: &str) -> Option<std::cmp::Ordering> {
    match v {
        Value::Number(n) => n.as_f64()?.partial_cmp(&s.parse::<f64>().ok()?),
        Value::String(t) => match (time(t), time(s)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(t.as_str().cmp(s)),
        },
        _ => None,
    }
}

/// `s` as a datetime, if it is one (EXACT's formats, ISO 8601 with or without a zone).
fn time(s: &str) -> Option<exact_core::Timestamp> {
    // Cheap test first: only strings shaped like a date are parsed.
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if b.len() == 10 {
        // A date alone is its midnight, as Django's datetime fields read it.
        return exact_core::Timestamp::parse("time", &format!("{s}T00:00:00")).ok();
    }
    exact_core::Timestamp::parse("time", s).ok()
}
