//! GeoJSON as QuPath writes and reads it. Reading accepts a `FeatureCollection`, a single
//! `Feature`, or QuPath's bare list of features, streamed feature by feature (the file is never
//! held as one JSON tree; nesting deeper than serde_json's limit of 128 is an error, not a stack
//! overflow). `classification.name` is the type, `classification.color` its colour, `name` the
//! remark; `objectType` (other than `annotation`), `isLocked` and `measurements` are kept in
//! `meta_data`. Polygon holes go to `meta_data.holes`; multi-part geometries become one
//! annotation per part (`meta_data.part`).
//!
//! Writing produces a `FeatureCollection` QuPath 0.5 imports: boxes as rectangles, points as
//! `Point`s, lines as `LineString`s, polygons as `Polygon`s, everything in level-0 pixels; what
//! QuPath has no field for rides in `properties.exact`, which this reader restores.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape, shape_of, vector_type_from_name, vector_type_name};
use exact_core::model::VectorType;
use exact_core::vector::Point;
use exact_core::{Error, Result, Timestamp};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::cell::RefCell;
use std::fmt;
use std::io::{Read, Write};
use uuid::Uuid;

/// Streams the items of a GeoJSON document to `f`. Stops at the first error, which names the
/// feature (1-based) and, for syntax errors, the line and column.
pub fn read(r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let stash: RefCell<Option<Error>> = RefCell::new(None);
    let count = RefCell::new(0usize);
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, r));
    let seed = Top {
        f: RefCell::new(f),
        stash: &stash,
        count: &count,
    };
    let res = seed.deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = stash.into_inner() {
        return Err(e);
    }
    res.map_err(|e| {
        let n = *count.borrow();
        let at = if e.line() > 0 {
            format!(" (line {}, column {})", e.line(), e.column())
        } else {
            String::new()
        };
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        Error::invalid(format!("feature {}{at}", n + 1), msg)
    })
}

type Callback<'f> = RefCell<&'f mut dyn FnMut(Item) -> Result<()>>;

struct Top<'s, 'f> {
    f: Callback<'f>,
    stash: &'s RefCell<Option<Error>>,
    count: &'s RefCell<usize>,
}

impl Top<'_, '_> {
    fn emit<E: serde::de::Error>(&self, feature: RawFeature) -> std::result::Result<(), E> {
        let n = {
            let mut c = self.count.borrow_mut();
            *c += 1;
            *c
        };
        let r = items_of(feature, n).and_then(|items| {
            let mut f = self.f.borrow_mut();
            items.into_iter().try_for_each(|i| (*f)(i))
        });
        r.map_err(|e| {
            *self.stash.borrow_mut() = Some(e);
            E::custom("stopped")
        })
    }
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection, Feature, or a list of features")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<RawFeature>()? {
            self.emit(feature)?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut kind: Option<String> = None;
        let mut rest = Map::new();
        let mut streamed = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = Some(map.next_value()?),
                "features" => {
                    map.next_value_seed(Features(&self))?;
                    streamed = true;
                }
                "geometry" | "properties" | "id" | "nucleusGeometry" => {
                    rest.insert(key, map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match kind.as_deref() {
            Some("FeatureCollection") if streamed => Ok(()),
            Some("FeatureCollection") => Err(serde::de::Error::custom(
                "a FeatureCollection without \"features\"",
            )),
            Some("Feature") => {
                rest.insert("type".into(), Value::from("Feature"));
                let feature: RawFeature = serde_json::from_value(Value::Object(rest))
                    .map_err(serde::de::Error::custom)?;
                self.emit(feature)
            }
            Some(other) => Err(serde::de::Error::custom(format!(
                "type {other:?} is neither FeatureCollection nor Feature"
            ))),
            None => Err(serde::de::Error::custom("an object without \"type\"")),
        }
    }
}

struct Features<'t, 's, 'f>(&'t Top<'s, 'f>);

