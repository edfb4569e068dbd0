//! Hand-built DICOM instances: frame tables (Basic, Extended, none), and hostile headers that
//! must give errors naming the file, never a panic or a runaway allocation.

use bytes::Bytes;

use super::*;
use crate::ErrorKind;
use crate::slide::Slide;

/// A tiny explicit VR little endian writer.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn tag(&mut self, tag: u32) {
        self.0
            .extend_from_slice(&((tag >> 16) as u16).to_le_bytes());
        self.0.extend_from_slice(&(tag as u16).to_le_bytes());
    }
    fn el(&mut self, tag: u32, vr: &[u8; 2], v: &[u8]) -> &mut Self {
        let mut v = v.to_vec();
        if v.len() % 2 == 1 {
            v.push(if matches!(vr, b"UI" | b"OB") { 0 } else { b' ' });
        }
        self.tag(tag);
        self.0.extend_from_slice(vr);
        if matches!(vr, b"OB" | b"OV" | b"SQ" | b"UN" | b"OW") {
            self.0.extend_from_slice(&[0, 0]);
            self.0.extend_from_slice(&(v.len() as u32).to_le_bytes());
        } else {
            self.0.extend_from_slice(&(v.len() as u16).to_le_bytes());
        }
        self.0.extend_from_slice(&v);
        self
    }
    fn us(&mut self, tag: u32, v: u16) -> &mut Self {
        self.el(tag, b"US", &v.to_le_bytes())
    }
    fn ul(&mut self, tag: u32, v: u32) -> &mut Self {
        self.el(tag, b"UL", &v.to_le_bytes())
    }
    fn item(&mut self, len: u32) -> &mut Self {
        self.tag(0xFFFE_E000);
        self.0.extend_from_slice(&len.to_le_bytes());
        self
    }
}

struct Spec {
    ts: &'static str,
    size: (u32, u32),
    tile: (u16, u16),
    frames: Vec<Vec<u8>>,
    table: Table,
    sparse: Option<Vec<(i32, i32)>>,
}

#[derive(PartialEq)]
enum Table {
    Basic,
    Extended,
    None,
}

fn jpeg_ts() -> &'static str {
    "1.2.840.10008.1.2.4.50"
}

fn build(s: &Spec) -> Vec<u8> {
    let mut meta = W::default();
    meta.el(0x0002_0001, b"OB", &[0, 1])
        .el(0x0002_0010, b"UI", s.ts.as_bytes());
    let mut w = W(vec![0; 128]);
    w.0.extend_from_slice(b"DICM");
    w.ul(0x0002_0000, meta.0.len() as u32);
    w.0.extend_from_slice(&meta.0);
    w.el(0x0008_0008, b"CS", b"ORIGINAL\\PRIMARY\\VOLUME\\NONE")
        .el(0x0008_0016, b"UI", WSI_SOP_CLASS.as_bytes())
        .el(0x0020_000D, b"UI", b"1.2.3")
        .el(0x0020_000E, b"UI", b"1.2.3.4");
    if s.sparse.is_some() {
        w.el(0x0020_9311, b"CS", b"TILED_SPARSE");
    }
    w.us(0x0028_0002, 3)
        .el(0x0028_0004, b"CS", b"YBR_FULL_422")
        .el(0x0028_0008, b"IS", s.frames.len().to_string().as_bytes())
        .us(0x0028_0010, s.tile.1)
        .us(0x0028_0011, s.tile.0)
        .us(0x0028_0100, 8)
        .ul(0x0048_0006, s.size.0)
        .ul(0x0048_0007, s.size.1);
    if let Some(pos) = &s.sparse {
        let mut seq = W::default();
        for &(c, r) in pos {
            let mut inner = W::default();
            inner
                .el(0x0048_021E, b"SL", &c.to_le_bytes())
                .el(0x0048_021F, b"SL", &r.to_le_bytes());
            let mut pps = W::default();
            pps.item(inner.0.len() as u32);
            pps.0.extend_from_slice(&inner.0);
            let mut item = W::default();
            item.el(0x0048_021A, b"SQ", &pps.0);
            seq.item(item.0.len() as u32);
            seq.0.extend_from_slice(&item.0);
        }
        w.el(0x5200_9230, b"SQ", &seq.0);
    }
    let mut offs = Vec::new();
    let mut at = 0u64;
    for f in &s.frames {
        offs.push(at);
        at += 8 + f.len() as u64;
    }
    if s.table == Table::Extended {
        let o: Vec<u8> = offs.iter().flat_map(|o| o.to_le_bytes()).collect();
        let l: Vec<u8> = s
            .frames
            .iter()
            .flat_map(|f| (f.len() as u64).to_le_bytes())
            .collect();
        w.el(0x7FE0_0001, b"OV", &o).el(0x7FE0_0002, b"OV", &l);
    }
    w.tag(0x7FE0_0010);
    w.0.extend_from_slice(b"OB\0\0");
    w.0.extend_from_slice(&u32::MAX.to_le_bytes());
    if s.table == Table::Basic {
        w.item(4 * offs.len() as u32);
        for o in &offs {
            w.0.extend_from_slice(&(*o as u32).to_le_bytes());
        }
    } else {
        w.item(0);
    }
    for f in &s.frames {
        w.item(f.len() as u32);
        w.0.extend_from_slice(f);
    }
    w.tag(0xFFFE_E0DD);
    w.0.extend_from_slice(&[0; 4]);
    w.0
}

