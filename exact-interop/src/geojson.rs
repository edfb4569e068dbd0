//! GeoJSON as QuPath writes and reads it. Reading accepts a `FeatureCollection`, a single
//! `Feature`, or QuPath's bare list of features, streamed feature by feature: a small scanner
//! finds each feature's bytes in a 1 MiB read buffer (tracking only strings and bracket depth,
//! so nesting costs no stack), and serde_json parses that slice into typed structs — positions
//! straight into points, `properties` into named fields, no `Value` map per feature. The file
//! is never held whole; one feature larger than 256 MiB is refused; nesting deeper than
//! serde_json's limit of 128 is an error, not a stack overflow. `classification.name` is the
//! type, `classification.color` its colour, `name` the remark; `objectType` (other than
//! `annotation`), `isLocked` and `measurements` are kept in `meta_data`. Polygon holes go to
//! `meta_data.holes`; multi-part geometries become one annotation per part (`meta_data.part`).
//!
//! Writing produces a `FeatureCollection` QuPath 0.5 imports: boxes as rectangles, points as
//! `Point`s, lines as `LineString`s, polygons as `Polygon`s, everything in level-0 pixels; what
//! QuPath has no field for rides in `properties.exact`, which this reader restores.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, ResumeAt, Shape, shape_of, vector_type_from_name, vector_type_name};
use exact_core::model::VectorType;
use exact_core::vector::Point;
use exact_core::{Error, Result, Timestamp};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value, json};
use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::marker::PhantomData;
use uuid::Uuid;

/// Bytes read from the input at a time.
const CHUNK: usize = 1 << 20;
/// The largest single JSON value (one feature) the reader buffers.
const MAX_VALUE: usize = 256 << 20;

/// Streams the items of a GeoJSON document to `f`. Stops at the first error, which names the
/// feature (1-based) and, for syntax errors, the line and column.
pub fn read(r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    read_from(r, None, f)
}

/// [`read`], or with `at` (a [`ResumeAt::GeoJson`] an earlier read of the same file put on
/// an item) reads on from that feature to the end of its list of features: `r` must already
/// be positioned at `at`'s offset. The rest of the document (what follows the list) is not
/// read again: the file was read whole before, when `at` was taken.
pub fn read_from(
    r: impl Read,
    at: Option<ResumeAt>,
    f: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let mut s = Scanner {
        r,
        buf: Vec::with_capacity(CHUNK),
        pos: 0,
        eof: false,
        line: 1,
        line_start: 0,
        base: 0,
        count: 0,
    };
    match at {
        None => s.document(f),
        Some(ResumeAt::GeoJson {
            offset,
            feature,
            line,
            line_start,
        }) => {
            s.base = offset;
            s.line = line;
            s.line_start = line_start;
            s.count = usize::try_from(feature).unwrap_or(usize::MAX);
            s.features_on(f)
        }
        Some(other) => Err(Error::invalid(
            "resume",
            format!("a GeoJSON file cannot be read on from {}", other.describe()),
        )),
    }
}

/// The reader's position in the stream and its buffer: `buf[pos..]` is not yet consumed;
/// `base` is the file offset of `buf[0]`, `line` the line of `buf[pos]`, and `line_start` the
/// file offset where that line starts.
struct Scanner<R> {
    r: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    line: u64,
    line_start: u64,
    base: u64,
    /// Features read so far.
    count: usize,
}

