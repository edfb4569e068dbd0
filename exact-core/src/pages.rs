//! How annotations are packed for storage: a million single-row writes are more than an
//! embedded store does per second, so annotations are grouped into **pages** (up to
//! [`PAGE_BYTES`] each) filed under their grid cell ([`crate::grid`]), and found by id through
//! **locator blocks** (one per 256 consecutive ids) that name each annotation's cell. A bulk
//! insert then costs one write per touched cell plus one per 256 ids, and a viewport query
//! reads a few dozen contiguous pages.
//!
//! Page: `1` then, per annotation, `id` varint, a bbox flag with the integer bbox
//! (floor/ceil, zigzag varints) for cheap viewport pre-filtering, and the length-prefixed
//! [`crate::codec`] encoding. Locator block: per annotation, the id's low byte and the
//! length-prefixed cell key.

use crate::geometry::BBox;
use crate::{Error, Result};
use std::collections::BTreeMap;

/// Largest size a page is filled to; a page is only larger when one annotation alone is.
pub const PAGE_BYTES: usize = 8192;
/// New annotations are appended to a cell's last page only while it is smaller than this;
/// otherwise they start a new page. Appending rewrites the page, so this bounds how often
/// stored bytes are rewritten by later inserts (write amplification), at the cost of a few
/// more, smaller pages per cell for queries to read.
pub const APPEND_BELOW: usize = 2048;
const PAGE_VERSION: u8 = 1;

/// Integer bounds enclosing a bbox (floor of minima, ceil of maxima).
pub type IBox = [i64; 4];

/// The integer bounds enclosing `b`.
pub fn ibox(b: &BBox) -> IBox {
    [
        b.min_x.floor() as i64,
        b.min_y.floor() as i64,
        b.max_x.ceil() as i64,
        b.max_y.ceil() as i64,
    ]
}

/// Whether integer bounds may intersect `v` (a conservative pre-filter).
pub fn may_intersect(b: &IBox, v: &BBox) -> bool {
    (b[0] as f64) <= v.max_x
        && (b[2] as f64) >= v.min_x
        && (b[1] as f64) <= v.max_y
        && (b[3] as f64) >= v.min_y
}

/// One annotation inside a page, borrowed from the page bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEntry<'a> {
    /// The annotation id.
    pub id: u64,
    /// Its integer bounds, `None` without geometry.
    pub bbox: Option<IBox>,
    /// Its [`crate::codec`] encoding.
    pub data: &'a [u8],
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &mut &[u8]) -> Option<u64> {
    // Most varints (flags, small lengths) are one byte.
    if let Some((&b, rest)) = buf.split_first()
        && b < 0x80
    {
        *buf = rest;
        return Some(u64::from(b));
    }
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzig(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Appends one annotation to page bytes (starting a page if `page` is empty).
pub fn push_entry(page: &mut Vec<u8>, id: u64, bbox: Option<IBox>, data: &[u8]) {
    if page.is_empty() {
        page.push(PAGE_VERSION);
    }
    put_varint(page, id);
    match bbox {
        None => page.push(0),
        Some(b) => {
            page.push(1);
            for c in b {
                put_varint(page, zig(c));
            }
        }
    }
    put_varint(page, data.len() as u64);
    page.extend_from_slice(data);
}

/// The bytes one annotation takes in a page.
pub fn entry_size(id: u64, bbox: Option<IBox>, data: &[u8]) -> usize {
    let mut v = Vec::with_capacity(48);
    push_entry(&mut v, id, bbox, &[]);
    // Minus the page version byte and the one-byte zero length written for empty data.
    v.len() - 2 + varint_len(data.len() as u64) + data.len()
}

fn varint_len(v: u64) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// The annotations of a page, in order; `what` names the store for errors.
pub fn entries<'a>(page: &'a [u8], what: &str) -> Result<Vec<PageEntry<'a>>> {
    let bad = |detail: &str| Error::corrupt(what, format!("annotation page: {detail}"));
    let Some((&version, mut buf)) = page.split_first() else {
        return Ok(Vec::new());
    };
    if version != PAGE_VERSION {
        return Err(bad("unknown version"));
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let id = get_varint(&mut buf).ok_or_else(|| bad("truncated id"))?;
        let (&flag, rest) = buf.split_first().ok_or_else(|| bad("truncated"))?;
        buf = rest;
        let bbox = match flag {
            0 => None,
            1 => {
                let mut b = [0i64; 4];
                for c in &mut b {
                    *c = unzig(get_varint(&mut buf).ok_or_else(|| bad("truncated bbox"))?);
                }
                Some(b)
            }
            _ => return Err(bad("bad bbox flag")),
        };
        let len = get_varint(&mut buf).ok_or_else(|| bad("truncated length"))?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= buf.len())
            .ok_or_else(|| bad("length past the end"))?;
        let (data, rest) = buf.split_at(len);
        buf = rest;
        out.push(PageEntry { id, bbox, data });
    }
    Ok(out)
}

/// The annotations of a page up to the first damage, and what the damage is (`None` when the
/// whole page decodes): one damaged entry must not hide the others from readers.
pub fn entries_lossy<'a>(page: &'a [u8], what: &str) -> (Vec<PageEntry<'a>>, Option<Error>) {
    match entries(page, what) {
        Ok(all) => (all, None),
        Err(e) => {
            // Decode again entry by entry, keeping what precedes the damage.
            let mut out = Vec::new();
            if page.first() == Some(&PAGE_VERSION) {
                let mut buf = &page[1..];
                while let Some(entry) = next_entry(&mut buf) {
                    out.push(entry);
                }
            }
            (out, Some(e))
        }
    }
}

