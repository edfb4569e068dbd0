//! Compact binary encoding of annotations and their history entries. Annotations are the one
//! record kind stored by the million, so they get varints and delta-coded integral nodes (a box
//! takes about 50 bytes) instead of JSON. Every other record is stored as JSON.

use crate::ids::{AnnotationId, AnnotationTypeId, ChangeId, ImageId, UserId};
use crate::model::{Annotation, AnnotationChange, ChangeAction};
use crate::time::Timestamp;
use crate::vector::{MAX_NODES, Point, Vector};
use crate::{Error, Result};
use uuid::Uuid;

const VERSION: u8 = 1;
const DELETED: u8 = 1;
const CONCEALED: u8 = 2;
const BLURRED: u8 = 4;
const HAS_VECTOR: u8 = 8;
const HAS_FRAME: u8 = 16;
const FLOAT_NODES: u8 = 32;
/// Largest text or JSON blob length believed on read. Allocation is bounded anyway by the bytes
/// actually present (a blob is borrowed from the record), so this only rejects garbage lengths
/// early; it is far above the write limits ([`crate::limits`]) so that records written before
/// those limits existed still decode (and `fsck` can report them).
const MAX_BLOB: usize = 1 << 30;

struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn opt_id(&mut self, v: Option<u64>) {
        self.varint(v.map_or(0, |v| v + 1));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'a str,
}

impl<'a> Reader<'a> {
    fn fail(&self, detail: &str) -> Error {
        Error::corrupt(self.what, detail)
    }
    fn u8(&mut self) -> Result<u8> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| self.fail("truncated"))?;
        self.buf = rest;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64> {
        // Most varints (ids, types, deltas) are one byte.
        if let Some((&b, rest)) = self.buf.split_first()
            && b < 0x80
        {
            self.buf = rest;
            return Ok(u64::from(b));
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.fail("varint too long"))
    }
    fn zigzag(&mut self) -> Result<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn opt_id(&mut self) -> Result<Option<u64>> {
        Ok(self.varint()?.checked_sub(1))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(self.fail("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()? as usize;
        if n > MAX_BLOB {
            return Err(self.fail("length out of range"));
        }
        self.take(n)
    }
    fn f64(&mut self) -> Result<f64> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }
}

fn integral(c: f64) -> bool {
    c.fract() == 0.0 && c.abs() < 1.0e15
}

/// Encodes an annotation (its id is the record key and is not repeated).
pub fn encode_annotation(a: &Annotation) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    write_annotation(&mut w, a);
    w.0
}

fn write_annotation(w: &mut Writer, a: &Annotation) {
    w.0.push(VERSION);
    w.varint(a.annotation_type.0);
    w.varint(a.image.0);
    w.opt_id(a.user.map(|u| u.0));
    w.opt_id(a.last_editor.map(|u| u.0));
    w.zigzag(a.time.0);
    w.zigzag(a.last_edit_time.0.wrapping_sub(a.time.0));
    let mut flags = 0;
    if a.deleted {
        flags |= DELETED;
    }
    if a.concealed {
        flags |= CONCEALED;
    }
    if a.blurred {
        flags |= BLURRED;
    }
    if let Some(v) = &a.vector {
        flags |= HAS_VECTOR;
        if v.frame.is_some() {
            flags |= HAS_FRAME;
        }
        if !v.points.iter().all(|p| integral(p.x) && integral(p.y)) {
            flags |= FLOAT_NODES;
        }
    }
    w.0.push(flags);
    w.0.extend_from_slice(a.unique_identifier.as_bytes());
    w.bytes(a.description.as_bytes());
    if a.meta_data.is_null() {
        w.varint(0);
    } else {
        w.bytes(a.meta_data.to_string().as_bytes());
    }
    if let Some(v) = &a.vector {
        if let Some(f) = v.frame {
            w.varint(f.into());
        }
        w.varint(v.points.len() as u64);
        if flags & FLOAT_NODES != 0 {
            for p in &v.points {
                w.0.extend_from_slice(&p.x.to_le_bytes());
                w.0.extend_from_slice(&p.y.to_le_bytes());
            }
        } else {
            let (mut px, mut py) = (0i64, 0i64);
            for p in &v.points {
                let (x, y) = (p.x as i64, p.y as i64);
                w.zigzag(x - px);
                w.zigzag(y - py);
                (px, py) = (x, y);
            }
        }
    }
}