impl<R: Read> Scanner<R> {
    /// Reads more input behind the unconsumed bytes (dropping the consumed ones first).
    /// `false` at the end of the input.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        let n = loop {
            match self.r.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(Error::backend("import input", e));
                }
            }
        };
        self.buf.truncate(old + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Line and column (1-based) of `buf[at]`, `at >= pos`.
    fn where_at(&self, at: usize) -> (u64, u64) {
        let s = &self.buf[self.pos..at.min(self.buf.len())];
        match s.iter().rposition(|b| *b == b'\n') {
            Some(last) => {
                let lines = s.iter().filter(|b| **b == b'\n').count() as u64;
                (self.line + lines, (s.len() - last) as u64)
            }
            None => (self.line, self.base + at as u64 - self.line_start + 1),
        }
    }

    /// Consumes `n` bytes, keeping the line count.
    fn advance(&mut self, n: usize) {
        let s = &self.buf[self.pos..self.pos + n];
        if let Some(last) = s.iter().rposition(|b| *b == b'\n') {
            self.line += s.iter().filter(|b| **b == b'\n').count() as u64;
            self.line_start = self.base + (self.pos + last + 1) as u64;
        }
        self.pos += n;
    }

    /// An error at `buf[at]`, placed at the next feature.
    fn error_at(&self, at: usize, msg: impl fmt::Display) -> Error {
        let (line, column) = self.where_at(at);
        Error::invalid(
            format!("feature {} (line {line}, column {column})", self.count + 1),
            msg.to_string(),
        )
    }

    /// The next byte that is not white space (not consumed), `None` at the end.
    fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            while self.pos < self.buf.len() {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        self.line_start = self.base + self.pos as u64;
                    }
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consumes `want` (after white space) or fails naming what was expected.
    fn expect(&mut self, want: &[u8], what: &str) -> Result<u8> {
        match self.peek()? {
            Some(b) if want.contains(&b) => {
                self.pos += 1;
                Ok(b)
            }
            Some(b) => Err(self.error_at(
                self.pos,
                format!("expected {what}, found {:?}", char::from(b)),
            )),
            None => Err(self.error_at(self.pos, format!("EOF while expecting {what}"))),
        }
    }

    /// The length of the JSON value starting at `buf[pos]` (after white space), with all of
    /// it in the buffer. Only strings and bracket depth are tracked; serde_json checks the
    /// rest when the slice is parsed.
    fn value_len(&mut self) -> Result<usize> {
        if self.peek()?.is_none() {
            return Err(self.error_at(self.pos, "EOF while parsing a value"));
        }
        let (mut depth, mut in_str, mut esc, mut k) = (0usize, false, false, 0usize);
        loop {
            let s = &self.buf[self.pos..];
            while k < s.len() {
                let b = s[k];
                k += 1;
                if in_str {
                    if esc {
                        esc = false;
                    } else if b == b'\\' {
                        esc = true;
                    } else if b == b'"' {
                        in_str = false;
                        if depth == 0 {
                            return Ok(k);
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth == 0 => return Ok(k - 1),
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(k);
                        }
                    }
                    b',' | b' ' | b'\n' | b'\t' | b'\r' if depth == 0 => return Ok(k - 1),
                    _ => {}
                }
            }
            if k > MAX_VALUE {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "a single feature or value larger than {} MiB",
                        MAX_VALUE >> 20
                    ),
                ));
            }
            if !self.fill()? {
                if depth == 0 && !in_str {
                    return Ok(k);
                }
                return Err(self.error_at(self.pos + k, "EOF while parsing a value"));
            }
        }
    }

    /// Parses the next value as `T` and consumes it.
    fn parse<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T> {
        let n = self.value_len()?;
        let slice = &self.buf[self.pos..self.pos + n];
        let v = serde_json::from_slice::<T>(slice).map_err(|e| self.json_error(e))?;
        self.advance(n);
        Ok(v)
    }

    /// A serde_json error in the slice at `buf[pos..]`, placed in the file.
    fn json_error(&self, e: serde_json::Error) -> Error {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let (line, column) = self.where_at(self.pos);
        let (l, c) = if e.line() <= 1 {
            (line, column + e.column().saturating_sub(1) as u64)
        } else {
            (line + e.line() as u64 - 1, e.column() as u64)
        };
        Error::invalid(
            format!("feature {} (line {l}, column {c})", self.count + 1),
            msg,
        )
    }

    /// The next feature: parsed from its bytes and handed on as items.
    fn feature(&mut self, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        // Where a later read can start again to read this feature (before its white space).
        let at = Some(ResumeAt::GeoJson {
            offset: self.base + self.pos as u64,
            feature: self.count as u64,
            line: self.line,
            line_start: self.line_start,
        });
        let n = self.value_len()?;
        let slice = &self.buf[self.pos..self.pos + n];
        let feature =
            serde_json::from_slice::<RawFeature>(slice).map_err(|e| self.json_error(e))?;
        self.count += 1;
        items_of(feature, self.count, &mut |mut item| {
            item.resume = at;
            f(item)
        })?;
        self.advance(n);
        Ok(())
    }

    /// `[feature, …]`, the `[` not yet consumed.
    fn features(&mut self, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        self.expect(b"[", "a list of features")?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        self.features_on(f)
    }

    /// `feature, …]`: the features of a list from one that starts here.
    fn features_on(&mut self, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        loop {
            self.feature(f)?;
            if self.expect(b",]", "',' or ']' after a feature")? == b']' {
                return Ok(());
            }
        }
    }

    fn document(&mut self, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        // A byte order mark is not JSON, but editors write one.
        while self.buf.len() < 3 && self.fill()? {}
        if self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.pos = 3;
        }
        match self.peek()? {
            Some(b'[') => self.features(f)?,
            Some(b'{') => self.object(f)?,
            Some(b) => {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "expected a GeoJSON FeatureCollection, Feature, or a list of features, found {:?}",
                        char::from(b)
                    ),
                ));
            }
            None => return Err(self.error_at(self.pos, "EOF while parsing a value")),
        }
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.error_at(self.pos, "trailing characters")),
        }
    }

    /// A top-level object: a FeatureCollection (its features streamed) or one Feature.
    fn object(&mut self, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
        self.expect(b"{", "an object")?;
        let mut kind: Option<String> = None;
        let mut rest: Vec<(String, Vec<u8>)> = Vec::new();
        let mut streamed = false;
        if self.peek()? != Some(b'}') {
            loop {
                if self.peek()? != Some(b'"') {
                    return Err(self.error_at(self.pos, "expected a key"));
                }
                let key: String = self.parse()?;
                self.expect(b":", "':'")?;
                match key.as_str() {
                    "type" => {
                        kind = Some(
                            self.parse::<String>()
                                .map_err(|_| self.error_at(self.pos, "\"type\" is not a string"))?,
                        )
                    }
                    "features" => {
                        self.features(f)?;
                        streamed = true;
                    }
                    "geometry" | "properties" | "id" | "nucleusGeometry" => {
                        let n = self.value_len()?;
                        rest.push((key, self.buf[self.pos..self.pos + n].to_vec()));
                        self.advance(n);
                    }
                    _ => {
                        let _: IgnoredAny = self.parse()?;
                    }
                }
                if self.expect(b",}", "',' or '}'")? == b'}' {
                    break;
                }
            }
        } else {
            self.pos += 1;
        }
        match kind.as_deref() {
            Some("FeatureCollection") if streamed => Ok(()),
            Some("FeatureCollection") => {
                Err(self.error_at(self.pos, "a FeatureCollection without \"features\""))
            }
            Some("Feature") => {
                let mut doc = b"{\"type\":\"Feature\"".to_vec();
                for (k, v) in &rest {
                    doc.push(b',');
                    doc.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                    doc.push(b':');
                    doc.extend_from_slice(v);
                }
                doc.push(b'}');
                let feature = serde_json::from_slice::<RawFeature>(&doc).map_err(|e| {
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                    Error::invalid("feature 1", msg)
                })?;
                self.count += 1;
                items_of(feature, self.count, f)
            }
            Some(other) => Err(self.error_at(
                self.pos,
                format!("type {other:?} is neither FeatureCollection nor Feature"),
            )),
            None => Err(self.error_at(self.pos, "an object without \"type\"")),
        }
    }
}

