//! EXACT's label-upload lines, `imagename|typename|{json vector}|flags|uuid` (EXACT.md §6):
//! flags `b` blurred and `c` concealed; a vector of `not in image` or `{}` is none. The same
//! lines are what an export in this format writes (EXACT's default export template), so
//! exports re-import. Errors name the line.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape};
use exact_core::vector::Vector;
use exact_core::{Error, Result};
use std::io::{BufRead, BufReader, Read, Write};
use uuid::Uuid;

/// Longest line accepted (a vector of the most nodes fits well within it).
const MAX_LINE: usize = 16 << 20;

/// Streams the lines of a label file to `f`; blank lines are skipped.
pub fn read(r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut rd = BufReader::new(r);
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        let got = (&mut rd)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::backend("label file", e))?;
        if got == 0 {
            return Ok(());
        }
        n += 1;
        let place = format!("line {n}");
        if buf.len() > MAX_LINE {
            return Err(Error::invalid(
                place,
                format!("longer than {MAX_LINE} bytes"),
            ));
        }
        let line =
            std::str::from_utf8(&buf).map_err(|_| Error::invalid(place.clone(), "not UTF-8"))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        f(parse_line(line, place)?)?;
    }
}

fn parse_line(line: &str, place: String) -> Result<Item> {
    let bad = |reason: String| Error::invalid(place.clone(), reason);
    let mut parts = line.splitn(3, '|');
    let (Some(image), Some(atype), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected imagename|typename|{vector}|flags|uuid".into()));
    };
    // The vector may contain no '|', so the last two fields are split from the right.
    let mut tail = rest.rsplitn(3, '|');
    let (a, b, c) = (tail.next(), tail.next(), tail.next());
    let (vector, flags, uuid) = match (a, b, c) {
        (Some(u), Some(fl), Some(v)) => (v, fl, u),
        (Some(fl), Some(v), None) => (v, fl, ""),
        (Some(v), None, None) => (v, "", ""),
        _ => return Err(bad("expected imagename|typename|{vector}|flags|uuid".into())),
    };
    let mut item = Item::new(place.clone(), atype.trim());
    item.image = Some(image.trim().to_owned());
    let v = vector.trim();
    if !(v.is_empty() || v == "not in image" || v == "{}" || v == "null") {
        let json: serde_json::Value =
            serde_json::from_str(v).map_err(|e| bad(format!("vector: {e}")))?;
        if let Some(v) = Vector::from_json(&json).map_err(|e| bad(e.to_string()))? {
            item.shape = Shape::Exact(v);
        }
    }
    for ch in flags.trim().chars() {
        match ch {
            'b' => item.blurred = true,
            'c' => item.concealed = true,
            'd' => item.deleted = true,
            other => {
                return Err(bad(format!(
                    "unknown flag {other:?} (b = blurred, c = concealed)"
                )));
            }
        }
    }
    let u = uuid.trim();
    if !u.is_empty() {
        item.uuid = Some(Uuid::parse_str(u).map_err(|_| bad(format!("{u:?} is not a UUID")))?);
    }
    Ok(item)
}

/// Writes label lines.
pub(crate) struct LabelSink<W: Write> {
    out: std::io::BufWriter<W>,
}

impl<W: Write> LabelSink<W> {
    pub(crate) fn new(out: W) -> Self {
        LabelSink {
            out: std::io::BufWriter::with_capacity(1 << 16, out),
        }
    }
}

impl<W: Write> Sink for LabelSink<W> {
    fn begin(&mut self, _head: &Head) -> std::io::Result<()> {
        Ok(())
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        let vector = match &a.vector {
            Some(v) => serde_json::to_string(v).map_err(std::io::Error::other)?,
            None => "not in image".to_owned(),
        };
        let mut flags = String::new();
        if a.blurred {
            flags.push('b');
        }
        if a.concealed {
            flags.push('c');
        }
        if a.deleted {
            flags.push('d');
        }
        writeln!(
            self.out,
            "{}|{}|{}|{}|{}",
            r.image.name, r.atype.name, vector, flags, a.unique_identifier
        )
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
