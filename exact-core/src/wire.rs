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

/// The fields of an annotation row ([`new_annotation`], [`annotation_patch`]), read-only
/// ones included so rows read back round-trip.
pub const ANNOTATION_FIELDS: &[&str] = &[
    "id",
    "annotation_type",
    "image",
    "vector",
    "concealed",
    "blurred",
    "description",
    "meta_data",
    "unique_identifier",
    "deleted",
    "time",
    "last_edit_time",
    "user",
    "last_editor",
];

/// An annotation to create; `image` defaults to `default_image`.
pub fn new_annotation(o: &Obj, default_image: Option<u64>) -> Result<NewAnnotation> {
    let image = match o.u64("image")? {
        Some(i) => i,
        None => default_image.ok_or_else(|| Error::invalid("image", REQUIRED))?,
    };
    let mut new = NewAnnotation::new(
        AnnotationTypeId(o.req_u64("annotation_type")?),
        ImageId(image),
        o.parse::<Vector>("vector")?,
    );
    new.concealed = o.bool("concealed")?.unwrap_or(false);
    new.blurred = o.bool("blurred")?.unwrap_or(false);
    new.description = o.str("description")?.unwrap_or_default();
    new.meta_data = o.raw("meta_data").cloned().unwrap_or(Value::Null);
    new.unique_identifier = o.parse("unique_identifier")?;
    new.deleted = o.bool("deleted")?.unwrap_or(false);
    new.time = o.time("time")?;
    new.last_edit_time = o.time("last_edit_time")?;
    new.user = o.u64("user")?.map(UserId);
    Ok(new)
}

/// The changes of an annotation update: fields present are changed, others kept.
pub fn annotation_patch(o: &Obj) -> Result<AnnotationPatch> {
    Ok(AnnotationPatch {
        annotation_type: o.u64("annotation_type")?.map(AnnotationTypeId),
        vector: if o.has("vector") {
            Some(o.parse::<Vector>("vector")?)
        } else {
            None
        },
        deleted: o.bool("deleted")?,
        concealed: o.bool("concealed")?,
        blurred: o.bool("blurred")?,
        description: o.str("description")?,
        meta_data: o.raw("meta_data").cloned(),
        unique_identifier: o.parse("unique_identifier")?,
        last_edit_time: o.time("last_edit_time")?,
        if_match: None,
    })
}

/// The fields of an image set ([`new_image_set`], [`image_set_patch`]).
pub const IMAGE_SET_FIELDS: &[&str] = &[
    "name",
    "team",
    "location",
    "description",
    "public",
    "public_collaboration",
    "image_lock",
    "priority",
    "main_annotation_type",
    "collaboration_type",
    "creator",
];

/// The changes of an image set update.
pub fn image_set_patch(o: &Obj) -> Result<ImageSetPatch> {
    Ok(ImageSetPatch {
        name: o.str("name")?,
        location: o.str("location")?,
        description: o.str("description")?,
        public: o.bool("public")?,
        public_collaboration: o.bool("public_collaboration")?,
        image_lock: o.bool("image_lock")?,
        priority: o.parse::<Priority>("priority")?,
        main_annotation_type: if o.has("main_annotation_type") {
            Some(o.u64("main_annotation_type")?.map(AnnotationTypeId))
        } else {
            None
        },
        collaboration_type: o.parse::<CollaborationType>("collaboration_type")?,
        creator: if o.has("creator") {
            Some(o.u64("creator")?.map(UserId))
        } else {
            None
        },
        pinned: o.bool("pinned")?,
        team: o.u64("team")?.map(TeamId),
    })
}

/// An image set to create (`name` and `team` required).
pub fn new_image_set(o: &Obj) -> Result<NewImageSet> {
    let name = o.req_str("name")?;
    let team = TeamId(o.req_u64("team")?);
    let p = image_set_patch(o)?;
    let mut new = NewImageSet::new(name, team);
    new.location = p.location.unwrap_or_default();
    new.description = p.description.unwrap_or_default();
    new.public = p.public.unwrap_or(false);
    new.public_collaboration = p.public_collaboration.unwrap_or(false);
    new.image_lock = p.image_lock.unwrap_or(false);
    if let Some(v) = p.priority {
        new.priority = v;
    }
    new.main_annotation_type = p.main_annotation_type.flatten();
    if let Some(v) = p.collaboration_type {
        new.collaboration_type = v;
    }
    Ok(new)
}

