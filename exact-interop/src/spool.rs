//! The import's spool: checked annotations wait here, in a temporary file, between reading the
//! file and writing the store, so an import's memory does not grow with its size. Each entry
//! is the image and type (an id, or the index of one the import will create) and the
//! [`NewAnnotation`] in a compact binary form, with the item's place in the file to resume
//! from ([`ResumeAt`]): little-endian fixed-width numbers,
//! length-prefixed strings, `meta_data` as JSON text. The file is deleted when the spool or
//! its reader is dropped.

use crate::item::ResumeAt;
use exact_core::catalog::NewAnnotation;
use exact_core::vector::{Point, Vector};
use exact_core::{AnnotationTypeId, ImageId, Timestamp, UserId};
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use uuid::Uuid;

/// An image or type: `(true, index)` of one to create, `(false, id)` of one that exists.
pub(crate) type Ref = (bool, u64);

/// One entry read back: image, type, where its item starts in the file, the annotation.
pub(crate) type Entry = (Ref, Ref, Option<ResumeAt>, NewAnnotation);

/// Checked annotations, written one after the other.
#[derive(Default)]
pub(crate) struct Spool {
    out: Option<BufWriter<std::fs::File>>,
    len: u64,
    buf: Vec<u8>,
}

/// Reads a finished spool back in order.
pub(crate) struct SpoolReader {
    input: Option<BufReader<std::fs::File>>,
    left: u64,
    buf: Vec<u8>,
}

fn flags(n: &NewAnnotation) -> u8 {
    u8::from(n.deleted)
        | u8::from(n.blurred) << 1
        | u8::from(n.concealed) << 2
        | u8::from(n.vector.is_some()) << 3
        | u8::from(n.unique_identifier.is_some()) << 4
        | u8::from(n.time.is_some()) << 5
        | u8::from(n.last_edit_time.is_some()) << 6
        | u8::from(n.user.is_some()) << 7
}

impl Spool {
    /// An empty spool; its file is created with the first entry.
    pub(crate) fn new() -> std::io::Result<Spool> {
        Ok(Spool::default())
    }