impl<'de> DeserializeSeed<'de> for Features<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Features<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(feature) = seq.next_element::<RawFeature>()? {
            self.0.emit(feature)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawFeature {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    geometry: Option<RawGeometry>,
    #[serde(default)]
    properties: Option<Map<String, Value>>,
    #[serde(default, rename = "nucleusGeometry")]
    nucleus: Option<Value>,
}

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coordinates: Value,
    #[serde(default)]
    geometries: Vec<RawGeometry>,
}

fn items_of(f: RawFeature, n: usize) -> Result<Vec<Item>> {
    let place = format!("feature {n}");
    let bad = |reason: String| Error::invalid(place.clone(), reason);
    if let Some(k) = f.kind.as_deref()
        && k != "Feature"
    {
        return Err(bad(format!("type {k:?} where a Feature was expected")));
    }
    let props = f.properties.unwrap_or_default();
    let mut item = Item::new(place.clone(), "");
    // The class: QuPath's classification, else the type our own export wrote.
    let class = props.get("classification");
    let exact = props.get("exact").and_then(Value::as_object);
    item.type_name = class
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .or_else(|| exact.and_then(|e| e.get("type")).and_then(Value::as_str))
        .unwrap_or("Unclassified")
        .to_owned();
    item.color = class.and_then(colour_of);
    if let Some(name) = props.get("name").and_then(Value::as_str) {
        item.description = name.to_owned();
    }
    match &f.id {
        Some(Value::String(s)) => match Uuid::parse_str(s) {
            Ok(u) => item.uuid = Some(u),
            Err(_) => return Err(bad(format!("id {s:?} is not a UUID"))),
        },
        Some(Value::Null) | None => {}
        Some(other) => return Err(bad(format!("id {other} is not a UUID string"))),
    }
    let mut size = None;
    if let Some(e) = exact {
        read_exact_block(&mut item, e, &mut size)?;
    } else {
        let mut meta = Map::new();
        if let Some(m) = props.get("measurements") {
            meta.insert("measurements".into(), measurements_of(m));
        }
        let mut qupath = Map::new();
        if let Some(t) = props.get("objectType").and_then(Value::as_str)
            && t != "annotation"
        {
            qupath.insert("objectType".into(), Value::from(t));
        }
        if props.get("isLocked").and_then(Value::as_bool) == Some(true) {
            qupath.insert("isLocked".into(), Value::from(true));
        }
        if let Some(n) = f.nucleus.clone().filter(|n| !n.is_null()) {
            qupath.insert("nucleusGeometry".into(), n);
        }
        if !qupath.is_empty() {
            meta.insert("qupath".into(), Value::Object(qupath));
        }
        if !meta.is_empty() {
            item.meta_data = Value::Object(meta);
        }
    }
    let Some(g) = f.geometry else {
        return Ok(vec![item]);
    };
    let mut parts = Vec::new();
    shapes_of(&g, &mut parts, size).map_err(|r| bad(format!("geometry: {r}")))?;
    if parts.len() == 1 {
        let (shape, holes) = parts.remove(0);
        item.shape = shape;
        add_holes(&mut item, holes);
        return Ok(vec![item]);
    }
    let total = parts.len();
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(k, (shape, holes))| {
            let mut it = item.clone();
            it.place = format!("{place} part {}", k + 1);
            it.shape = shape;
            if k > 0 {
                it.uuid = None;
            }
            add_holes(&mut it, holes);
            let mut meta = match it.meta_data.take() {
                Value::Object(m) => m,
                Value::Null => Map::new(),
                other => Map::from_iter([("value".to_owned(), other)]),
            };
            meta.insert("part".into(), json!([k + 1, total]));
            it.meta_data = Value::Object(meta);
            it
        })
        .collect())
}

fn add_holes(item: &mut Item, holes: Vec<Vec<Point>>) {
    if holes.is_empty() {
        return;
    }
    let rings: Vec<Value> = holes.iter().map(|h| ring_json(h, true)).collect();
    let mut meta = match item.meta_data.take() {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => Map::from_iter([("value".to_owned(), other)]),
    };
    meta.insert("holes".into(), Value::Array(rings));
    item.meta_data = Value::Object(meta);
}