/// The fields of a product ([`new_product`], [`product_patch`]).
pub const PRODUCT_FIELDS: &[&str] = &["name", "description", "team", "imagesets"];

/// A product to create (`name` required).
pub fn new_product(o: &Obj) -> Result<NewProduct> {
    Ok(NewProduct {
        name: o.req_str("name")?,
        description: o.str("description")?.unwrap_or_default(),
        team: o.u64("team")?.map(TeamId),
        imagesets: o
            .ids("imagesets")?
            .unwrap_or_default()
            .into_iter()
            .map(ImageSetId)
            .collect(),
    })
}

/// The changes of a product update.
pub fn product_patch(o: &Obj) -> Result<ProductPatch> {
    Ok(ProductPatch {
        name: o.str("name")?,
        description: o.str("description")?,
        imagesets: o
            .ids("imagesets")?
            .map(|v| v.into_iter().map(ImageSetId).collect()),
    })
}

/// The fields of an annotation type ([`new_annotation_type`], [`annotation_type_patch`]).
pub const ANNOTATION_TYPE_FIELDS: &[&str] = &[
    "name",
    "vector_type",
    "product",
    "node_count",
    "enable_concealed",
    "enable_blurred",
    "color_code",
    "default_width",
    "default_height",
    "sort_order",
    "closed",
    "area_hit_test",
    "active",
    "multi_frame",
];

/// The changes of an annotation type update.
pub fn annotation_type_patch(o: &Obj) -> Result<AnnotationTypePatch> {
    Ok(AnnotationTypePatch {
        name: o.str("name")?,
        vector_type: match o.get("vector_type") {
            Some(v) => Some(vector_type("vector_type", v)?),
            None => None,
        },
        node_count: o.u32("node_count")?,
        enable_concealed: o.bool("enable_concealed")?,
        enable_blurred: o.bool("enable_blurred")?,
        color_code: o.str("color_code")?,
        default_width: o.u32("default_width")?,
        default_height: o.u32("default_height")?,
        sort_order: o.i32("sort_order")?,
        closed: o.bool("closed")?,
        area_hit_test: o.bool("area_hit_test")?,
        active: o.bool("active")?,
        multi_frame: o.bool("multi_frame")?,
    })
}

/// An annotation type to create (`name` and `product` required; a bounding box unless
/// `vector_type` says otherwise); the library's defaults stay where the row says nothing.
pub fn new_annotation_type(o: &Obj) -> Result<NewAnnotationType> {
    let name = o.req_str("name")?;
    let product = ProductId(o.req_u64("product")?);
    let p = annotation_type_patch(o)?;
    let mut new = NewAnnotationType::new(
        name,
        p.vector_type.unwrap_or(VectorType::BoundingBox),
        product,
    );
    if let Some(v) = p.node_count {
        new.node_count = v;
    }
    if let Some(v) = p.enable_concealed {
        new.enable_concealed = v;
    }
    if let Some(v) = p.enable_blurred {
        new.enable_blurred = v;
    }
    if let Some(v) = p.color_code {
        new.color_code = v;
    }
    if let Some(v) = p.default_width {
        new.default_width = v;
    }
    if let Some(v) = p.default_height {
        new.default_height = v;
    }
    if let Some(v) = p.sort_order {
        new.sort_order = v;
    }
    if let Some(v) = p.closed {
        new.closed = v;
    }
    if let Some(v) = p.area_hit_test {
        new.area_hit_test = v;
    }
    if let Some(v) = p.multi_frame {
        new.multi_frame = v;
    }
    Ok(new)
}

/// The fields of an image ([`new_image`], [`image_patch`]); EXACT spells two of them in
/// camel case (`objectivePower`, `defaultFrame`), EXACT-Sync in snake case: both are read.
pub const IMAGE_FIELDS: &[&str] = &[
    "image_set",
    "name",
    "width",
    "height",
    "filename",
    "checksum",
    "mpp",
    "objectivePower",
    "objective_power",
    "depth",
    "frames",
    "channels",
    "image_type",
    "defaultFrame",
    "default_frame",
];

fn either<T>(
    o: &Obj,
    a: &str,
    b: &str,
    get: fn(&Obj, &str) -> Result<Option<T>>,
) -> Result<Option<T>> {
    match get(o, a)? {
        Some(v) => Ok(Some(v)),
        None => get(o, b),
    }
}