/// The leading fields of an encoded annotation, read without decoding its text, metadata or
/// nodes: what list queries filter on before they pay for a whole decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnotationHeader {
    /// Its type.
    pub annotation_type: AnnotationTypeId,
    /// Its creator.
    pub user: Option<UserId>,
    /// When it was last edited.
    pub last_edit_time: Timestamp,
    /// Soft-deleted.
    pub deleted: bool,
}

/// Reads the header of an encoded annotation; `None` when the bytes do not start like one
/// (the full decode then reports the damage).
pub fn peek_annotation(bytes: &[u8]) -> Option<AnnotationHeader> {
    decode_head(bytes, "").ok()
}

/// Decodes an annotation stored under `id`; `what` names the store for errors.
pub fn decode_annotation(id: u64, bytes: &[u8], what: &str) -> Result<Annotation> {
    let mut r = Reader { buf: bytes, what };
    let a = read_annotation(&mut r, id)?;
    if !r.buf.is_empty() {
        return Err(r.fail("trailing bytes after annotation"));
    }
    Ok(a)
}

fn read_annotation(r: &mut Reader<'_>, id: u64) -> Result<Annotation> {
    if r.u8()? != VERSION {
        return Err(r.fail("unknown annotation encoding version"));
    }
    let annotation_type = AnnotationTypeId(r.varint()?);
    let image = ImageId(r.varint()?);
    let user = r.opt_id()?.map(UserId);
    let last_editor = r.opt_id()?.map(UserId);
    let time = r.zigzag()?;
    let last_edit_time = time.wrapping_add(r.zigzag()?);
    let flags = r.u8()?;
    let uuid = Uuid::from_slice(r.take(16)?).map_err(|_| r.fail("bad uuid"))?;
    let description = std::str::from_utf8(r.bytes()?)
        .map_err(|_| r.fail("description is not UTF-8"))?
        .to_owned();
    let meta = r.bytes()?;
    let meta_data = if meta.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(meta).map_err(|_| r.fail("meta_data is not JSON"))?
    };
    let vector = read_nodes(r, flags)?;
    Ok(Annotation {
        id: AnnotationId(id),
        annotation_type,
        vector,
        image,
        user,
        last_editor,
        time: Timestamp(time),
        last_edit_time: Timestamp(last_edit_time),
        deleted: flags & DELETED != 0,
        concealed: flags & CONCEALED != 0,
        blurred: flags & BLURRED != 0,
        description,
        unique_identifier: uuid,
        meta_data,
    })
}

/// Decodes the [`AnnotationHeader`] of an annotation record (the rest of the record is not
/// checked).
pub fn decode_head(bytes: &[u8], what: &str) -> Result<AnnotationHeader> {
    let mut r = Reader { buf: bytes, what };
    if r.u8()? != VERSION {
        return Err(r.fail("unknown annotation encoding version"));
    }
    let annotation_type = AnnotationTypeId(r.varint()?);
    let _image = r.varint()?;
    let user = r.opt_id()?.map(UserId);
    let _last_editor = r.opt_id()?;
    let time = r.zigzag()?;
    let last_edit_time = time.wrapping_add(r.zigzag()?);
    let flags = r.u8()?;
    Ok(AnnotationHeader {
        annotation_type,
        user,
        last_edit_time: Timestamp(last_edit_time),
        deleted: flags & DELETED != 0,
    })
}

/// Encodes a history entry (its id is the index entry's id).
pub fn encode_change(c: &AnnotationChange) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(80));
    w.0.push(c.action.code());
    w.opt_id(c.user.map(|u| u.0));
    w.zigzag(c.time.0);
    match &c.before {
        None => w.0.push(BEFORE_NONE),
        Some(a) => {
            w.0.push(BEFORE_FULL);
            w.varint(a.id.0);
            write_annotation(&mut w, a);
        }
    }
    w.0
}

/// History entry body tags: no earlier state, a full copy of it (entries written before
/// deltas existed), or only the fields that differ from the state after the change.
const BEFORE_NONE: u8 = 0;
const BEFORE_FULL: u8 = 1;
const BEFORE_DELTA: u8 = 2;

const D_TYPE: u64 = 1;
const D_IMAGE: u64 = 1 << 1;
const D_USER: u64 = 1 << 2;
const D_EDITOR: u64 = 1 << 3;
const D_TIME: u64 = 1 << 4;
const D_EDIT_TIME: u64 = 1 << 5;
const D_FLAGS: u64 = 1 << 6;
const D_UUID: u64 = 1 << 7;
const D_DESCRIPTION: u64 = 1 << 8;
const D_META: u64 = 1 << 9;
const D_VECTOR: u64 = 1 << 10;