/// Fields of our own `properties.exact` block.
pub(crate) fn read_exact_block(
    item: &mut Item,
    e: &Map<String, Value>,
    size: &mut Option<(f64, f64)>,
) -> Result<()> {
    let place = item.place.clone();
    let bad =
        |field: &str, reason: String| Error::invalid(format!("{place}: exact.{field}"), reason);
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);
    if let Some(i) = e.get("image").and_then(Value::as_str) {
        item.image = Some(i.to_owned());
    }
    if let Some(t) = e.get("vector_type").and_then(Value::as_str) {
        item.vector_type = Some(
            vector_type_from_name(t)
                .ok_or_else(|| bad("vector_type", format!("{t:?} is not a vector type")))?,
        );
    }
    if let Some(u) = e.get("uuid").and_then(Value::as_str) {
        item.uuid =
            Some(Uuid::parse_str(u).map_err(|_| bad("uuid", format!("{u:?} is not a UUID")))?);
    }
    item.deleted = flag("deleted");
    item.blurred = flag("blurred");
    item.concealed = flag("concealed");
    if let Some(d) = e.get("description").and_then(Value::as_str) {
        item.description = d.to_owned();
    }
    item.meta_data = e.get("meta_data").cloned().unwrap_or(Value::Null);
    item.user = e.get("user").and_then(Value::as_str).map(str::to_owned);
    for (k, slot) in [
        ("time", &mut item.time),
        ("last_edit_time", &mut item.last_edit_time),
    ] {
        if let Some(t) = e.get(k).and_then(Value::as_str) {
            *slot = Some(Timestamp::parse(&format!("{place}: exact.{k}"), t)?);
        }
    }
    if let Some(f) = e.get("frame") {
        item.frame = Some(
            f.as_u64()
                .and_then(|f| u32::try_from(f).ok())
                .filter(|f| *f >= 1)
                .ok_or_else(|| bad("frame", format!("{f} is not a frame number ≥ 1")))?,
        );
    }
    if let Some(s) = e.get("size").and_then(Value::as_array)
        && let [w, h] = s.as_slice()
        && let (Some(w), Some(h)) = (w.as_f64(), h.as_f64())
    {
        *size = Some((w, h));
    }
    Ok(())
}

type Part = (Shape, Vec<Vec<Point>>);

fn shapes_of(
    g: &RawGeometry,
    out: &mut Vec<Part>,
    size: Option<(f64, f64)>,
) -> std::result::Result<(), String> {
    let c = &g.coordinates;
    match g.kind.as_str() {
        "Point" => out.push((
            Shape::Point {
                at: point(c)?,
                size,
            },
            Vec::new(),
        )),
        "MultiPoint" => {
            for p in array(c)? {
                out.push((
                    Shape::Point {
                        at: point(p)?,
                        size,
                    },
                    Vec::new(),
                ));
            }
        }
        "LineString" => out.push((Shape::Line(points(c)?), Vec::new())),
        "MultiLineString" => {
            for l in array(c)? {
                out.push((Shape::Line(points(l)?), Vec::new()));
            }
        }
        "Polygon" => out.push(polygon(c)?),
        "MultiPolygon" => {
            for p in array(c)? {
                out.push(polygon(p)?);
            }
        }
        "GeometryCollection" => {
            for g in &g.geometries {
                shapes_of(g, out, size)?;
            }
        }
        other => return Err(format!("unknown geometry type {other:?}")),
    }
    if out.len() > exact_core::vector::MAX_NODES {
        return Err("too many parts".into());
    }
    Ok(())
}

fn array(v: &Value) -> std::result::Result<&Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{} where coordinates were expected", short(v)))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}…", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