fn frame(i: u8) -> Vec<u8> {
    // Not a decodable JPEG: enough for frame tables and passthrough.
    vec![0xFF, 0xD8, 0xFF, 0xDB, i, i, 0xFF, 0xD9]
}

fn spec(table: Table) -> Spec {
    Spec {
        ts: jpeg_ts(),
        size: (500, 300),
        tile: (256, 256),
        frames: (0..4).map(frame).collect(),
        table,
        sparse: None,
    }
}

fn open(bytes: Vec<u8>) -> crate::Result<Slide> {
    let src = Source::from_bytes("case.dcm", Bytes::from(bytes));
    futures::executor::block_on(Slide::from_source(src, None))
}

#[test]
fn frames_are_found_by_every_kind_of_offset_table() {
    for table in [Table::Basic, Table::Extended, Table::None] {
        let s = spec(table);
        let slide = open(build(&s)).unwrap();
        assert_eq!(slide.vendor(), "dicom");
        assert_eq!(slide.dimensions(), (500, 300));
        assert_eq!(slide.levels()[0].tiles_across, 2);
        for (i, f) in s.frames.iter().enumerate() {
            let (c, r) = (i as u32 % 2, i as u32 / 2);
            let t = futures::executor::block_on(slide.native_tile(0, c, r)).unwrap();
            assert_eq!(&t.to_bytes()[..], &f[..], "frame {i}");
        }
    }
}

#[test]
fn sparse_frames_are_placed_by_position() {
    let mut s = spec(Table::Basic);
    s.sparse = Some(vec![(257, 257), (1, 1), (257, 1), (1, 257)]);
    let slide = open(build(&s)).unwrap();
    let tile = |c, r| futures::executor::block_on(slide.native_tile(0, c, r)).unwrap();
    assert_eq!(&tile(1, 1).to_bytes()[..], &frame(0)[..]);
    assert_eq!(&tile(0, 0).to_bytes()[..], &frame(1)[..]);
    assert_eq!(&tile(1, 0).to_bytes()[..], &frame(2)[..]);
    s.sparse = Some(vec![(3, 1), (1, 1), (257, 1), (1, 257)]);
    let e = open(build(&s)).unwrap_err();
    assert!(
        e.to_string().contains("not on the 256x256 tile grid"),
        "{e}"
    );
}

fn refused(bytes: Vec<u8>, kind: ErrorKind, says: &str) {
    let e = open(bytes).unwrap_err();
    assert_eq!(e.kind(), kind, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("case.dcm") && msg.contains(says), "{msg}");
}

