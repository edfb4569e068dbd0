//! Rows in, rows out: Python dicts cross as JSON text (one `json.dumps`/`json.loads` per call,
//! both in C), parsed here into the library's `New*`/`*Patch` values with EXACT's field names;
//! records go back as the model's own serde form, so the field names are EXACT's.
//!
//! Annotations also cross as columns (little-endian buffers the Python side views as numpy
//! arrays): see [`COLUMNS`].

use exact_core::catalog::{
    AnnotationPatch, AnnotationQuery, NewAnnotation, NewAnnotationType, NewImage, NewImageSet,
    NewProduct,
};
use exact_core::model::{Annotation, VectorType};
use exact_core::{
    AnnotationTypeId, BBox, Error, ImageId, ImageSetId, ProductId, Result, TeamId, Timestamp,
    UserId, Vector,
};
use serde_json::{Map, Value};

/// One JSON object with typed getters whose errors name the field.
pub struct Obj<'a>(pub &'a Map<String, Value>);

impl<'a> Obj<'a> {
    pub fn of(v: &'a Value, what: &str) -> Result<Self> {
        v.as_object()
            .map(Obj)
            .ok_or_else(|| Error::invalid(what, format!("expected a dict, got {v}")))
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(Error::invalid(key, format!("expected a string, got {v}"))),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<String> {
        self.str(key)?
            .ok_or_else(|| Error::invalid(key, "required"))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Error::invalid(key, format!("expected a bool, got {v}"))),
        }
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::invalid(key, format!("expected an id ≥ 0, got {v}"))),
        }
    }

    pub fn req_u64(&self, key: &str) -> Result<u64> {
        self.u64(key)?
            .ok_or_else(|| Error::invalid(key, "required"))
    }

    pub fn u32(&self, key: &str) -> Result<Option<u32>> {
        match self.u64(key)? {
            None => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| Error::invalid(key, format!("{v} is too large"))),
        }
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| Error::invalid(key, format!("expected a number, got {v}"))),
        }
    }

    pub fn ids(&self, key: &str) -> Result<Option<Vec<u64>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| Error::invalid(key, format!("expected ids, got {v}")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(Error::invalid(
                key,
                format!("expected a list of ids, got {v}"),
            )),
        }
    }

    pub fn time(&self, key: &str) -> Result<Option<Timestamp>> {
        self.str(key)?
            .map(|t| Timestamp::parse(key, &t))
            .transpose()
    }

    /// A field in the model's own serde form (enum codes, vectors, UUIDs).
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| Error::invalid(key, e.to_string())),
        }
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
}

/// A vector type by EXACT's code (1–7) or name (`"bounding box"`, `"polygon"`, `"box"` …).
pub fn vector_type(v: &Value) -> Result<VectorType> {
    let bad = || {
        Error::invalid(
            "vector_type",
            format!(
                "{v} is not a vector type (1-7 or bounding_box, point, line, multi_line, polygon, fixed_size_bounding_box, global)"
            ),
        )
    };
    if let Some(code) = v.as_i64() {
        return VectorType::from_code(code).ok_or_else(bad);
    }
    let name = v
        .as_str()
        .ok_or_else(bad)?
        .to_ascii_lowercase()
        .replace(['_', '-'], " ");
    let t = match name.as_str() {
        "bounding box" | "box" | "bbox" | "rect" => VectorType::BoundingBox,
        "point" => VectorType::Point,
        "line" => VectorType::Line,
        "multi line" | "multiline" | "polyline" => VectorType::MultiLine,
        "polygon" => VectorType::Polygon,
        "fixed size bounding box" | "fixed box" => VectorType::FixedSizeBoundingBox,
        "global" | "global label" => VectorType::Global,
        _ => return Err(bad()),
    };
    Ok(t)
}

pub fn new_image_set(o: &Obj<'_>) -> Result<NewImageSet> {
    o.only(&[
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
    ])?;
    let mut s = NewImageSet::new(o.req_str("name")?, TeamId(o.req_u64("team")?));
    s.location = o.str("location")?.unwrap_or_default();
    s.description = o.str("description")?.unwrap_or_default();
    s.public = o.bool("public")?.unwrap_or(false);
    s.public_collaboration = o.bool("public_collaboration")?.unwrap_or(false);
    s.image_lock = o.bool("image_lock")?.unwrap_or(false);
    if let Some(p) = o.parse("priority")? {
        s.priority = p;
    }
    s.main_annotation_type = o.u64("main_annotation_type")?.map(AnnotationTypeId);
    if let Some(c) = o.parse("collaboration_type")? {
        s.collaboration_type = c;
    }
    Ok(s)
}