/// `T` when the JSON value is an object, `None` for anything else (QuPath's fields are read
/// leniently: a `classification` that is a string is no error, just no class).
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[derive(Deserialize)]
struct RawFeature<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    geometry: Option<RawGeometry<'a>>,
    #[serde(default)]
    properties: Lenient<Props>,
    #[serde(default, rename = "nucleusGeometry")]
    nucleus: Option<Value>,
}

/// The `properties` QuPath and our export write; others are skipped unparsed.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Props {
    classification: Lenient<Class>,
    exact: Option<Value>,
    name: Option<Value>,
    #[serde(rename = "objectType")]
    object_type: Option<Value>,
    #[serde(rename = "isLocked")]
    is_locked: Option<Value>,
    measurements: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Class {
    name: Option<Value>,
    color: Option<Value>,
    #[serde(rename = "colorRGB")]
    rgb: Option<Value>,
}

#[derive(Deserialize)]
struct RawGeometry<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    coordinates: Coords,
    #[serde(default, borrow)]
    geometries: Vec<RawGeometry<'a>>,
}

/// GeoJSON `coordinates`, typed: an array of two or more numbers is a position, read
/// straight into a point (no allocation); anything else is kept for the error message.
#[derive(Default)]
enum Coords {
    #[default]
    Null,
    Num(Number),
    Pos(Point),
    List(Vec<Coords>),
    Other(Value),
}