fn flag_bits(a: &Annotation) -> u8 {
    let mut f = 0;
    if a.deleted {
        f |= DELETED;
    }
    if a.concealed {
        f |= CONCEALED;
    }
    if a.blurred {
        f |= BLURRED;
    }
    f
}

fn write_vector(w: &mut Writer, v: Option<&Vector>) {
    let Some(v) = v else {
        w.0.push(0);
        return;
    };
    let mut flags = HAS_VECTOR;
    if v.frame.is_some() {
        flags |= HAS_FRAME;
    }
    let float = !v.points.iter().all(|p| integral(p.x) && integral(p.y));
    if float {
        flags |= FLOAT_NODES;
    }
    w.0.push(flags);
    write_nodes(w, v, float);
}

fn write_nodes(w: &mut Writer, v: &Vector, float: bool) {
    if let Some(f) = v.frame {
        w.varint(f.into());
    }
    w.varint(v.points.len() as u64);
    if float {
        for p in &v.points {
            w.0.extend_from_slice(&p.x.to_le_bytes());
            w.0.extend_from_slice(&p.y.to_le_bytes());
        }
    } else {
        let (mut px, mut py) = (0i64, 0i64);
        for p in &v.points {
            let (x, y) = (p.x as i64, p.y as i64);
            w.zigzag(x - px);
            w.zigzag(y - py);
            (px, py) = (x, y);
        }
    }
}

fn read_nodes(r: &mut Reader<'_>, flags: u8) -> Result<Option<Vector>> {
    if flags & HAS_VECTOR == 0 {
        return Ok(None);
    }
    let frame = if flags & HAS_FRAME != 0 {
        Some(u32::try_from(r.varint()?).map_err(|_| r.fail("frame out of range"))?)
    } else {
        None
    };
    let n = r.varint()? as usize;
    if n > MAX_NODES {
        return Err(r.fail("node count out of range"));
    }
    let mut points = Vec::with_capacity(n);
    if flags & FLOAT_NODES != 0 {
        for _ in 0..n {
            points.push(Point::new(r.f64()?, r.f64()?));
        }
    } else {
        let (mut x, mut y) = (0i64, 0i64);
        for _ in 0..n {
            x = x.wrapping_add(r.zigzag()?);
            y = y.wrapping_add(r.zigzag()?);
            points.push(Point::new(x as f64, y as f64));
        }
    }
    Ok(Some(Vector { points, frame }))
}

fn write_meta(w: &mut Writer, m: &serde_json::Value) {
    if m.is_null() {
        w.varint(0);
    } else {
        w.bytes(m.to_string().as_bytes());
    }
}

fn read_meta(r: &mut Reader<'_>) -> Result<serde_json::Value> {
    let meta = r.bytes()?;
    if meta.is_empty() {
        Ok(serde_json::Value::Null)
    } else {
        serde_json::from_slice(meta).map_err(|_| r.fail("meta_data is not JSON"))
    }
}

/// Encodes a history entry storing only what the change altered: the fields of `c.before`
/// that differ from `after`, the state the change produced. An edit of one flag then costs a
/// few bytes however large the annotation's vector or `meta_data` is.
pub fn encode_change_delta(c: &AnnotationChange, after: &Annotation) -> Vec<u8> {
    let Some(b) = &c.before else {
        return encode_change(c);
    };
    let mut w = Writer(Vec::with_capacity(48));
    w.0.push(c.action.code());
    w.opt_id(c.user.map(|u| u.0));
    w.zigzag(c.time.0);
    w.0.push(BEFORE_DELTA);
    w.varint(b.id.0);
    let mut mask = 0;
    for (bit, differs) in [
        (D_TYPE, b.annotation_type != after.annotation_type),
        (D_IMAGE, b.image != after.image),
        (D_USER, b.user != after.user),
        (D_EDITOR, b.last_editor != after.last_editor),
        (D_TIME, b.time != after.time),
        (D_EDIT_TIME, b.last_edit_time != after.last_edit_time),
        (D_FLAGS, flag_bits(b) != flag_bits(after)),
        (D_UUID, b.unique_identifier != after.unique_identifier),
        (D_DESCRIPTION, b.description != after.description),
        (D_META, b.meta_data != after.meta_data),
        (D_VECTOR, b.vector != after.vector),
    ] {
        if differs {
            mask |= bit;
        }
    }
    w.varint(mask);
    if mask & D_TYPE != 0 {
        w.varint(b.annotation_type.0);
    }
    if mask & D_IMAGE != 0 {
        w.varint(b.image.0);
    }
    if mask & D_USER != 0 {
        w.opt_id(b.user.map(|u| u.0));
    }
    if mask & D_EDITOR != 0 {
        w.opt_id(b.last_editor.map(|u| u.0));
    }
    if mask & D_TIME != 0 {
        w.zigzag(b.time.0);
    }
    if mask & D_EDIT_TIME != 0 {
        w.zigzag(b.last_edit_time.0);
    }
    if mask & D_FLAGS != 0 {
        w.0.push(flag_bits(b));
    }
    if mask & D_UUID != 0 {
        w.0.extend_from_slice(b.unique_identifier.as_bytes());
    }
    if mask & D_DESCRIPTION != 0 {
        w.bytes(b.description.as_bytes());
    }
    if mask & D_META != 0 {
        write_meta(&mut w, &b.meta_data);
    }
    if mask & D_VECTOR != 0 {
        write_vector(&mut w, b.vector.as_ref());
    }
    w.0
}

