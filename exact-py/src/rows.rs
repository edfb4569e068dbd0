//! Annotations as columns: little-endian buffers the Python side views as numpy arrays (see
//! [`COLUMNS`]). Rows cross as JSON text and are read by [`exact_core::wire`], the module the
//! REST API reads its bodies with.

use exact_core::model::Annotation;
use exact_core::{Error, Result};

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