pub fn new_product(o: &Obj<'_>) -> Result<NewProduct> {
    o.only(&["name", "description", "team", "imagesets"])?;
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

pub fn new_annotation_type(o: &Obj<'_>) -> Result<NewAnnotationType> {
    o.only(&[
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
        "multi_frame",
    ])?;
    let vt = match o.get("vector_type") {
        Some(v) => vector_type(v)?,
        None => VectorType::BoundingBox,
    };
    let mut t = NewAnnotationType::new(o.req_str("name")?, vt, ProductId(o.req_u64("product")?));
    t.node_count = o.u32("node_count")?.unwrap_or(0);
    t.enable_concealed = o.bool("enable_concealed")?.unwrap_or(t.enable_concealed);
    t.enable_blurred = o.bool("enable_blurred")?.unwrap_or(t.enable_blurred);
    t.color_code = o.str("color_code")?.unwrap_or(t.color_code);
    t.default_width = o.u32("default_width")?.unwrap_or(t.default_width);
    t.default_height = o.u32("default_height")?.unwrap_or(t.default_height);
    if let Some(s) = o.parse::<i32>("sort_order")? {
        t.sort_order = s;
    }
    t.closed = o.bool("closed")?.unwrap_or(false);
    t.area_hit_test = o.bool("area_hit_test")?.unwrap_or(false);
    t.multi_frame = o.bool("multi_frame")?.unwrap_or(false);
    Ok(t)
}

pub fn new_image(o: &Obj<'_>) -> Result<NewImage> {
    o.only(&[
        "image_set",
        "name",
        "width",
        "height",
        "filename",
        "checksum",
        "mpp",
        "objective_power",
        "depth",
        "frames",
        "channels",
        "image_type",
        "default_frame",
    ])?;
    let mut i = NewImage::new(
        ImageSetId(o.req_u64("image_set")?),
        o.req_str("name")?,
        o.req_u64("width")?,
        o.req_u64("height")?,
    );
    if let Some(f) = o.str("filename")? {
        i.filename = f;
    }
    i.checksum = o.str("checksum")?.unwrap_or_default();
    i.mpp = o.f64("mpp")?.unwrap_or(i.mpp);
    i.objective_power = o.f64("objective_power")?.unwrap_or(i.objective_power);
    i.depth = o.u32("depth")?.unwrap_or(i.depth);
    i.frames = o.u32("frames")?.unwrap_or(i.frames);
    i.channels = o.u32("channels")?.unwrap_or(i.channels);
    if let Some(t) = o.parse("image_type")? {
        i.image_type = t;
    }
    i.default_frame = o.u32("default_frame")?.unwrap_or(i.default_frame);
    Ok(i)
}

const ANNOTATION_FIELDS: &[&str] = &[
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
    // Read-only fields of a row read back; accepted and ignored so rows round-trip.
    "last_editor",
];

/// An annotation to create from an EXACT row; `image` defaults to `default_image`.
pub fn new_annotation(o: &Obj<'_>, default_image: Option<u64>) -> Result<NewAnnotation> {
    o.only(ANNOTATION_FIELDS)?;
    let image = match o.u64("image")? {
        Some(i) => i,
        None => default_image.ok_or_else(|| Error::invalid("image", "required"))?,
    };
    let mut new = NewAnnotation::new(
        AnnotationTypeId(o.req_u64("annotation_type")?),
        ImageId(image),
        o.parse::<Vector>("vector")?,
    );
    new.concealed = o.bool("concealed")?.unwrap_or(false);
    new.blurred = o.bool("blurred")?.unwrap_or(false);
    new.description = o.str("description")?.unwrap_or_default();
    new.meta_data = o.0.get("meta_data").cloned().unwrap_or(Value::Null);
    new.unique_identifier = o.parse("unique_identifier")?;
    new.deleted = o.bool("deleted")?.unwrap_or(false);
    new.time = o.time("time")?;
    new.last_edit_time = o.time("last_edit_time")?;
    new.user = o.u64("user")?.map(UserId);
    Ok(new)
}

/// The id and changes of an update row: fields present are changed, others kept.
pub fn annotation_patch(o: &Obj<'_>) -> Result<(u64, AnnotationPatch)> {
    o.only(ANNOTATION_FIELDS)?;
    let id = o.req_u64("id")?;
    let patch = AnnotationPatch {
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
        meta_data: o.0.get("meta_data").cloned(),
        unique_identifier: o.parse("unique_identifier")?,
        last_edit_time: o.time("last_edit_time")?,
    };
    Ok((id, patch))
}

/// A viewport query: `viewport` `[x0, y0, x1, y1]`, `annotation_types`, `deleted`
/// (`false` live, `true` deleted, `null` both), `user`, `edited_since`.
pub fn query(o: &Obj<'_>) -> Result<AnnotationQuery> {
    o.only(&[
        "viewport",
        "annotation_types",
        "deleted",
        "user",
        "edited_since",
    ])?;
    let mut q = AnnotationQuery::default();
    if let Some(v) = o.get("viewport") {
        let c: Vec<f64> = serde_json::from_value(v.clone())
            .ok()
            .filter(|c: &Vec<f64>| c.len() == 4 && c.iter().all(|x| x.is_finite()))
            .ok_or_else(|| {
                Error::invalid("viewport", format!("expected (x0, y0, x1, y1), got {v}"))
            })?;
        if c[2] < c[0] || c[3] < c[1] {
            return Err(Error::invalid(
                "viewport",
                format!("x1 < x0 or y1 < y0 in {c:?}"),
            ));
        }
        q.viewport = Some(BBox::new(c[0], c[1], c[2], c[3]));
    }
    q.annotation_types = o
        .ids("annotation_types")?
        .map(|v| v.into_iter().map(AnnotationTypeId).collect());
    q.deleted = match o.0.get("deleted") {
        None => Some(false),
        Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(Error::invalid(
                "deleted",
                format!("expected a bool or None, got {v}"),
            ));
        }
    };
    q.user = o.u64("user")?.map(UserId);
    q.edited_since = o.time("edited_since")?;
    Ok(q)
}