fn read_delta(r: &mut Reader<'_>, after: &Annotation) -> Result<Annotation> {
    let mut b = after.clone();
    b.id = AnnotationId(r.varint()?);
    let mask = r.varint()?;
    if mask >= D_VECTOR << 1 {
        return Err(r.fail("unknown fields in a history delta"));
    }
    if mask & D_TYPE != 0 {
        b.annotation_type = AnnotationTypeId(r.varint()?);
    }
    if mask & D_IMAGE != 0 {
        b.image = ImageId(r.varint()?);
    }
    if mask & D_USER != 0 {
        b.user = r.opt_id()?.map(UserId);
    }
    if mask & D_EDITOR != 0 {
        b.last_editor = r.opt_id()?.map(UserId);
    }
    if mask & D_TIME != 0 {
        b.time = Timestamp(r.zigzag()?);
    }
    if mask & D_EDIT_TIME != 0 {
        b.last_edit_time = Timestamp(r.zigzag()?);
    }
    if mask & D_FLAGS != 0 {
        let f = r.u8()?;
        b.deleted = f & DELETED != 0;
        b.concealed = f & CONCEALED != 0;
        b.blurred = f & BLURRED != 0;
    }
    if mask & D_UUID != 0 {
        b.unique_identifier = Uuid::from_slice(r.take(16)?).map_err(|_| r.fail("bad uuid"))?;
    }
    if mask & D_DESCRIPTION != 0 {
        b.description = std::str::from_utf8(r.bytes()?)
            .map_err(|_| r.fail("description is not UTF-8"))?
            .to_owned();
    }
    if mask & D_META != 0 {
        b.meta_data = read_meta(r)?;
    }
    if mask & D_VECTOR != 0 {
        let flags = r.u8()?;
        b.vector = read_nodes(r, flags)?;
    }
    Ok(b)
}

/// Decodes a history entry of `annotation` stored under change `id`. Entries that store a
/// delta ([`encode_change_delta`]) need the state after the change; without it they are
/// reported as corrupt.
pub fn decode_change(
    id: u64,
    annotation: AnnotationId,
    bytes: &[u8],
    what: &str,
) -> Result<AnnotationChange> {
    decode_change_after(id, annotation, bytes, None, what)
}