/// The changes of an image update.
pub fn image_patch(o: &Obj) -> Result<ImagePatch> {
    Ok(ImagePatch {
        name: o.str("name")?,
        filename: o.str("filename")?,
        mpp: o.f64("mpp")?,
        objective_power: either(o, "objectivePower", "objective_power", Obj::f64)?,
        width: o.u64("width")?,
        height: o.u64("height")?,
        depth: o.u32("depth")?,
        frames: o.u32("frames")?,
        channels: o.u32("channels")?,
        image_type: o.parse::<ImageType>("image_type")?,
        default_frame: either(o, "defaultFrame", "default_frame", Obj::u32)?,
        image_set: o.u64("image_set")?.map(ImageSetId),
        checksum: o.str("checksum")?,
    })
}

/// An image's metadata to register (`image_set` and `name` required; width and height 0
/// when not given, as EXACT-Sync's `index_image` sends none).
pub fn new_image(o: &Obj) -> Result<NewImage> {
    let set = ImageSetId(o.req_u64("image_set")?);
    let name = o.req_str("name")?;
    let p = image_patch(o)?;
    let mut new = NewImage::new(set, name, p.width.unwrap_or(0), p.height.unwrap_or(0));
    if let Some(v) = p.filename {
        new.filename = v;
    }
    if let Some(v) = p.mpp {
        new.mpp = v;
    }
    if let Some(v) = p.objective_power {
        new.objective_power = v;
    }
    if let Some(v) = p.depth {
        new.depth = v;
    }
    if let Some(v) = p.frames {
        new.frames = v;
    }
    if let Some(v) = p.channels {
        new.channels = v;
    }
    if let Some(v) = p.image_type {
        new.image_type = v;
    }
    if let Some(v) = p.default_frame {
        new.default_frame = v;
    }
    if let Some(v) = p.checksum {
        new.checksum = v;
    }
    Ok(new)
}

/// The filters of an annotation list, by EXACT's query parameter names ([`annotation_list`]).
pub const ANNOTATION_FILTERS: &[&str] = &[
    "image",
    "image__in",
    "annotation_type",
    "annotation_type__in",
    "deleted",
    "user",
    "last_edit_time__gte",
    "vector_x_min",
    "vector_x_max",
    "vector_y_min",
    "vector_y_max",
    "id",
    "id__in",
    "vector_type",
    "vector_type__in",
    "verified_by",
    "verified_by__range",
    "verified_by__in",
    "annotationversion",
    "time",
    "time__gte",
    "time__lte",
    "time__range",
    "last_edit_time",
    "last_edit_time__lte",
    "last_edit_time__range",
    "unique_identifier",
    "unique_identifier__contains",
    "unique_identifier__in",
    "description",
    "description__contains",
    "vector__isnull",
    "meta_data__isnull",
];

/// A datetime filter value: EXACT's formats, or a date alone (its midnight, as Django reads
/// it); an empty value filters nothing (django-filter).
fn filter_time(key: &str, v: &str) -> Result<Option<Timestamp>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let b = v.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Timestamp::parse(key, &format!("{v}T00:00:00")).map(Some);
    }
    Timestamp::parse(key, v).map(Some)
}

/// A filter's text value; empty filters nothing.
fn filter_text(o: &Obj, key: &str) -> Result<Option<String>> {
    Ok(o.str(key)?.filter(|s| !s.is_empty()))
}

/// `name`, `name__gte`, `name__lte`, `name__range` (`a,b` or `[a, b]`) as inclusive bounds.
fn time_bounds(o: &Obj, name: &str) -> Result<TimeBounds> {
    let mut b = TimeBounds::default();
    let key = |l: &str| {
        if l.is_empty() {
            name.to_owned()
        } else {
            format!("{name}__{l}")
        }
    };
    for lookup in ["", "gte", "lte", "range"] {
        let k = key(lookup);
        let Some(v) = o.get(&k) else { continue };
        let parts: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect(),
            Value::String(s) if lookup == "range" => s.split(',').map(str::to_owned).collect(),
            Value::String(s) => vec![s.clone()],
            other => {
                return Err(Error::invalid(
                    k,
                    format!("expected a datetime, got {}", kind(other)),
                ));
            }
        };
        let times = parts
            .iter()
            .map(|p| filter_time(&k, p))
            .collect::<Result<Vec<_>>>()?;
        let tighten_from = |b: &mut TimeBounds, t: Option<Timestamp>| {
            if let Some(t) = t {
                b.from = Some(b.from.map_or(t, |f| f.max(t)));
            }
        };
        let tighten_to = |b: &mut TimeBounds, t: Option<Timestamp>| {
            if let Some(t) = t {
                b.to = Some(b.to.map_or(t, |e| e.min(t)));
            }
        };
        match (lookup, times.as_slice()) {
            ("", [t]) => {
                tighten_from(&mut b, *t);
                tighten_to(&mut b, *t);
            }
            ("gte", [t]) => tighten_from(&mut b, *t),
            ("lte", [t]) => tighten_to(&mut b, *t),
            ("range", [a, z]) => {
                tighten_from(&mut b, *a);
                tighten_to(&mut b, *z);
            }
            ("range", _) => return Err(Error::invalid(k, "expected two datetimes a,b")),
            _ => return Err(Error::invalid(k, "expected one datetime")),
        }
    }
    Ok(b)
}