/// Annotations as columns, one typed vector per field, named in [`COLUMNS`] order:
///
/// `id`, `annotation_type`, `user`, `last_editor` (0 = none), `frame` (0 = none): int64;
/// `time`, `last_edit_time`: int64 microseconds since the epoch (`datetime64[us]`);
/// `deleted`, `concealed`, `blurred`: bool; `x_min`, `y_min`, `x_max`, `y_max`: float64 bbox
/// (NaN without geometry); `offsets` (int64, N + 1) and `coords` (float64, 2 per node): the
/// nodes of annotation i are `coords[offsets[i]:offsets[i+1]]` as (x, y) pairs;
/// `unique_identifier`: 36-byte ASCII strings (`S36`).
///
/// Built one annotation at a time while the store streams them ([`ColumnBuilder::push`]), so a
/// million annotations never exist as a million structs, then put in id order.
pub const COLUMNS: [&str; 17] = [
    "id",
    "annotation_type",
    "user",
    "last_editor",
    "frame",
    "time",
    "last_edit_time",
    "deleted",
    "concealed",
    "blurred",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
    "offsets",
    "coords",
    "unique_identifier",
];

/// One column's values.
pub enum Column {
    /// int64 values.
    I64(Vec<i64>),
    /// float64 values.
    F64(Vec<f64>),
    /// bools as bytes 0/1.
    Bool(Vec<u8>),
    /// 36-byte ASCII strings.
    Text36(Vec<[u8; 36]>),
}

impl Column {
    /// numpy's array-interface type string, in this machine's byte order.
    pub fn typestr(&self) -> &'static str {
        let little = cfg!(target_endian = "little");
        match self {
            Column::I64(_) if little => "<i8",
            Column::I64(_) => ">i8",
            Column::F64(_) if little => "<f8",
            Column::F64(_) => ">f8",
            Column::Bool(_) => "|b1",
            Column::Text36(_) => "|S36",
        }
    }

    /// Address of the first value.
    pub fn addr(&self) -> usize {
        match self {
            Column::I64(v) => v.as_ptr() as usize,
            Column::F64(v) => v.as_ptr() as usize,
            Column::Bool(v) => v.as_ptr() as usize,
            Column::Text36(v) => v.as_ptr() as usize,
        }
    }

    /// Bytes held.
    pub fn byte_len(&self) -> usize {
        match self {
            Column::I64(v) => v.len() * 8,
            Column::F64(v) => v.len() * 8,
            Column::Bool(v) => v.len(),
            Column::Text36(v) => v.len() * 36,
        }
    }
}

