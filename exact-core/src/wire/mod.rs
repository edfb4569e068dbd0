//! EXACT's JSON on the wire, read once for every front end: the REST API's bodies and query
//! parameters and the Python wheel's rows go through the same accessors ([`Obj`]) and the same
//! builders of the library's `New*`/`*Patch` values and list queries, so a field is parsed with
//! the same leniency wherever it arrives.
//!
//! The leniency is EXACT's (Django REST framework's), which its clients rely on: booleans as
//! `true`/`"True"`/`1`/`"1"`, integers as numbers or numeric strings (form bodies and query
//! strings carry only text), id lists as JSON lists or `"1,2,3"`. A value of the wrong type is
//! [`Error::InvalidInput`] naming the field. Unknown fields are ignored, as DRF serializers do;
//! a front end that wants misspellings refused (the Python wheel) calls [`Obj::only`] with the
//! builder's field list first.
//!
//! ```
//! use exact_core::wire::{self, Obj};
//! let o = Obj::of(serde_json::json!({"name": "mitoses", "team": "3", "public": "True"}), "body")?;
//! let new = wire::new_image_set(&o)?;
//! assert_eq!((new.name.as_str(), new.team, new.public), ("mitoses", Some(exact_core::TeamId(3)), true));
//! # Ok::<(), exact_core::Error>(())
//! ```

use crate::catalog::{
    AnnotationList, AnnotationPatch, AnnotationQuery, AnnotationTypePatch, FieldFilters,
    ImagePatch, ImageSetPatch, NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct,
    ProductPatch, TimeBounds,
};
use crate::geometry::BBox;
use crate::ids::{
    AnnotationId, AnnotationTypeId, AnnotationVersionId, ImageId, ImageSetId, ProductId, TeamId,
    UserId,
};
use crate::model::{CollaborationType, ImageType, Priority, VectorType};
use crate::time::Timestamp;
use crate::vector::Vector;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// What a required field's absence says (DRF's wording, which EXACT's clients show).
pub const REQUIRED: &str = "This field is required.";

/// One JSON object with typed, lenient accessors; `None` means absent (or `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Obj(pub Map<String, Value>);

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

impl Obj {
    /// `v` as an object; anything else is an error naming `what`.
    pub fn of(v: Value, what: &str) -> Result<Obj> {
        match v {
            Value::Object(m) => Ok(Obj(m)),
            other => Err(Error::invalid(
                what,
                format!("expected an object, got {}", kind(&other)),
            )),
        }
    }

    /// Query parameters as an object of strings: the last non-empty value of each name
    /// (django-filter ignores empty filter values).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Obj {
        let mut m = Map::new();
        for (k, v) in pairs {
            if !v.is_empty() {
                m.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
        Obj(m)
    }

    /// The raw value of `key` (`null` included).
    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present (even as `null`).
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Fails on keys outside `known`, so a misspelt field is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Error::invalid(
                k.clone(),
                format!("unknown field (expected one of {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// A string (numbers are taken as their text).
    pub fn str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(Error::invalid(
                key,
                format!("expected a string, got {}", kind(other)),
            )),
        }
    }

    /// A required string.
    pub fn req_str(&self, key: &str) -> Result<String> {
        self.str(key)?.ok_or_else(|| Error::invalid(key, REQUIRED))
    }

    /// A boolean: JSON booleans, 0/1, and `true/false/True/False/1/0` as text.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_bool(v)
                .map(Some)
                .ok_or_else(|| Error::invalid(key, format!("expected a boolean, got {v}"))),
        }
    }

    /// An integer (a number without fraction, or its text).
    pub fn i64(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_i64(v)
                .map(Some)
                .ok_or_else(|| Error::invalid(key, format!("expected an integer, got {v}"))),
        }
    }

    /// A non-negative integer (ids, sizes).
    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            Some(n) => Err(Error::invalid(
                key,
                format!("must not be negative, got {n}"),
            )),
        }
    }

    /// A required id.
    pub fn req_u64(&self, key: &str) -> Result<u64> {
        self.u64(key)?.ok_or_else(|| Error::invalid(key, REQUIRED))
    }

    /// A `u32`.
    pub fn u32(&self, key: &str) -> Result<Option<u32>> {
        match self.u64(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| Error::invalid(key, format!("{n} is too large"))),
        }
    }

    /// An `i32`.
    pub fn i32(&self, key: &str) -> Result<Option<i32>> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| Error::invalid(key, format!("{n} is out of range"))),
        }
    }

    /// A finite float (a number or its text).
    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        let bad = |v: &Value| Error::invalid(key, format!("expected a finite number, got {v}"));
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| bad(v)),
            Some(v @ Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| bad(v)),
            Some(v) => Err(bad(v)),
        }
    }

    /// A list of ids: a JSON list, a comma-separated text (`"1,2,3"`), or one id.
    pub fn ids(&self, key: &str) -> Result<Option<Vec<u64>>> {
        let bad = |v: &Value| Error::invalid(key, format!("expected a list of ids, got {v}"));
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    as_i64(v)
                        .filter(|n| *n >= 0)
                        .map(|n| n as u64)
                        .ok_or_else(|| bad(v))
                })
                .collect::<Result<Vec<u64>>>()
                .map(Some),
            Some(v @ Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<u64>().map_err(|_| bad(v)))
                .collect::<Result<Vec<u64>>>()
                .map(Some),
            Some(v) => as_i64(v)
                .filter(|n| *n >= 0)
                .map(|n| Some(vec![n as u64]))
                .ok_or_else(|| bad(v)),
        }
    }

    /// A timestamp in EXACT's naive ISO-8601 format.
    pub fn time(&self, key: &str) -> Result<Option<Timestamp>> {
        self.str(key)?
            .map(|s| Timestamp::parse(key, &s))
            .transpose()
    }

    /// A field in the model's own serde form (vectors, UUIDs, enums by integer code — also
    /// given as numeric text).
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                let n: i64 = s.trim().parse().unwrap_or_default();
                serde_json::from_value(Value::from(n))
                    .map(Some)
                    .map_err(|e| Error::invalid(key, e.to_string()))
            }
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| Error::invalid(key, e.to_string())),
        }
    }
}

