//! What the two XML formats (ASAP, Aperio ImageScope) share: a streaming reader that yields
//! one tag at a time with its attributes decoded (UTF-8, or ISO-8859-1/Windows-1252 as
//! ImageScope declares), the line each tag ends on (for messages), and an escaper for writing.
//! quick-xml reads event by event without recursion, so neither depth nor size of the document
//! costs stack; one tag is held at a time, and a tag larger than [`MAX_TAG`] is refused.

use exact_core::{Error, Result};
use quick_xml::events::{BytesStart, Event};
use std::io::{BufRead, Read};

/// The largest single tag (with its attributes) accepted: 16 MiB. A 100,000-node vector in
/// our own `exact` JSON attribute takes about 5 MB.
pub(crate) const MAX_TAG: usize = 16 << 20;

/// A `BufRead` that counts the newlines consumed, so the reader knows its line.
struct Lines<R> {
    inner: R,
    line: u64,
}

impl<R: BufRead> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Lines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(b) = self.inner.fill_buf() {
            let n = amt.min(b.len());
            self.line += b[..n].iter().filter(|c| **c == b'\n').count() as u64;
        }
        self.inner.consume(amt);
    }
}

/// One tag.
pub(crate) enum Tag {
    /// `<name …>` or `<name …/>` (`empty`), with its attributes.
    Open {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    /// `</name>`.
    Close(String),
    /// The end of the document.
    Eof,
}

/// A streaming XML reader over any input.
pub(crate) struct XmlIn<R: BufRead> {
    reader: quick_xml::Reader<Lines<R>>,
    buf: Vec<u8>,
    latin1: bool,
    depth: usize,
    open: Vec<String>,
    what: &'static str,
}

impl<R: BufRead> XmlIn<R> {
    /// Reads `input`; `what` names the format in messages.
    pub(crate) fn new(input: R, what: &'static str) -> Self {
        let mut reader = quick_xml::Reader::from_reader(Lines {
            inner: input,
            line: 1,
        });
        reader.config_mut().check_end_names = true;
        XmlIn {
            reader,
            buf: Vec::new(),
            latin1: false,
            depth: 0,
            open: Vec::new(),
            what,
        }
    }

    /// The line (1-based) the last tag ended on.
    pub(crate) fn line(&self) -> u64 {
        self.reader.get_ref().line
    }

    /// An error at the current line.
    pub(crate) fn bad(&self, place: &str, reason: impl Into<String>) -> Error {
        Error::invalid(format!("{place} (line {})", self.line()), reason)
    }

    /// The next tag; text, comments and declarations are skipped (the declaration's encoding
    /// is remembered).
    pub(crate) fn next(&mut self) -> Result<Tag> {
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let ev = self.reader.read_event_into(&mut buf).map_err(|e| {
                Error::invalid(
                    format!("{} (line {})", self.what, self.reader.get_ref().line),
                    format!("not well-formed XML: {e}"),
                )
            })?;
            let tag = match ev {
                Event::Decl(d) => {
                    if let Some(Ok(enc)) = d.encoding() {
                        let enc = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                        self.latin1 = matches!(
                            enc.as_str(),
                            "iso-8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252"
                        );
                    }
                    drop(d);
                    self.buf = buf;
                    continue;
                }
                Event::Start(s) => Tag::Open {
                    name: self.name(&s),
                    attrs: self.attrs(&s)?,
                    empty: false,
                },
                Event::Empty(s) => Tag::Open {
                    name: self.name(&s),
                    attrs: self.attrs(&s)?,
                    empty: true,
                },
                Event::End(e) => Tag::Close(self.text(e.local_name().as_ref())),
                Event::Eof => {
                    if let Some(name) = self.open.last() {
                        return Err(Error::invalid(
                            format!("{} (line {})", self.what, self.line()),
                            format!("the file ends inside <{name}> (truncated?)"),
                        ));
                    }
                    Tag::Eof
                }
                _ => {
                    self.buf = buf;
                    continue;
                }
            };
            let long = buf.len() > MAX_TAG;
            self.buf = buf;
            if long {
                return Err(self.bad(self.what, format!("a tag longer than {MAX_TAG} bytes")));
            }
            match &tag {
                Tag::Open {
                    name, empty: false, ..
                } => {
                    self.depth += 1;
                    // Only the names of the outer levels are kept (for messages): memory
                    // stays bounded however deep the document nests.
                    if self.open.len() < 64 {
                        self.open.push(name.clone());
                    }
                }
                Tag::Close(_) => {
                    if self.open.len() == self.depth {
                        self.open.pop();
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                _ => {}
            }
            return Ok(tag);
        }
    }

    /// How deep the reader is (the open elements around the next tag).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    fn name(&self, s: &BytesStart) -> String {
        self.text(s.local_name().as_ref())
    }

    fn text(&self, b: &[u8]) -> String {
        if self.latin1 {
            b.iter().map(|c| char::from(*c)).collect()
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    }

    fn attrs(&self, s: &BytesStart) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for a in s.attributes() {
            let a = a.map_err(|e| self.bad(self.what, format!("bad attribute: {e}")))?;
            let key = self.text(a.key.local_name().as_ref());
            let raw = self.text(&a.value);
            let value = quick_xml::escape::unescape(&raw)
                .map_err(|e| self.bad(self.what, format!("attribute {key}: {e}")))?
                .into_owned();
            out.push((key, value));
        }
        Ok(out)
    }
}

/// The value of attribute `key` (case-sensitive, as both formats write them).
pub(crate) fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A finite number, or why not.
pub(crate) fn number(attrs: &[(String, String)], key: &str) -> std::result::Result<f64, String> {
    let v = attr(attrs, key).ok_or_else(|| format!("no attribute {key}"))?;
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("{key}={v:?} is not a number")),
    }
}

/// Escapes text for an attribute value: markup characters, quotes, and the whitespace that
/// attribute-value normalisation would otherwise turn into spaces.
pub(crate) fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | b'\n' | b'\r' | b'\t'))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A comment's text made safe (no `--` inside).
pub(crate) fn comment(s: &str) -> String {
    s.replace("--", "- -")
}

/// The `exact` JSON attribute of our own exports, restoring what the format has no field for.
pub(crate) fn exact_attr(
    item: &mut crate::Item,
    json: &str,
    size: &mut Option<(f64, f64)>,
) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("{}: exact", item.place), e.to_string()))?;
    let Some(map) = v.as_object() else {
        return Err(Error::invalid(
            format!("{}: exact", item.place),
            "is not a JSON object",
        ));
    };
    crate::geojson::read_exact_block(item, map, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_attributes_come_back_unchanged() {
        let s = "a \"b\" <c> & 'd'\nline\ttab\r";
        let doc = format!("<x v=\"{}\"/>", esc(s));
        let mut r = XmlIn::new(doc.as_bytes(), "test");
        match r.next().unwrap() {
            Tag::Open { attrs, .. } => assert_eq!(attr(&attrs, "v"), Some(s)),
            _ => panic!("no tag"),
        }
    }

    #[test]
    fn latin1_is_decoded_and_truncation_named() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<x v=\"\xb5m\">\n<y>";
        let mut r = XmlIn::new(&doc[..], "test");
        match r.next().unwrap() {
            Tag::Open { attrs, .. } => assert_eq!(attr(&attrs, "v"), Some("µm")),
            _ => panic!("no tag"),
        }
        assert!(matches!(r.next().unwrap(), Tag::Open { .. }));
        let e = r.next().err().unwrap().to_string();
        assert!(e.contains("line 3") && e.contains("ends inside <y>"), "{e}");
    }
}