/// Columns under construction; see [`COLUMNS`].
#[derive(Default)]
pub struct ColumnBuilder {
    ints: [Vec<i64>; 7],
    flags: [Vec<u8>; 3],
    bbox: [Vec<f64>; 4],
    offsets: Vec<i64>,
    coords: Vec<f64>,
    uuids: Vec<[u8; 36]>,
}

impl ColumnBuilder {
    /// Appends one annotation.
    pub fn push(&mut self, a: &Annotation) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let ints = [
            a.id.0 as i64,
            a.annotation_type.0 as i64,
            a.user.map_or(0, |u| u.0 as i64),
            a.last_editor.map_or(0, |u| u.0 as i64),
            a.vector.as_ref().and_then(|v| v.frame).map_or(0, i64::from),
            a.time.micros(),
            a.last_edit_time.micros(),
        ];
        for (col, v) in self.ints.iter_mut().zip(ints) {
            col.push(v);
        }
        for (col, v) in self
            .flags
            .iter_mut()
            .zip([a.deleted, a.concealed, a.blurred])
        {
            col.push(u8::from(v));
        }
        let mut b = [f64::NAN; 4];
        if let Some(v) = &a.vector {
            if let Some(first) = v.points.first() {
                b = [first.x, first.y, first.x, first.y];
            }
            for p in &v.points {
                b = [b[0].min(p.x), b[1].min(p.y), b[2].max(p.x), b[3].max(p.y)];
                self.coords.push(p.x);
                self.coords.push(p.y);
            }
        }
        for (col, v) in self.bbox.iter_mut().zip(b) {
            col.push(v);
        }
        self.offsets.push((self.coords.len() / 2) as i64);
        let mut text = [0u8; 36];
        a.unique_identifier.hyphenated().encode_lower(&mut text);
        self.uuids.push(text);
    }

    /// The columns in [`COLUMNS`] order, sorted by id, with the number of annotations and of
    /// nodes.
    pub fn finish(mut self) -> (usize, usize, Vec<Column>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let n = self.uuids.len();
        if !self.ints[0].is_sorted() {
            let mut keyed: Vec<(i64, u32)> = self.ints[0]
                .iter()
                .enumerate()
                .map(|(i, id)| (*id, i as u32))
                .collect();
            keyed.sort_unstable();
            let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i as usize).collect();
            fn gather<T: Copy>(v: &[T], order: &[usize]) -> Vec<T> {
                order.iter().map(|&i| v[i]).collect()
            }
            for col in &mut self.ints {
                *col = gather(col, &order);
            }
            for col in &mut self.flags {
                *col = gather(col, &order);
            }
            for col in &mut self.bbox {
                *col = gather(col, &order);
            }
            self.uuids = gather(&self.uuids, &order);
            let mut offsets = Vec::with_capacity(n + 1);
            let mut coords = Vec::with_capacity(self.coords.len());
            offsets.push(0);
            for &i in &order {
                let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
                coords.extend_from_slice(&self.coords[a * 2..b * 2]);
                offsets.push((coords.len() / 2) as i64);
            }
            self.offsets = offsets;
            self.coords = coords;
        }
        let nodes = self.coords.len() / 2;
        let mut out = Vec::with_capacity(COLUMNS.len());
        out.extend(self.ints.into_iter().map(Column::I64));
        out.extend(self.flags.into_iter().map(Column::Bool));
        out.extend(self.bbox.into_iter().map(Column::F64));
        out.push(Column::I64(self.offsets));
        out.push(Column::F64(self.coords));
        out.push(Column::Text36(self.uuids));
        (n, nodes, out)
    }
}

/// Little-endian numbers from a buffer the Python side made with numpy (`<i8` / `<f8`).
pub fn i64s(field: &str, b: &[u8]) -> Result<Vec<i64>> {
    if !b.len().is_multiple_of(8) {
        return Err(Error::invalid(
            field,
            "buffer is not a whole number of int64",
        ));
    }
    Ok(b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// See [`i64s`].
pub fn f64s(field: &str, b: &[u8]) -> Result<Vec<f64>> {
    if !b.len().is_multiple_of(8) {
        return Err(Error::invalid(
            field,
            "buffer is not a whole number of float64",
        ));
    }
    Ok(b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}
