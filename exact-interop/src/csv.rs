//! CSV, one row per annotation, with the header [`HEADER`]. `vector` is EXACT's vector JSON
//! (`{"x1":…,"y1":…}`, empty for none), so every vector type and sub-pixel coordinate round
//! trips; `meta_data` is JSON, flags are `true`/`false`, times EXACT's ISO form. Reading
//! needs the columns `image`, `type` and `vector`; the others may be missing or reordered.
//! Errors name the row (1-based, after the header) and its line.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape, vector_type_from_name, vector_type_name};
use exact_core::vector::Vector;
use exact_core::{Error, Result, Timestamp};
use serde_json::Value;
use std::io::{Read, Write};
use uuid::Uuid;

/// The columns an export writes, in order.
pub const HEADER: [&str; 13] = [
    "image",
    "type",
    "vector_type",
    "vector",
    "uuid",
    "user",
    "deleted",
    "blurred",
    "concealed",
    "description",
    "meta_data",
    "time",
    "last_edit_time",
];

/// Streams the rows of a CSV file to `f`.
pub fn read(r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut rd = ::csv::ReaderBuilder::new().flexible(false).from_reader(r);
    let headers = rd
        .headers()
        .map_err(|e| Error::invalid("header", e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().trim_start_matches('\u{feff}') == name)
    };
    let (Some(image), Some(atype), Some(vector)) = (col("image"), col("type"), col("vector"))
    else {
        return Err(Error::invalid(
            "header",
            format!(
                "needs the columns image, type and vector; got {:?}",
                headers.iter().collect::<Vec<_>>()
            ),
        ));
    };
    let cols: Vec<Option<usize>> = HEADER.iter().map(|h| col(h)).collect();
    let mut record = ::csv::StringRecord::new();
    let mut n = 0usize;
    loop {
        let more = rd.read_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::invalid(format!("row {} (line {line})", n + 1), e.to_string())
        })?;
        if !more {
            return Ok(());
        }
        n += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let place = format!("row {n} (line {line})");
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or("");
        let bad = |field: &str, reason: String| Error::invalid(format!("{place}: {field}"), reason);
        let mut item = Item::new(place.clone(), get(Some(atype)));
        let name = get(Some(image));
        if !name.is_empty() {
            item.image = Some(name.to_owned());
        }
        let vt = get(cols[2]);
        if !vt.is_empty() {
            item.vector_type = Some(
                vector_type_from_name(vt)
                    .ok_or_else(|| bad("vector_type", format!("{vt:?} is not a vector type")))?,
            );
        }
        let v = get(Some(vector)).trim();
        if !v.is_empty() && v != "null" {
            let json: Value = serde_json::from_str(v).map_err(|e| bad("vector", e.to_string()))?;
            match Vector::from_json(&json).map_err(|e| bad("vector", e.to_string()))? {
                Some(v) if v.points.is_empty() => item.frame = v.frame,
                Some(v) => item.shape = Shape::Exact(v),
                None => {}
            }
        }
        let u = get(cols[4]);
        if !u.is_empty() {
            item.uuid =
                Some(Uuid::parse_str(u).map_err(|_| bad("uuid", format!("{u:?} is not a UUID")))?);
        }
        let user = get(cols[5]);
        if !user.is_empty() {
            item.user = Some(user.to_owned());
        }
        for (i, slot) in [
            (6, &mut item.deleted),
            (7, &mut item.blurred),
            (8, &mut item.concealed),
        ] {
            *slot = match get(cols[i]).trim().to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => false,
                "true" | "1" | "yes" => true,
                other => return Err(bad(HEADER[i], format!("{other:?} is not true or false"))),
            };
        }
        item.description = get(cols[9]).to_owned();
        let m = get(cols[10]).trim();
        if !m.is_empty() {
            item.meta_data =
                serde_json::from_str(m).map_err(|e| bad("meta_data", e.to_string()))?;
        }
        for (i, slot) in [(11, &mut item.time), (12, &mut item.last_edit_time)] {
            let t = get(cols[i]).trim();
            if !t.is_empty() {
                *slot = Some(Timestamp::parse(&format!("{place}: {}", HEADER[i]), t)?);
            }
        }
        f(item)?;
    }
}

/// Writes the CSV.
pub(crate) struct CsvSink<W: Write> {
    out: ::csv::Writer<W>,
    /// Reused for each row's vector, meta_data and times (no allocation per row).
    vector: Vec<u8>,
    meta: Vec<u8>,
    times: Vec<u8>,
}

impl<W: Write> CsvSink<W> {
    pub(crate) fn new(out: W) -> Self {
        CsvSink {
            out: ::csv::WriterBuilder::new().from_writer(out),
            vector: Vec::with_capacity(256),
            meta: Vec::with_capacity(256),
            times: Vec::with_capacity(56),
        }
    }
}

fn io(e: ::csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl<W: Write> Sink for CsvSink<W> {
    fn begin(&mut self, _head: &Head) -> std::io::Result<()> {
        self.out.write_record(HEADER).map_err(io)
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        self.vector.clear();
        if let Some(v) = &a.vector {
            serde_json::to_writer(&mut self.vector, v).map_err(std::io::Error::other)?;
        }
        self.meta.clear();
        if !a.meta_data.is_null() {
            serde_json::to_writer(&mut self.meta, &a.meta_data).map_err(std::io::Error::other)?;
        }
        let b = |v: bool| if v { "true" } else { "false" };
        // Times without chrono's format machinery (see `item::write_time`).
        let times = &mut self.times;
        times.clear();
        crate::item::write_time(times, a.time)?;
        let split = times.len();
        crate::item::write_time(times, a.last_edit_time)?;
        let (time, last) = times.split_at(split);
        let mut ubuf = Uuid::encode_buffer();
        let uuid = a.unique_identifier.hyphenated().encode_lower(&mut ubuf);
        self.out
            .write_record([
                r.image.name.as_bytes(),
                r.atype.name.as_bytes(),
                vector_type_name(r.atype.vector_type).as_bytes(),
                &self.vector[..],
                uuid.as_bytes(),
                r.user.unwrap_or("").as_bytes(),
                b(a.deleted).as_bytes(),
                b(a.blurred).as_bytes(),
                b(a.concealed).as_bytes(),
                a.description.as_bytes(),
                &self.meta[..],
                time,
                last,
            ])
            .map_err(io)
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