/// A UUID filter value.
fn filter_uuid(key: &str, v: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(v.trim())
        .map_err(|_| Error::invalid(key, format!("{v:?} is not a valid UUID")))
}

/// EXACT's filters on an annotation's other fields ([`FieldFilters`]).
fn field_filters(o: &Obj) -> Result<FieldFilters> {
    let mut uuids: Option<Vec<uuid::Uuid>> = None;
    if let Some(u) = filter_text(o, "unique_identifier")? {
        uuids = Some(vec![filter_uuid("unique_identifier", &u)?]);
    }
    if let Some(v) = o.get("unique_identifier__in") {
        let parts: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            other => {
                return Err(Error::invalid(
                    "unique_identifier__in",
                    format!("expected UUIDs, got {}", kind(other)),
                ));
            }
        };
        let these = parts
            .iter()
            .map(|p| filter_uuid("unique_identifier__in", p))
            .collect::<Result<Vec<_>>>()?;
        uuids = Some(match uuids {
            Some(one) => one.into_iter().filter(|u| these.contains(u)).collect(),
            None => these,
        });
    }
    Ok(FieldFilters {
        time: time_bounds(o, "time")?,
        last_edit_time: time_bounds(o, "last_edit_time")?,
        unique_identifier_in: uuids,
        unique_identifier_contains: filter_text(o, "unique_identifier__contains")?,
        description: filter_text(o, "description")?,
        description_contains: filter_text(o, "description__contains")?,
        vector_isnull: o.bool("vector__isnull")?,
        meta_data_isnull: o.bool("meta_data__isnull")?,
    })
}

/// The parameters that window a list (`limit`, `offset`), beside [`ANNOTATION_FILTERS`].
pub const WINDOW: &[&str] = &["limit", "offset"];

/// How far an open viewport side reaches; the library clamps it to the image's margins.
const OPEN_SIDE: f64 = 1e15;

/// An annotation list from EXACT's filter names (see [`ANNOTATION_FILTERS`], [`WINDOW`]): `deleted`
/// absent or `null` lists both live and deleted ones (EXACT's API does); `vector_x_min` & co.
/// bound a viewport whose open sides reach the image's margins; `verified_by__range` is
/// `"a,b"` or `[a, b]`.
pub fn annotation_list(o: &Obj) -> Result<AnnotationList> {
    let mut images: Vec<ImageId> = Vec::new();
    if let Some(i) = o.u64("image")? {
        images.push(ImageId(i));
    }
    if let Some(is) = o.ids("image__in")? {
        images.extend(is.into_iter().map(ImageId));
    }
    let mut annotation_types = o.u64("annotation_type")?.map(|t| vec![AnnotationTypeId(t)]);
    if let Some(ts) = o.ids("annotation_type__in")? {
        annotation_types = Some(ts.into_iter().map(AnnotationTypeId).collect());
    }
    let sides = (
        o.f64("vector_x_min")?,
        o.f64("vector_y_min")?,
        o.f64("vector_x_max")?,
        o.f64("vector_y_max")?,
    );
    let viewport = match sides {
        (None, None, None, None) => None,
        (x0, y0, x1, y1) => Some(BBox::new(
            x0.unwrap_or(-OPEN_SIDE),
            y0.unwrap_or(-OPEN_SIDE),
            x1.unwrap_or(OPEN_SIDE),
            y1.unwrap_or(OPEN_SIDE),
        )),
    };
    let query = AnnotationQuery {
        viewport,
        annotation_types,
        deleted: o.bool("deleted")?,
        user: o.u64("user")?.map(UserId),
        edited_since: o.time("last_edit_time__gte")?,
    };
    let mut ids = o.u64("id")?.map(|i| vec![AnnotationId(i)]);
    if let Some(is) = o.ids("id__in")? {
        ids = Some(is.into_iter().map(AnnotationId).collect());
    }
    let mut vector_types = None;
    for key in ["vector_type", "vector_type__in"] {
        let Some(v) = o.get(key) else { continue };
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_owned()))
                .collect(),
            other => vec![other.clone()],
        };
        vector_types = Some(
            items
                .iter()
                .map(|v| vector_type(key, v))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let mut verified_by = o.u64("verified_by")?.map(|u| (UserId(u), UserId(u)));
    if o.get("verified_by__range").is_some() {
        match o.ids("verified_by__range")?.as_deref() {
            Some([a, b]) => verified_by = Some((UserId(*a), UserId(*b))),
            _ => {
                return Err(Error::invalid(
                    "verified_by__range",
                    "expected two user ids a,b",
                ));
            }
        }
    }
    let verified_by_in = o
        .ids("verified_by__in")?
        .map(|us| us.into_iter().map(UserId).collect());
    let annotation_version = o.u64("annotationversion")?.map(AnnotationVersionId);
    Ok(AnnotationList {
        images,
        query,
        ids,
        vector_types,
        verified_by,
        verified_by_in,
        annotation_version,
        fields: field_filters(o)?,
        offset: o
            .u64("offset")?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        limit: o
            .u64("limit")?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    })
}