/// Like [`entries_lossy`], but hands each entry to `visit` as it is read instead of collecting
/// them: walking every page of an image (a listing's count) allocates nothing per page.
/// Entries before the first damage are visited; the damage is returned, described as
/// [`entries`] describes it.
pub fn visit_lossy<'a>(
    page: &'a [u8],
    what: &str,
    mut visit: impl FnMut(PageEntry<'a>),
) -> Option<Error> {
    let (&version, mut buf) = page.split_first()?;
    if version != PAGE_VERSION {
        return entries(page, what).err();
    }
    while !buf.is_empty() {
        match next_entry(&mut buf) {
            Some(e) => visit(e),
            // Damaged: the strict reader names what is wrong.
            None => return entries(page, what).err(),
        }
    }
    None
}

fn next_entry<'a>(buf: &mut &'a [u8]) -> Option<PageEntry<'a>> {
    let id = get_varint(buf)?;
    let (&flag, rest) = buf.split_first()?;
    *buf = rest;
    let bbox = match flag {
        0 => None,
        1 => {
            let mut b = [0i64; 4];
            for c in &mut b {
                *c = unzig(get_varint(buf)?);
            }
            Some(b)
        }
        _ => return None,
    };
    let len = usize::try_from(get_varint(buf)?).ok()?;
    if len > buf.len() {
        return None;
    }
    let (data, rest) = buf.split_at(len);
    *buf = rest;
    Some(PageEntry { id, bbox, data })
}

/// Rebuilds page bytes from entries.
pub fn build(entries: &[PageEntry<'_>]) -> Vec<u8> {
    let mut page = Vec::new();
    for e in entries {
        push_entry(&mut page, e.id, e.bbox, e.data);
    }
    page
}

/// The locator block number of an annotation id.
pub fn block_of(id: u64) -> u64 {
    id >> 8
}

/// Decodes a locator block: id low byte → cell key.
pub fn decode_block(bytes: &[u8], what: &str) -> Result<BTreeMap<u8, Vec<u8>>> {
    let bad = || Error::corrupt(what, "annotation locator block is damaged");
    let mut out = BTreeMap::new();
    let mut buf = bytes;
    while let Some((&low, rest)) = buf.split_first() {
        buf = rest;
        let len = get_varint(&mut buf).ok_or_else(bad)? as usize;
        if len > buf.len() {
            return Err(bad());
        }
        let (cell, rest) = buf.split_at(len);
        buf = rest;
        out.insert(low, cell.to_vec());
    }
    Ok(out)
}

/// Encodes a locator block.
pub fn encode_block(block: &BTreeMap<u8, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() * 20);
    for (low, cell) in block {
        out.push(*low);
        put_varint(&mut out, cell.len() as u64);
        out.extend_from_slice(cell);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pages_round_trip(items in proptest::collection::vec((any::<u64>(), proptest::option::of(any::<[i32; 4]>()), proptest::collection::vec(any::<u8>(), 0..80)), 0..20)) {
            let mut page = Vec::new();
            for (id, b, data) in &items {
                push_entry(&mut page, *id, b.map(|b| b.map(i64::from)), data);
            }
            let back = entries(&page, "t").unwrap();
            prop_assert_eq!(back.len(), items.len());
            for (e, (id, b, data)) in back.iter().zip(&items) {
                prop_assert_eq!(e.id, *id);
                prop_assert_eq!(e.bbox, b.map(|b| b.map(i64::from)));
                prop_assert_eq!(e.data, data.as_slice());
                let mut one = Vec::new();
                push_entry(&mut one, e.id, e.bbox, e.data);
                prop_assert_eq!(entry_size(e.id, e.bbox, e.data), one.len() - 1);
            }
            prop_assert_eq!(build(&back), page);
        }

        #[test]
        fn damaged_pages_are_errors(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = entries(&bytes, "t");
            let (kept, damage) = entries_lossy(&bytes, "t");
            // The streaming walk sees the same entries and the same damage.
            let mut seen = Vec::new();
            let damage2 = visit_lossy(&bytes, "t", |e| seen.push(e));
            prop_assert_eq!(seen, kept);
            prop_assert_eq!(damage2.map(|e| e.to_string()), damage.map(|e| e.to_string()));
            let _ = decode_block(&bytes, "t");
        }
    }

    #[test]
    fn a_damaged_tail_keeps_the_entries_before_it() {
        let mut page = Vec::new();
        push_entry(&mut page, 1, None, b"one");
        push_entry(&mut page, 2, Some([0, 0, 5, 5]), b"two");
        let good = page.len();
        push_entry(&mut page, 3, None, b"three");
        page.truncate(good + 3);
        assert!(entries(&page, "t").is_err());
        let (kept, damage) = entries_lossy(&page, "t");
        assert_eq!(kept.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
        assert!(damage.is_some());
        let mut seen = Vec::new();
        assert!(visit_lossy(&page, "t", |e| seen.push(e.id)).is_some());
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn blocks_round_trip() {
        let mut b = BTreeMap::new();
        b.insert(3u8, vec![1, 2, 3]);
        b.insert(200u8, vec![9; 17]);
        assert_eq!(decode_block(&encode_block(&b), "t").unwrap(), b);
    }
}