#[test]
fn hostile_headers_are_errors_naming_the_file() {
    let mut s = spec(Table::Basic);
    s.ts = "1.2.840.10008.1.2.4.80";
    refused(build(&s), ErrorKind::Unsupported, "JPEG-LS");
    s.ts = "1.2.840.10008.1.2";
    refused(build(&s), ErrorKind::Unsupported, "implicit VR");

    // absurd dimensions: 4 frames for a 4e9 x 4e9 image
    let mut s = spec(Table::Basic);
    s.size = (4_000_000_000, 4_000_000_000);
    refused(build(&s), ErrorKind::Unsupported, "tiles (at most");
    // fewer frames than TILED_FULL needs
    let mut s = spec(Table::Basic);
    s.size = (5000, 300);
    refused(build(&s), ErrorKind::Corrupt, "needs 40 frames, has 4");
    // zero tile size
    let mut s = spec(Table::Basic);
    s.tile = (0, 256);
    refused(build(&s), ErrorKind::Corrupt, "tile size 0x256");

    // frames past the end of the file: cut the last frame short
    let mut b = build(&spec(Table::Extended));
    b.truncate(b.len() - 12);
    let e = open(b).unwrap_err();
    assert!(e.to_string().contains("case.dcm"), "{e}");

    // a Basic Offset Table with too few entries
    let b = build(&spec(Table::Basic));
    let at = find(&b, &[0xFE, 0xFF, 0x00, 0xE0, 16, 0, 0, 0]).unwrap();
    let mut bad = b.clone();
    bad[at + 4] = 8;
    refused(
        bad,
        ErrorKind::Corrupt,
        "Basic Offset Table has 2 entries for 4 frames",
    );

    // not a whole-slide image
    let b = build(&spec(Table::Basic));
    let sop = find(&b, WSI_SOP_CLASS.as_bytes()).unwrap();
    let mut bad = b.clone();
    bad[sop + WSI_SOP_CLASS.len() - 1] = b'2';
    refused(
        bad,
        ErrorKind::Unsupported,
        "not a VL Whole Slide Microscopy Image",
    );

    // no pixel data
    let b = build(&spec(Table::Basic));
    let px = find(&b, &[0xE0, 0x7F, 0x10, 0x00]).unwrap();
    refused(
        b[..px].to_vec(),
        ErrorKind::Corrupt,
        "past the end of the file",
    );

    // a frame count beyond the limit
    let b = build(&spec(Table::Basic));
    let nf = find(&b, b"4 ").unwrap();
    let mut bad = b.clone();
    bad[nf..nf + 2].copy_from_slice(b"9 ");
    refused(
        bad,
        ErrorKind::Corrupt,
        "Basic Offset Table has 4 entries for 9 frames",
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn every_prefix_and_byte_flip_is_an_error_or_a_slide_never_a_panic() {
    let good = build(&spec(Table::Basic));
    for n in 0..good.len() {
        let _ = open(good[..n].to_vec());
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = 132 + (x as usize % (b.len() - 132));
            b[i] = (x >> 32) as u8;
        }
        if let Ok(s) = open(b) {
            let _ = s.check();
            let _ = futures::executor::block_on(s.native_tile(0, 0, 0));
        }
    }
}

#[test]
fn deep_nesting_and_huge_lengths_are_refused() {
    let mut b = build(&spec(Table::Basic));
    let px = find(&b, &[0xE0, 0x7F, 0x10, 0x00]).unwrap();
    let tail = b.split_off(px);
    // 64 nested undefined-length sequences
    let mut w = W(b);
    for _ in 0..64 {
        w.tag(0x0040_0275);
        w.0.extend_from_slice(b"SQ\0\0");
        w.0.extend_from_slice(&u32::MAX.to_le_bytes());
        w.item(u32::MAX);
    }
    w.0.extend_from_slice(&tail);
    refused(w.0, ErrorKind::Corrupt, "nested deeper");
    // an element claiming 4 GiB
    let mut b = build(&spec(Table::Basic));
    let px = find(&b, &[0xE0, 0x7F, 0x10, 0x00]).unwrap();
    let tail = b.split_off(px);
    let mut w = W(b);
    w.tag(0x0009_0010);
    w.0.extend_from_slice(b"OB\0\0");
    w.0.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    w.0.extend_from_slice(&tail);
    refused(w.0, ErrorKind::Corrupt, "past the end of the file");
}
