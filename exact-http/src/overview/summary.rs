//! A raster's stored form (see `exact_core::catalog::OverviewSummary`): its counts per type
//! (sparse: gaps and counts as LEB128) and its outlines, without the per-annotation slots. A
//! raster read back from a summary draws exactly like the one it came from; as it does not
//! know where each annotation was counted, it takes creates in place but is marked stale by
//! updates and deletes (and rebuilt by a scan).
//!
//! Layout: `OVS1`, cell (f64 LE), cols, rows (u32 LE); the number of types (u32), each: type
//! id (u64), non-zero cells (u32), then (gap to the previous cell + 1, count) pairs as
//! LEB128; the number of outlines (u32), each: id, type (u64), bbox (4 × f64), flags (u8:
//! 1 closed, 2 boxlike), points (u32) and the points (2 × f32). All little-endian. Decoding
//! checks every length and index against the bytes and the image's geometry.

use super::{OUTLINE_POINTS, Outline, Raster};
use exact_core::model::AnnotationType;
use exact_core::{AnnotationTypeId, BBox};
use std::collections::HashMap;

const MAGIC: &[u8; 4] = b"OVS1";
/// Most types a summary may hold.
const MAX_TYPES: u32 = 100_000;

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("it ends early".into());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| "u32")?,
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| "u64")?,
        ))
    }
    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64()?))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn leb(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is too long".into())
    }
}

impl Raster {
    /// The stored form of this raster.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.cell.to_le_bytes());
        out.extend_from_slice(&self.cols.to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        let mut types: Vec<_> = self.counts.keys().copied().collect();
        types.sort();
        out.extend_from_slice(&(types.len() as u32).to_le_bytes());
        for t in types {
            let counts = &self.counts[&t];
            out.extend_from_slice(&t.0.to_le_bytes());
            let nz = counts.iter().filter(|&&n| n > 0).count() as u32;
            out.extend_from_slice(&nz.to_le_bytes());
            let mut prev: i64 = -1;
            for (i, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                leb(&mut out, (i as i64 - prev) as u64);
                leb(&mut out, u64::from(n));
                prev = i as i64;
            }
        }
        let mut ids: Vec<_> = self.outlines.keys().copied().collect();
        ids.sort_unstable();
        out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
        for id in ids {
            let o = &self.outlines[&id];
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&o.ty.0.to_le_bytes());
            for v in [o.bbox.min_x, o.bbox.min_y, o.bbox.max_x, o.bbox.max_y] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.push(u8::from(o.closed) | (u8::from(o.boxlike) << 1));
            out.extend_from_slice(&(o.points.len() as u32).to_le_bytes());
            for (x, y) in &o.points {
                out.extend_from_slice(&x.to_le_bytes());
                out.extend_from_slice(&y.to_le_bytes());
            }
        }
        out
    }

    /// A raster read back from `bytes` for an image of `width × height` level-0 pixels; an
    /// error names what is wrong (a summary of another geometry is refused).
    pub fn decode(
        bytes: &[u8],
        width: u64,
        height: u64,
        types: &[AnnotationType],
    ) -> Result<Raster, String> {
        let mut r = Raster::new(width, height, types);
        r.exact_ids = false;
        let mut b = Reader { b: bytes };
        if b.take(4)? != MAGIC {
            return Err("not an overview summary (bad magic)".into());
        }
        let (cell, cols, rows) = (b.f64()?, b.u32()?, b.u32()?);
        if cell != r.cell || cols != r.cols || rows != r.rows {
            return Err(format!(
                "made for a grid of {cols} × {rows} cells of {cell} px, the image has {} × {} of {}",
                r.cols, r.rows, r.cell
            ));
        }
        let cells = cols as usize * rows as usize;
        let ntypes = b.u32()?;
        if ntypes > MAX_TYPES {
            return Err(format!("{ntypes} types"));
        }
        for _ in 0..ntypes {
            let t = AnnotationTypeId(b.u64()?);
            let nz = b.u32()? as usize;
            if nz > cells || nz > b.b.len() / 2 {
                return Err(format!("{nz} cells of type {}", t.0));
            }
            let mut counts = vec![0u32; cells];
            let mut at: i64 = -1;
            for _ in 0..nz {
                let gap = b.leb()?;
                let n = b.leb()?;
                if gap == 0 || gap > cells as u64 || n == 0 || n > u64::from(u32::MAX) {
                    return Err(format!("a bad cell of type {}", t.0));
                }
                at += gap as i64;
                let slot = counts
                    .get_mut(at as usize)
                    .ok_or_else(|| format!("cell {at} is past the grid"))?;
                *slot = n as u32;
            }
            if r.counts.insert(t, counts).is_some() {
                return Err(format!("type {} twice", t.0));
            }
        }
        let noutlines = b.u32()? as usize;
        // The smallest outline takes 53 bytes: a count past that is a lie.
        if noutlines > b.b.len() / 53 {
            return Err(format!("{noutlines} outlines in {} bytes", b.b.len()));
        }
        let mut outlines = HashMap::with_capacity(noutlines);
        for _ in 0..noutlines {
            let id = b.u64()?;
            let ty = AnnotationTypeId(b.u64()?);
            let (x0, y0, x1, y1) = (b.f64()?, b.f64()?, b.f64()?, b.f64()?);
            let flags = b.take(1)?[0];
            let n = b.u32()? as usize;
            if n > OUTLINE_POINTS * 2 || n > b.b.len() / 8 {
                return Err(format!("{n} points in outline {id}"));
            }
            let mut points = Vec::with_capacity(n);
            for _ in 0..n {
                points.push((b.f32()?, b.f32()?));
            }
            outlines.insert(
                id,
                Outline {
                    ty,
                    bbox: BBox::new(x0, y0, x1, y1),
                    points,
                    closed: flags & 1 != 0,
                    boxlike: flags & 2 != 0,
                },
            );
        }
        if !b.b.is_empty() {
            return Err(format!("{} bytes after the outlines", b.b.len()));
        }
        r.outlines = outlines;
        Ok(r)
    }
}