fn point(v: &Value) -> std::result::Result<Point, String> {
    match v.as_array().map(Vec::as_slice) {
        Some([x, y, ..]) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Ok(Point::new(x, y)),
            _ => Err(format!("{} is not a position [x, y]", short(v))),
        },
        _ => Err(format!("{} is not a position [x, y]", short(v))),
    }
}

fn points(v: &Value) -> std::result::Result<Vec<Point>, String> {
    let a = array(v)?;
    if a.len() > exact_core::vector::MAX_NODES + 1 {
        return Err(format!(
            "{} positions, more than {}",
            a.len(),
            exact_core::vector::MAX_NODES
        ));
    }
    a.iter().map(point).collect()
}

fn polygon(v: &Value) -> std::result::Result<Part, String> {
    let rings = array(v)?;
    let mut it = rings.iter();
    let outer = it.next().ok_or("a Polygon without rings")?;
    let outer = open_ring(points(outer)?);
    let holes = it
        .map(|r| points(r).map(open_ring))
        .collect::<std::result::Result<_, _>>()?;
    Ok((Shape::Polygon(outer), holes))
}

fn open_ring(mut p: Vec<Point>) -> Vec<Point> {
    if p.len() > 1 && p.first() == p.last() {
        p.pop();
    }
    p
}

fn colour_of(class: &Value) -> Option<String> {
    if let Some([r, g, b]) = class
        .get("color")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let c = |v: &Value| v.as_u64().filter(|v| *v < 256);
        return Some(format!("#{:02X}{:02X}{:02X}", c(r)?, c(g)?, c(b)?));
    }
    let rgb = class.get("colorRGB").and_then(Value::as_i64)?;
    Some(format!("#{:06X}", rgb & 0xFF_FFFF))
}