impl Coords {
    fn to_value(&self) -> Value {
        match self {
            Coords::Null => Value::Null,
            Coords::Num(n) => Value::Number(n.clone()),
            Coords::Pos(p) => json!([num(p.x), num(p.y)]),
            Coords::List(l) => Value::Array(l.iter().map(Coords::to_value).collect()),
            Coords::Other(v) => v.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Coords;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("coordinates")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Coords, A::Error> {
                // Up to three leading numbers are kept unboxed; a position needs two.
                let mut nums: [Option<Number>; 3] = [None, None, None];
                let mut count = 0usize;
                let mut list: Option<Vec<Coords>> = None;
                while let Some(c) = seq.next_element::<Coords>()? {
                    match (&mut list, c) {
                        (None, Coords::Num(n)) => {
                            if count < 3 {
                                nums[count] = Some(n);
                            }
                            count += 1;
                        }
                        (None, other) => {
                            let mut l: Vec<Coords> = nums
                                .iter_mut()
                                .filter_map(Option::take)
                                .map(Coords::Num)
                                .collect();
                            l.push(other);
                            list = Some(l);
                        }
                        (Some(l), c) => {
                            if l.len() > exact_core::vector::MAX_NODES + 1 {
                                return Err(serde::de::Error::custom(format!(
                                    "more than {} positions in one list",
                                    exact_core::vector::MAX_NODES
                                )));
                            }
                            l.push(c);
                        }
                    }
                }
                if let Some(l) = list {
                    return Ok(Coords::List(l));
                }
                match (&nums[0], &nums[1]) {
                    (Some(x), Some(y)) => Ok(Coords::Pos(Point::new(
                        x.as_f64().unwrap_or(f64::NAN),
                        y.as_f64().unwrap_or(f64::NAN),
                    ))),
                    _ => Ok(Coords::List(
                        nums.into_iter().flatten().map(Coords::Num).collect(),
                    )),
                }
            }
            fn visit_i64<E>(self, v: i64) -> std::result::Result<Coords, E> {
                Ok(Coords::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> std::result::Result<Coords, E> {
                Ok(Coords::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> std::result::Result<Coords, E> {
                Ok(Number::from_f64(v).map(Coords::Num).unwrap_or(Coords::Null))
            }
            fn visit_unit<E>(self) -> std::result::Result<Coords, E> {
                Ok(Coords::Null)
            }
            fn visit_bool<E>(self, v: bool) -> std::result::Result<Coords, E> {
                Ok(Coords::Other(Value::Bool(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Coords, E> {
                Ok(Coords::Other(Value::from(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Coords, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Coords::Other)
            }
        }
        d.deserialize_any(V)
    }
}

fn as_str(v: &Option<Value>) -> Option<&str> {
    v.as_ref().and_then(Value::as_str)
}

/// The items of one feature (several for multi-part geometries), handed to `f`.
fn items_of(f: RawFeature, n: usize, out: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let place = format!("feature {n}");
    let bad = |reason: String| Error::invalid(place.clone(), reason);
    if let Some(k) = f.kind.as_deref()
        && k != "Feature"
    {
        return Err(bad(format!("type {k:?} where a Feature was expected")));
    }
    let props = f.properties.0.unwrap_or_default();
    let mut item = Item::new(place.clone(), "");
    // The class: QuPath's classification, else the type our own export wrote.
    let class = props.classification.0.as_ref();
    let exact = props.exact.as_ref().and_then(Value::as_object);
    item.type_name = class
        .and_then(|c| as_str(&c.name))
        .or_else(|| exact.and_then(|e| e.get("type")).and_then(Value::as_str))
        .unwrap_or("Unclassified")
        .to_owned();
    item.color = class.and_then(colour_of);
    if let Some(name) = as_str(&props.name) {
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
        if let Some(m) = &props.measurements {
            meta.insert("measurements".into(), measurements_of(m));
        }
        let mut qupath = Map::new();
        if let Some(t) = as_str(&props.object_type)
            && t != "annotation"
        {
            qupath.insert("objectType".into(), Value::from(t));
        }
        if props.is_locked.as_ref().and_then(Value::as_bool) == Some(true) {
            qupath.insert("isLocked".into(), Value::from(true));
        }
        if let Some(n) = f.nucleus.filter(|n| !n.is_null()) {
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
        return out(item);
    };
    let mut parts = Vec::new();
    shapes_of(&g, &mut parts, size).map_err(|r| bad(format!("geometry: {r}")))?;
    if parts.len() == 1 {
        let (shape, holes) = parts.remove(0);
        item.shape = shape;
        add_holes(&mut item, holes);
        return out(item);
    }
    let total = parts.len();
    for (k, (shape, holes)) in parts.into_iter().enumerate() {
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
        out(it)?;
    }
    Ok(())
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
    match g.kind.as_ref() {
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

fn array(v: &Coords) -> std::result::Result<&[Coords], String> {
    match v {
        Coords::List(l) => Ok(l),
        other => Err(format!(
            "{} where coordinates were expected",
            short(&other.to_value())
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}…", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

fn point(v: &Coords) -> std::result::Result<Point, String> {
    match v {
        Coords::Pos(p) if p.x.is_finite() && p.y.is_finite() => Ok(*p),
        other => Err(format!(
            "{} is not a position [x, y]",
            short(&other.to_value())
        )),
    }
}

fn points(v: &Coords) -> std::result::Result<Vec<Point>, String> {
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

fn polygon(v: &Coords) -> std::result::Result<Part, String> {
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

fn colour_of(class: &Class) -> Option<String> {
    if let Some([r, g, b]) = class
        .color
        .as_ref()
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let c = |v: &Value| v.as_u64().filter(|v| *v < 256);
        return Some(format!("#{:02X}{:02X}{:02X}", c(r)?, c(g)?, c(b)?));
    }
    let rgb = class.rgb.as_ref().and_then(Value::as_i64)?;
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
        crate::item::write_int(b, c as i64);
        Ok(())
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
    let flag = |v: bool| -> &'static [u8] { if v { b"true" } else { b"false" } };
    b.extend_from_slice(b"{\"blurred\":");
    b.extend_from_slice(flag(a.blurred));
    b.extend_from_slice(b",\"concealed\":");
    b.extend_from_slice(flag(a.concealed));
    b.extend_from_slice(b",\"deleted\":");
    b.extend_from_slice(flag(a.deleted));
    b.extend_from_slice(b",\"description\":");
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
    b.extend_from_slice(b",\"vector_type\":\"");
    b.extend_from_slice(vector_type_name(r.atype.vector_type).as_bytes());
    b.extend_from_slice(b"\"}");
    Ok(())
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
            b.extend_from_slice(b"\"color\":[");
            crate::item::write_int(b, i64::from(red));
            b.push(b',');
            crate::item::write_int(b, i64::from(green));
            b.push(b',');
            crate::item::write_int(b, i64::from(blue));
            b.extend_from_slice(b"],");
        }
        b.extend_from_slice(b"\"name\":");
        json_str(b, &r.atype.name)?;
        b.extend_from_slice(b"},\"exact\":");
        write_exact_block(b, r, &shape)?;
        let locked = qupath
            .and_then(|q| q.get("isLocked"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        b.extend_from_slice(if locked {
            b",\"isLocked\":true"
        } else {
            b",\"isLocked\":false"
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most 7 bytes per read, so features and strings straddle reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn items(text: &str) -> Result<Vec<Item>> {
        let mut got = Vec::new();
        read(Trickle(text.as_bytes()), &mut |i| {
            got.push(i);
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn reading_on_from_an_item_gives_the_same_items_from_there() {
        let f = |x: u32| {
            format!(
                "{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"MultiPoint\",\"coordinates\":[[{x},1],[{x},2]]}},\"properties\":{{\"name\":\"],{x}\"}}}}"
            )
        };
        let text = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[ {},\n  {} ,{},\n\n{}\n],\"bbox\":[0,0,9,9]}}",
            f(1),
            f(2),
            f(3),
            f(4)
        );
        let all = items(&text).unwrap();
        assert_eq!(all.len(), 8);
        for (k, item) in all.iter().enumerate() {
            let at = item.resume.expect("features in a list carry their place");
            let off = at.seek_to().unwrap() as usize;
            let mut got = Vec::new();
            read_from(Trickle(&text.as_bytes()[off..]), Some(at), &mut |i| {
                got.push(i);
                Ok(())
            })
            .unwrap();
            // From the item's feature on: the feature's earlier parts come again.
            let from = k - k % 2;
            assert_eq!(got, all[from..], "from item {k} at {at:?}");
            assert_eq!(at.items_before(), (k / 2) as u64);
        }
        // An error after reading on names the same feature, line and column as a whole read.
        let broken = text.replace("[4,2]", "[4,,2]");
        let whole = items(&broken).unwrap_err().to_string();
        assert!(whole.contains("feature 4 (line 4"), "{whole}");
        let at = all[2].resume.unwrap();
        let off = at.seek_to().unwrap() as usize;
        let on = read_from(
            Trickle(&broken.as_bytes()[off..]),
            Some(at),
            &mut |_| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(on, whole);
    }

    #[test]
    fn features_are_read_across_reads_whatever_their_strings_hold() {
        let text = "\u{feff}{\"type\":\"FeatureCollection\",\"name\":\"a ] } [ \\\" tricky\",\n\"features\":[\n\
            {\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1.5,2]},\"properties\":{\"name\":\"x}]\\\"\",\"classification\":{\"name\":\"cell\",\"color\":[255,0,16]}}},\n\
            {\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[4,0],[4,4],[0,0]]]},\"properties\":{\"classification\":\"not an object\",\"other\":{\"deep\":[[[]]]}}}\n\
            ],\"crs\":null}";
        let got = items(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].type_name, "cell");
        assert_eq!(got[0].color.as_deref(), Some("#FF0010"));
        assert_eq!(got[0].description, "x}]\"");
        assert_eq!(
            got[0].shape,
            Shape::Point {
                at: Point::new(1.5, 2.0),
                size: None
            }
        );
        assert_eq!(got[1].type_name, "Unclassified");
        assert_eq!(
            got[1].shape,
            Shape::Polygon(vec![
                Point::new(0.0, 0.0),
                Point::new(4.0, 0.0),
                Point::new(4.0, 4.0)
            ])
        );
        // One bare Feature, and a bare list.
        let one =
            items("{\"geometry\":{\"coordinates\":[3,4],\"type\":\"Point\"},\"type\":\"Feature\"}")
                .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(items("[ ]").unwrap().len(), 0);
    }

    #[test]
    fn errors_name_the_feature_line_and_column() {
        let good = "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[1,2]}}";
        let e = items(&format!(
            "[{good},\n{good},\n  {{\"type\":\"Feature\",\"geometry\":tru]"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("feature 3 (line 3, column"), "{e}");
        let e = items(&format!("[{good},\n{good}")).unwrap_err();
        assert!(e.to_string().contains("feature 3 (line 2"), "{e}");
        let e = items(&format!("[{good}] x")).unwrap_err();
        assert!(e.to_string().contains("trailing characters"), "{e}");
        let e = items(&format!("[{good},{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[1]}}}}]")).unwrap_err();
        assert!(
            e.to_string()
                .contains("feature 2: geometry: [1] is not a position"),
            "{e}"
        );
        let e = items("{\"type\":\"FeatureCollection\"}").unwrap_err();
        assert!(e.to_string().contains("without \"features\""), "{e}");
    }
}