    /// How many entries were pushed.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends one checked annotation.
    pub(crate) fn push(
        &mut self,
        image: Ref,
        atype: Ref,
        resume: Option<ResumeAt>,
        n: &NewAnnotation,
    ) -> std::io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        // The entry's length goes first, filled in below.
        b.extend_from_slice(&[0; 4]);
        b.push(u8::from(image.0) | u8::from(atype.0) << 1);
        b.extend_from_slice(&image.1.to_le_bytes());
        b.extend_from_slice(&atype.1.to_le_bytes());
        match resume {
            None => b.push(0),
            Some(ResumeAt::GeoJson {
                offset,
                feature,
                line,
                line_start,
            }) => {
                b.push(1);
                for v in [offset, feature, line, line_start] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
            Some(ResumeAt::SlideRunner { slide, uid, row }) => {
                b.push(2);
                for v in [slide as u64, uid as u64, row] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        b.push(flags(n));
        if let Some(v) = &n.vector {
            b.extend_from_slice(&v.frame.unwrap_or(0).to_le_bytes());
            b.extend_from_slice(&(v.points.len() as u32).to_le_bytes());
            for p in &v.points {
                b.extend_from_slice(&p.x.to_le_bytes());
                b.extend_from_slice(&p.y.to_le_bytes());
            }
        }
        if let Some(u) = n.unique_identifier {
            b.extend_from_slice(u.as_bytes());
        }
        for t in [n.time, n.last_edit_time].into_iter().flatten() {
            b.extend_from_slice(&t.0.to_le_bytes());
        }
        if let Some(u) = n.user {
            b.extend_from_slice(&u.0.to_le_bytes());
        }
        b.extend_from_slice(&(n.description.len() as u32).to_le_bytes());
        b.extend_from_slice(n.description.as_bytes());
        if !n.meta_data.is_null() {
            serde_json::to_writer(&mut *b, &n.meta_data).map_err(std::io::Error::other)?;
        }
        let len = u32::try_from(b.len() - 4).map_err(std::io::Error::other)?;
        b[..4].copy_from_slice(&len.to_le_bytes());
        if self.out.is_none() {
            self.out = Some(BufWriter::with_capacity(1 << 20, tempfile::tempfile()?));
        }
        if let Some(out) = &mut self.out {
            out.write_all(b)?;
        }
        self.len += 1;
        Ok(())
    }

    /// Ends writing; the reader starts at the first entry.
    pub(crate) fn finish(self) -> std::io::Result<SpoolReader> {
        let input = match self.out {
            Some(out) => {
                let mut f = out.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                Some(BufReader::with_capacity(1 << 20, f))
            }
            None => None,
        };
        Ok(SpoolReader {
            input,
            left: self.len,
            buf: Vec::new(),
        })
    }
}

fn corrupt(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("import spool damaged: {what}"),
    )
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(corrupt("entry cut short"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        let mut a = [0; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn f64(&mut self) -> std::io::Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
}

impl SpoolReader {
    /// The next entry, `None` after the last.
    pub(crate) fn next(&mut self) -> std::io::Result<Option<Entry>> {
        let Some(input) = self.input.as_mut().filter(|_| self.left > 0) else {
            return Ok(None);
        };
        let mut len = [0; 4];
        input.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        self.buf.resize(len, 0);
        input.read_exact(&mut self.buf)?;
        self.left -= 1;
        let mut c = Cursor(&self.buf);
        let refs = c.u8()?;
        let image = (refs & 1 != 0, c.u64()?);
        let atype = (refs & 2 != 0, c.u64()?);
        let resume = match c.u8()? {
            0 => None,
            1 => Some(ResumeAt::GeoJson {
                offset: c.u64()?,
                feature: c.u64()?,
                line: c.u64()?,
                line_start: c.u64()?,
            }),
            2 => Some(ResumeAt::SlideRunner {
                slide: c.u64()? as i64,
                uid: c.u64()? as i64,
                row: c.u64()?,
            }),
            _ => return Err(corrupt("resume position")),
        };
        let f = c.u8()?;
        let vector = if f & 8 != 0 {
            let frame = c.u32()?;
            let n = c.u32()? as usize;
            if n.saturating_mul(16) > c.0.len() {
                return Err(corrupt("too many points"));
            }
            let mut points = Vec::with_capacity(n);
            for _ in 0..n {
                points.push(Point::new(c.f64()?, c.f64()?));
            }
            Some(Vector {
                points,
                frame: (frame != 0).then_some(frame),
            })
        } else {
            None
        };
        let mut n = NewAnnotation::new(AnnotationTypeId(0), ImageId(0), vector);
        n.deleted = f & 1 != 0;
        n.blurred = f & 2 != 0;
        n.concealed = f & 4 != 0;
        if f & 16 != 0 {
            n.unique_identifier = Some(Uuid::from_slice(c.take(16)?).map_err(|_| corrupt("uuid"))?);
        }
        if f & 32 != 0 {
            n.time = Some(Timestamp(c.u64()? as i64));
        }
        if f & 64 != 0 {
            n.last_edit_time = Some(Timestamp(c.u64()? as i64));
        }
        if f & 128 != 0 {
            n.user = Some(UserId(c.u64()?));
        }
        let dlen = c.u32()? as usize;
        n.description =
            String::from_utf8(c.take(dlen)?.to_vec()).map_err(|_| corrupt("description"))?;
        if !c.0.is_empty() {
            n.meta_data = serde_json::from_slice(c.0).map_err(|_| corrupt("meta_data"))?;
        }
        Ok(Some((image, atype, resume, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_as_pushed() {
        let mut s = Spool::new().unwrap();
        let mut a = NewAnnotation::new(
            AnnotationTypeId(0),
            ImageId(0),
            Some(Vector {
                points: vec![Point::new(1.5, -2.0), Point::new(3.0, 4.25)],
                frame: Some(3),
            }),
        );
        a.blurred = true;
        a.unique_identifier = Some(Uuid::from_u128(7));
        a.time = Some(Timestamp(-5));
        a.user = Some(UserId(9));
        a.description = "ü \"x\"".into();
        a.meta_data = serde_json::json!({"k": [1, 2]});
        let b = NewAnnotation::new(AnnotationTypeId(0), ImageId(0), None);
        let at = ResumeAt::GeoJson {
            offset: 1 << 40,
            feature: 12,
            line: 3,
            line_start: 77,
        };
        let row = ResumeAt::SlideRunner {
            slide: -1,
            uid: 5,
            row: 9,
        };
        s.push((false, 4), (true, 1), Some(at), &a).unwrap();
        s.push((true, 0), (false, 8), Some(row), &b).unwrap();
        s.push((true, 0), (false, 8), None, &b).unwrap();
        assert_eq!(s.len(), 3);
        let mut r = s.finish().unwrap();
        let (i, t, p, back) = r.next().unwrap().unwrap();
        assert_eq!((i, t, p), ((false, 4), (true, 1), Some(at)));
        assert_eq!(format!("{back:?}"), format!("{a:?}"));
        let (i, t, p, back) = r.next().unwrap().unwrap();
        assert_eq!((i, t, p), ((true, 0), (false, 8), Some(row)));
        assert_eq!(format!("{back:?}"), format!("{b:?}"));
        let (_, _, p, back) = r.next().unwrap().unwrap();
        assert_eq!(p, None);
        assert_eq!(format!("{back:?}"), format!("{b:?}"));
        assert!(r.next().unwrap().is_none());
    }
}