fn measurements_of(m: &Value) -> Value {
    match m {
        // QuPath before 0.4 wrote a list of {name, value}.
        Value::Array(list) => Value::Object(
            list.iter()
                .filter_map(|e| {
                    Some((e.get("name")?.as_str()?.to_owned(), e.get("value")?.clone()))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn ring_json(p: &[Point], close: bool) -> Value {
    let mut v: Vec<Value> = p.iter().map(|q| json!([num(q.x), num(q.y)])).collect();
    if close && let Some(first) = p.first() {
        v.push(json!([num(first.x), num(first.y)]));
    }
    Value::Array(v)
}

fn num(c: f64) -> Value {
    if c.fract() == 0.0 && c.abs() < 9.0e15 {
        Value::from(c as i64)
    } else {
        Value::from(c)
    }
}

/// The `#RRGGBB` colour as QuPath's `[r, g, b]`.
fn rgb_parts(code: &str) -> Option<(u8, u8, u8)> {
    let h = code.strip_prefix('#')?;
    if h.len() != 6 || !h.is_ascii() {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((c(0)?, c(2)?, c(4)?))
}

/// Our `properties.exact` block of one row.
pub(crate) fn exact_block(r: &Row) -> Map<String, Value> {
    let a = r.annotation;
    let mut e = Map::new();
    e.insert("image".into(), Value::from(r.image.name.as_str()));
    e.insert("type".into(), Value::from(r.atype.name.as_str()));
    e.insert(
        "vector_type".into(),
        Value::from(vector_type_name(r.atype.vector_type)),
    );
    e.insert("deleted".into(), Value::from(a.deleted));
    e.insert("blurred".into(), Value::from(a.blurred));
    e.insert("concealed".into(), Value::from(a.concealed));
    e.insert("description".into(), Value::from(a.description.as_str()));
    e.insert("meta_data".into(), a.meta_data.clone());
    e.insert(
        "user".into(),
        r.user.map(Value::from).unwrap_or(Value::Null),
    );
    e.insert("time".into(), Value::from(a.time.to_string()));
    e.insert(
        "last_edit_time".into(),
        Value::from(a.last_edit_time.to_string()),
    );
    if let Some(f) = a.vector.as_ref().and_then(|v| v.frame) {
        e.insert("frame".into(), Value::from(f));
    }
    if let Shape::Point {
        size: Some((w, h)), ..
    } = shape_of(a.vector.as_ref(), r.atype.vector_type)
    {
        e.insert("size".into(), json!([num(w), num(h)]));
    }
    e
}

/// Writes a FeatureCollection.
pub(crate) struct GeoJsonSink<W: Write> {
    out: W,
    first: bool,
    buf: Vec<u8>,
}

impl<W: Write> GeoJsonSink<W> {
    pub(crate) fn new(out: W) -> Self {
        GeoJsonSink {
            out,
            first: true,
            buf: Vec::with_capacity(1024),
        }
    }
}

fn json_str(b: &mut Vec<u8>, s: &str) -> std::io::Result<()> {
    // Most strings need no escaping: copy them as they are.
    if s.bytes()
        .all(|c| c >= 0x20 && c != b'"' && c != b'\\' && c < 0x7f)
    {
        b.push(b'"');
        b.extend_from_slice(s.as_bytes());
        b.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(b, s).map_err(std::io::Error::other)
    }
}

/// A coordinate as [`num`] writes it: integers without a fraction, others as serde_json does.
fn write_num(b: &mut Vec<u8>, c: f64) -> std::io::Result<()> {
    if c.fract() == 0.0 && c.abs() < 9.0e15 {
        write!(b, "{}", c as i64)
    } else {
        serde_json::to_writer(b, &c).map_err(std::io::Error::other)
    }
}

fn write_ring(b: &mut Vec<u8>, p: &[Point], close: bool) -> std::io::Result<()> {
    b.push(b'[');
    let first = if close { p.first() } else { None };
    for (i, q) in p.iter().chain(first).enumerate() {
        if i > 0 {
            b.push(b',');
        }
        b.push(b'[');
        write_num(b, q.x)?;
        b.push(b',');
        write_num(b, q.y)?;
        b.push(b']');
    }
    b.push(b']');
    Ok(())
}

/// [`geometry`]'s value, written; `holes` (GeoJSON rings) follow a polygon's outer ring.
fn write_geometry(
    b: &mut Vec<u8>,
    shape: &Shape,
    holes: Option<&Vec<Value>>,
) -> std::io::Result<()> {
    match shape {
        Shape::None => b.extend_from_slice(b"null"),
        Shape::Exact(v) => {
            b.extend_from_slice(b"{\"coordinates\":");
            write_ring(b, &v.points, false)?;
            b.extend_from_slice(b",\"type\":\"LineString\"}");
        }
        Shape::Point { at, .. } => {
            b.extend_from_slice(b"{\"coordinates\":[");
            write_num(b, at.x)?;
            b.push(b',');
            write_num(b, at.y)?;
            b.extend_from_slice(b"],\"type\":\"Point\"}");
        }
        Shape::Line(p) => {
            b.extend_from_slice(b"{\"coordinates\":");
            write_ring(b, p, false)?;
            b.extend_from_slice(b",\"type\":\"LineString\"}");
        }
        Shape::Polygon(p) => {
            b.extend_from_slice(b"{\"coordinates\":[");
            write_ring(b, p, true)?;
            for h in holes.into_iter().flatten() {
                b.push(b',');
                serde_json::to_writer(&mut *b, h)?;
            }
            b.extend_from_slice(b"],\"type\":\"Polygon\"}");
        }
    }
    Ok(())
}

/// [`exact_block`], written with its keys in sorted order.
fn write_exact_block(b: &mut Vec<u8>, r: &Row, shape: &Shape) -> std::io::Result<()> {
    let a = r.annotation;
    write!(
        b,
        "{{\"blurred\":{},\"concealed\":{},\"deleted\":{},\"description\":",
        a.blurred, a.concealed, a.deleted
    )?;
    json_str(b, &a.description)?;
    if let Some(f) = a.vector.as_ref().and_then(|v| v.frame) {
        write!(b, ",\"frame\":{f}")?;
    }
    b.extend_from_slice(b",\"image\":");
    json_str(b, &r.image.name)?;
    b.extend_from_slice(b",\"last_edit_time\":\"");
    crate::item::write_time(b, a.last_edit_time)?;
    b.extend_from_slice(b"\",\"meta_data\":");
    serde_json::to_writer(&mut *b, &a.meta_data)?;
    if let Shape::Point {
        size: Some((w, h)), ..
    } = shape
    {
        b.extend_from_slice(b",\"size\":[");
        write_num(b, *w)?;
        b.push(b',');
        write_num(b, *h)?;
        b.push(b']');
    }
    b.extend_from_slice(b",\"time\":\"");
    crate::item::write_time(b, a.time)?;
    b.extend_from_slice(b"\",\"type\":");
    json_str(b, &r.atype.name)?;
    b.extend_from_slice(b",\"user\":");
    match r.user {
        Some(u) => json_str(b, u)?,
        None => b.extend_from_slice(b"null"),
    }
    write!(
        b,
        ",\"vector_type\":\"{}\"}}",
        vector_type_name(r.atype.vector_type)
    )
}

impl<W: Write> Sink for GeoJsonSink<W> {
    fn begin(&mut self, head: &Head) -> std::io::Result<()> {
        write!(
            self.out,
            "{{\"type\":\"FeatureCollection\",\"exact\":{},\"features\":[",
            json!({
                "image_set": head.set.name,
                "coordinate_frame": head.frame_note(),
            })
        )
    }

    /// Written straight into a reused buffer, keys in the order `serde_json`'s sorted maps
    /// gave them before (the golden files pin the bytes): building a `serde_json::Value` per
    /// feature cost three quarters of a million-feature export.
    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(if self.first { b"\n" } else { b",\n" });
        self.first = false;
        let shape = shape_of(a.vector.as_ref(), r.atype.vector_type);
        let qupath = a.meta_data.get("qupath");
        b.extend_from_slice(b"{\"geometry\":");
        let holes = (matches!(shape, Shape::Polygon(_))
            && r.atype.vector_type == VectorType::Polygon)
            .then(|| a.meta_data.get("holes").and_then(Value::as_array))
            .flatten();
        write_geometry(b, &shape, holes)?;
        b.extend_from_slice(b",\"id\":\"");
        let mut ubuf = Uuid::encode_buffer();
        b.extend_from_slice(
            a.unique_identifier
                .hyphenated()
                .encode_lower(&mut ubuf)
                .as_bytes(),
        );
        b.push(b'"');
        if let Some(n) = qupath.and_then(|q| q.get("nucleusGeometry")) {
            b.extend_from_slice(b",\"nucleusGeometry\":");
            serde_json::to_writer(&mut *b, n)?;
        }
        b.extend_from_slice(b",\"properties\":{\"classification\":{");
        if let Some((red, green, blue)) = rgb_parts(&r.atype.color_code) {
            write!(b, "\"color\":[{red},{green},{blue}],")?;
        }
        b.extend_from_slice(b"\"name\":");
        json_str(b, &r.atype.name)?;
        b.extend_from_slice(b"},\"exact\":");
        write_exact_block(b, r, &shape)?;
        let locked = qupath
            .and_then(|q| q.get("isLocked"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        write!(b, ",\"isLocked\":{locked}")?;
        if let Some(m) = a.meta_data.get("measurements").filter(|m| m.is_object()) {
            b.extend_from_slice(b",\"measurements\":");
            serde_json::to_writer(&mut *b, m)?;
        }
        if !a.description.is_empty() {
            b.extend_from_slice(b",\"name\":");
            json_str(b, &a.description)?;
        }
        let object_type = qupath
            .and_then(|q| q.get("objectType"))
            .and_then(Value::as_str)
            .unwrap_or("annotation");
        b.extend_from_slice(b",\"objectType\":");
        json_str(b, object_type)?;
        b.extend_from_slice(b"},\"type\":\"Feature\"}");
        self.out.write_all(b)
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}