/// A lenient boolean: JSON booleans, 0/1, and boolean text ([`parse_bool`]).
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

/// Python-style boolean text: `True/False/true/false/TRUE/FALSE/1/0`.
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

/// A vector type by EXACT's code (1–7, also as text) or name (`"bounding box"`, `"bbox"`,
/// `"polygon"` …).
pub fn vector_type(key: &str, v: &Value) -> Result<VectorType> {
    let bad = || {
        Error::invalid(
            key,
            format!(
                "{v} is not a vector type (1-7 or bounding_box, point, line, multi_line, \
                 polygon, fixed_size_bounding_box, global)"
            ),
        )
    };
    if let Some(code) = as_i64(v) {
        return VectorType::from_code(code).ok_or_else(bad);
    }
    let name = v
        .as_str()
        .ok_or_else(bad)?
        .to_ascii_lowercase()
        .replace(['_', '-'], " ");
    Ok(match name.trim() {
        "bounding box" | "box" | "bbox" | "rect" => VectorType::BoundingBox,
        "point" => VectorType::Point,
        "line" => VectorType::Line,
        "multi line" | "multiline" | "polyline" => VectorType::MultiLine,
        "polygon" => VectorType::Polygon,
        "fixed size bounding box" | "fixed box" => VectorType::FixedSizeBoundingBox,
        "global" | "global label" => VectorType::Global,
        _ => return Err(bad()),
    })
}

mod lists;
mod records;
pub use lists::*;
pub use records::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_strings_and_json_rows_read_alike() {
        let q = Obj::from_pairs([
            ("image", "4"),
            ("deleted", "False"),
            ("vector_type", "5"),
            ("verified_by__range", "2,9"),
            ("id__in", "1,2"),
            ("limit", "10"),
            ("unknown", "x"),
        ]);
        let j = Obj::of(
            json!({"image": 4, "deleted": false, "vector_type": "polygon",
                   "verified_by__range": [2, 9], "id__in": [1, 2], "limit": 10}),
            "q",
        )
        .unwrap();
        let (a, b) = (annotation_list(&q).unwrap(), annotation_list(&j).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.images, vec![ImageId(4)]);
        assert_eq!(a.query.deleted, Some(false));
        assert_eq!(a.vector_types, Some(vec![VectorType::Polygon]));
        assert_eq!(a.verified_by, Some((UserId(2), UserId(9))));
        assert_eq!(a.limit, Some(10));
    }

    #[test]
    fn bad_values_name_their_field() {
        for (k, v) in [
            ("vector_type", "9"),
            ("vector_type", "blob"),
            ("verified_by__range", "3"),
            ("image", "x"),
            ("deleted", "maybe"),
            ("vector_x_min", "nan"),
            ("verified_by__in", "1,x"),
            ("annotationversion", "-1"),
            ("time__lte", "yesterday"),
            ("time__range", "2020-01-01"),
            ("last_edit_time", "2020-13-01"),
            ("unique_identifier", "not-a-uuid"),
            ("unique_identifier__in", "7,x"),
            ("vector__isnull", "perhaps"),
        ] {
            let e = annotation_list(&Obj::from_pairs([(k, v)])).unwrap_err();
            match e {
                Error::InvalidInput { field, .. } => assert_eq!(field, k),
                other => panic!("{k}={v}: {other}"),
            }
        }
    }

    #[test]
    fn lenient_scalars_and_strict_fields() {
        let o = Obj::of(json!({"name": 12, "team": "3", "public": 1}), "b").unwrap();
        let s = new_image_set(&o).unwrap();
        assert_eq!(
            (s.name.as_str(), s.team, s.public),
            ("12", Some(TeamId(3)), true)
        );
        assert!(o.only(&["name", "team"]).is_err());
        assert!(o.only(IMAGE_SET_FIELDS).is_ok());
        let e = new_image_set(&Obj::of(json!({"name": "x"}), "b").unwrap()).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { field, .. } if field == "team"));
    }
}