/// The fields of an export format (EXACT's `ExportFormat`).
pub const EXPORT_FORMAT_FIELDS: &[&str] = &[
    "name",
    "team",
    "public",
    "annotations_types",
    "base_format",
    "image_format",
    "annotation_format",
    "vector_format",
    "not_in_image_format",
    "name_format",
    "min_verifications",
    "image_aggregation",
    "include_blurred",
    "include_concealed",
];

/// EXACT's model defaults for a new export format.
pub fn export_format_defaults() -> crate::catalog::NewExportFormat {
    crate::catalog::NewExportFormat {
        base_format: "%%content".into(),
        annotation_format: "%%imagename|%%type|{%%vector}|".into(),
        vector_format: "\"x%%count1\": %%x,\"y%%count1\": %%y,".into(),
        not_in_image_format: "image name|annotation type|not in image".into(),
        name_format: "export_%%exportid.txt".into(),
        include_blurred: true,
        include_concealed: true,
        ..Default::default()
    }
}

/// A new export format from EXACT's fields, with EXACT's defaults for the rest.
pub fn new_export_format(o: &Obj) -> Result<crate::catalog::NewExportFormat> {
    let mut f = export_format_defaults();
    apply_export_format(o, &mut f)?;
    Ok(f)
}

/// Applies the export-format fields present in `o` to `f`. Booleans also take HTML
/// checkboxes' `on` / `off` (EXACT's forms).
pub fn apply_export_format(o: &Obj, f: &mut crate::catalog::NewExportFormat) -> Result<()> {
    let flag = |key: &str| -> Result<Option<bool>> {
        match o.raw(key) {
            Some(Value::String(v)) if v.eq_ignore_ascii_case("on") => Ok(Some(true)),
            Some(Value::String(v)) if v.eq_ignore_ascii_case("off") => Ok(Some(false)),
            _ => o.bool(key),
        }
    };
    if let Some(v) = o.str("name")? {
        f.name = v;
    }
    if let Some(v) = o.u64("team")? {
        f.team = Some(TeamId(v));
    }
    if let Some(v) = flag("public")? {
        f.public = v;
    }
    if let Some(v) = o.ids("annotations_types")? {
        f.annotations_types = v.into_iter().map(AnnotationTypeId).collect();
    }
    for (key, slot) in [
        ("base_format", &mut f.base_format),
        ("annotation_format", &mut f.annotation_format),
        ("vector_format", &mut f.vector_format),
        ("not_in_image_format", &mut f.not_in_image_format),
        ("name_format", &mut f.name_format),
    ] {
        if let Some(v) = o.str(key)? {
            *slot = v;
        }
    }
    if o.has("image_format") {
        f.image_format = match o.raw("image_format") {
            None | Some(Value::Null) => None,
            Some(_) => o.str("image_format")?.filter(|s| !s.is_empty()),
        };
    }
    if let Some(v) = o.u32("min_verifications")? {
        f.min_verifications = v;
    }
    if let Some(v) = flag("image_aggregation")? {
        f.image_aggregation = v;
    }
    if let Some(v) = flag("include_blurred")? {
        f.include_blurred = v;
    }
    if let Some(v) = flag("include_concealed")? {
        f.include_concealed = v;
    }
    Ok(())
}

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