/// Decodes a history entry given `after`, the annotation's state after this change (the
/// next entry's earlier state, or the live annotation for the latest entry).
pub fn decode_change_after(
    id: u64,
    annotation: AnnotationId,
    bytes: &[u8],
    after: Option<&Annotation>,
    what: &str,
) -> Result<AnnotationChange> {
    let mut r = Reader { buf: bytes, what };
    let code = r.u8()?;
    let action =
        ChangeAction::from_code(code.into()).ok_or_else(|| r.fail("unknown change action"))?;
    let user = r.opt_id()?.map(UserId);
    let time = Timestamp(r.zigzag()?);
    let before = match r.u8()? {
        BEFORE_NONE => None,
        BEFORE_FULL => {
            let aid = r.varint()?;
            Some(read_annotation(&mut r, aid)?)
        }
        BEFORE_DELTA => {
            let after =
                after.ok_or_else(|| r.fail("a history delta read without its later state"))?;
            Some(read_delta(&mut r, after)?)
        }
        _ => return Err(r.fail("unknown history entry body")),
    };
    if !r.buf.is_empty() {
        return Err(r.fail("trailing bytes after a history entry"));
    }
    Ok(AnnotationChange {
        id: ChangeId(id),
        annotation,
        user,
        time,
        action,
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(points: Vec<Point>, frame: Option<u32>) -> Annotation {
        Annotation {
            id: AnnotationId(42),
            annotation_type: AnnotationTypeId(3),
            vector: Some(Vector { points, frame }),
            image: ImageId(9),
            user: Some(UserId(1)),
            last_editor: None,
            time: Timestamp(1_600_000_000_123_456),
            last_edit_time: Timestamp(1_600_000_100_000_000),
            deleted: true,
            concealed: false,
            blurred: true,
            description: "mitosis?".into(),
            unique_identifier: Uuid::from_u128(0x1234),
            meta_data: serde_json::json!({"score": 0.93}),
        }
    }

    #[test]
    fn a_box_is_small() {
        let mut a = sample(
            vec![Point::new(51234.0, 70321.0), Point::new(51290.0, 70377.0)],
            None,
        );
        a.description.clear();
        a.meta_data = serde_json::Value::Null;
        let bytes = encode_annotation(&a);
        assert!(bytes.len() <= 50, "{} bytes", bytes.len());
        assert_eq!(decode_annotation(42, &bytes, "t").unwrap(), a);
    }

    #[test]
    fn truncated_bytes_are_corrupt_not_a_panic() {
        let bytes = encode_annotation(&sample(vec![Point::new(1.5, 2.0)], Some(3)));
        for n in 0..bytes.len() {
            let e = decode_annotation(42, &bytes[..n], "sled://x").unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
        }
    }

    proptest! {
        #[test]
        fn annotations_round_trip(
            coords in proptest::collection::vec((-1.0e9..1.0e9f64, -1.0e9..1.0e9f64), 0..50),
            round in any::<bool>(),
            frame in proptest::option::of(1u32..1000),
        ) {
            let points = coords.into_iter()
                .map(|(x, y)| if round { Point::new(x.round(), y.round()) } else { Point::new(x, y) })
                .collect();
            let a = sample(points, frame);
            prop_assert_eq!(decode_annotation(42, &encode_annotation(&a), "t").unwrap(), a.clone());
            let c = AnnotationChange {
                id: ChangeId(5), annotation: a.id, user: Some(UserId(2)),
                time: Timestamp(77), action: ChangeAction::Updated, before: Some(a),
            };
            prop_assert_eq!(decode_change(5, AnnotationId(42), &encode_change(&c), "t").unwrap(), c);
        }

        #[test]
        fn deltas_rebuild_the_earlier_state(
            a_round in any::<bool>(), flags in any::<u8>(), same_vector in any::<bool>(),
            same_meta in any::<bool>(), desc in ".{0,20}",
        ) {
            let before = sample(vec![Point::new(1.0, 2.0), Point::new(3.5, 4.0)], Some(2));
            let mut after = before.clone();
            if !same_vector {
                after.vector = if a_round { None } else { Some(Vector { points: vec![Point::new(7.0, 8.0)], frame: None }) };
            }
            if !same_meta {
                after.meta_data = serde_json::json!({"big": "x".repeat(1000)});
            }
            after.deleted = flags & 1 != 0;
            after.concealed = flags & 2 != 0;
            after.description = desc;
            after.last_editor = Some(UserId(u64::from(flags)));
            after.last_edit_time = Timestamp(99);
            let c = AnnotationChange {
                id: ChangeId(5), annotation: before.id, user: Some(UserId(2)),
                time: Timestamp(77), action: ChangeAction::Updated, before: Some(before.clone()),
            };
            let bytes = encode_change_delta(&c, &after);
            if same_meta {
                prop_assert!(bytes.len() < 200, "{} bytes", bytes.len());
            }
            prop_assert_eq!(decode_change_after(5, before.id, &bytes, Some(&after), "t").unwrap(), c.clone());
            prop_assert!(decode_change(5, before.id, &bytes, "t").is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_annotation(1, &bytes, "t");
            let _ = decode_change(1, AnnotationId(1), &bytes, "t");
            let _ = decode_change_after(1, AnnotationId(1), &bytes, Some(&sample(vec![], None)), "t");
        }
    }
}
