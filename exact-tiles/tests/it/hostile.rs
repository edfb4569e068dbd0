//! Truncated files, IFD loops, absurd sizes, offsets past the end, unsupported compressions:
//! each is an error naming the file and the problem — never a panic, a hang or a huge
//! allocation. Inputs are real slides with targeted damage.

use bytes::Bytes;
use exact_tiles::source::Source;
use exact_tiles::{ErrorKind, Slide};

use crate::{block, data};

fn open_bytes(name: &str, bytes: Vec<u8>) -> exact_tiles::Result<Slide> {
    block(Slide::from_source(
        Source::from_bytes(name, Bytes::from(bytes)),
        None,
    ))
}

fn boxes() -> Vec<u8> {
    std::fs::read(data("openslide-python-boxes.tiff")).unwrap()
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Offset of the entry for `tag` in the IFD at `ifd`.
fn entry(b: &[u8], ifd: usize, tag: u16) -> usize {
    let n = le16(b, ifd) as usize;
    (0..n)
        .map(|i| ifd + 2 + i * 12)
        .find(|&e| le16(b, e) == tag)
        .expect("tag present")
}

#[test]
fn truncated_files_name_the_file() {
    let full = std::fs::read(data("CMU-1-Small-Region.svs")).unwrap();
    for cut in [0, 7, 100, 1_000_000, 1_300_000, 1_900_000] {
        let err = open_bytes("cut.svs", full[..cut].to_vec()).unwrap_err();
        assert!(err.to_string().contains("cut.svs"), "{err}");
        assert!(matches!(
            err.kind(),
            ErrorKind::Corrupt | ErrorKind::Unsupported
        ));
    }
}

#[test]
fn ifd_loop_is_detected() {
    let mut b = boxes();
    let first = le32(&b, 4) as usize;
    let n = le16(&b, first) as usize;
    // next-IFD pointer of the first IFD points back at itself
    b[first + 2 + n * 12..first + 6 + n * 12].copy_from_slice(&(first as u32).to_le_bytes());
    let err = open_bytes("loop.tiff", b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("loop"), "{err}");
}

#[test]
fn absurd_dimensions_and_tile_counts_are_rejected_without_allocating() {
    let mut b = boxes();
    let first = le32(&b, 4) as usize;
    // width 4 billion: the tile offset array no longer covers the grid
    let w = entry(&b, first, 256);
    b[w + 2..w + 4].copy_from_slice(&4u16.to_le_bytes()); // LONG
    b[w + 8..w + 12].copy_from_slice(&4_000_000_000u32.to_le_bytes());
    let err = open_bytes("wide.tiff", b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");

    let mut b = boxes();
    let t = entry(&b, first, 322); // TileWidth
    b[t + 8..t + 10].copy_from_slice(&0u16.to_le_bytes());
    assert_eq!(
        open_bytes("tile0.tiff", b).unwrap_err().kind(),
        ErrorKind::Corrupt
    );

    let mut b = boxes();
    let o = entry(&b, first, 324); // TileOffsets: claim 2^30 entries
    b[o + 4..o + 8].copy_from_slice(&(1u32 << 30).to_le_bytes());
    let err = open_bytes("count.tiff", b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

#[test]
fn offsets_past_the_end_fail_on_the_tile_not_the_process() {
    let mut b = boxes();
    let first = le32(&b, 4) as usize;
    let o = entry(&b, first, 324);
    let arr = le32(&b, o + 8) as usize;
    b[arr..arr + 4].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let slide = open_bytes("far.tiff", b).unwrap();
    let err = block(slide.decoded_tile(0, 0, 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("far.tiff"));
    // other tiles still read
    block(slide.decoded_tile(0, 1, 0)).unwrap();
}

#[test]
fn unsupported_compression_is_named() {
    let mut b = boxes();
    let first = le32(&b, 4) as usize;
    let c = entry(&b, first, 259);
    b[c + 8..c + 10].copy_from_slice(&34892u16.to_le_bytes()); // lossy JPEG (DNG)
    let slide = open_bytes("odd.tiff", b).unwrap();
    let err = block(slide.decoded_tile(0, 0, 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("compression 34892"), "{err}");
    let err = block(slide.native_tile(0, 0, 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[test]
fn deflate_data_labelled_jpeg_2000_is_corrupt() {
    let mut b = boxes();
    let first = le32(&b, 4) as usize;
    let c = entry(&b, first, 259);
    b[c + 8..c + 10].copy_from_slice(&33003u16.to_le_bytes());
    let slide = open_bytes("j2k.tiff", b).unwrap();
    let err = block(slide.decoded_tile(0, 0, 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("JPEG 2000"), "{err}");
}

#[test]
fn garbage_tile_data_is_corrupt_not_a_panic() {
    let mut b = std::fs::read(data("CMU-1-Small-Region.svs")).unwrap();
    // scribble over the first tile's entropy-coded data (tile 0 starts at byte 16)
    for x in &mut b[40..3000] {
        *x = 0xFF;
    }
    let slide = open_bytes("scribbled.svs", b).unwrap();
    let _ = block(slide.decoded_tile(0, 0, 0));
    let _ = block(slide.read_region(0, 0, 0, 300, 300));
}

#[test]
fn region_requests_are_bounded_by_the_request() {
    let slide = block(Slide::open(
        data("openslide-python-boxes.tiff").to_str().unwrap(),
    ))
    .unwrap();
    let err = block(slide.read_region(0, 0, 0, 100_000, 100_000)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        block(slide.read_region(0, 0, 9, 1, 1)).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// Found by `fuzz/ tiff_ifd`: a damaged JPEG tile (from a mutated libvips BigTIFF, minimised
/// to 12 KB) on which zune-jpeg 0.4's bit reader hit an assertion. Decoding it must return,
/// with pixels or an error.
#[test]
fn fuzz_regression_zune_bitstream_tile() {
    let data = include_bytes!("regressions/zune-jpeg-bitstream.jpg");
    let _ = exact_tiles::codec::decode_jpeg_stream(data, 240, 240, false);
    let _ = exact_tiles::codec::decode_jpeg_stream(data, 240, 240, true);
}

/// Found by `fuzz/ convert_decode`: a striped TIFF with a zero-length strip made the
/// coalescing range reader slice out of bounds. Empty ranges now read as empty.
#[test]
fn fuzz_regression_empty_strip_range() {
    let data = include_bytes!("regressions/empty-strip-range.tif");
    let limits = exact_tiles::convert::DecodeLimits::default();
    let _ = exact_tiles::convert::probe(data, &limits);
    if let Ok(slide) = open_bytes("empty-strip.tif", data.to_vec()) {
        let _ = block(slide.read_region(0, 0, 0, 50, 40));
    }
}

// ---- Hand-made hostile TIFFs (issue 10, items 3 and 7): the bytes of one IFD assembled
// here, because a hostile file is exactly what no real writer produces.

use exact_tiles::budget::RenderBudget;
use std::io::Write;

/// A one-IFD little-endian classic TIFF.
struct Spec {
    width: u32,
    height: u32,
    spp: u16,
    bps: u16,
    compression: u16,
    tile: Option<(u32, u32)>,
    rows_per_strip: u32,
    blocks: Vec<Vec<u8>>,
}

impl Spec {
    fn rgb(width: u32, height: u32, compression: u16, blocks: Vec<Vec<u8>>) -> Self {
        Spec {
            width,
            height,
            spp: 3,
            bps: 8,
            compression,
            tile: None,
            rows_per_strip: height,
            blocks,
        }
    }

    /// The file, with the offsets and byte counts arrays rewritten by `patch` first.
    fn build(&self, patch: impl FnOnce(&mut Vec<u32>, &mut Vec<u32>)) -> Vec<u8> {
        build_tiff(self, patch)
    }
}

fn build_tiff(s: &Spec, patch: impl FnOnce(&mut Vec<u32>, &mut Vec<u32>)) -> Vec<u8> {
    let mut out = b"II*\0\0\0\0\0".to_vec();
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for b in &s.blocks {
        offsets.push(out.len() as u32);
        counts.push(b.len() as u32);
        out.extend_from_slice(b);
    }
    patch(&mut offsets, &mut counts);
    if out.len() % 2 == 1 {
        out.push(0);
    }
    let mut e: Vec<(u16, u16, Vec<u32>)> = vec![
        (256, 4, vec![s.width]),
        (257, 4, vec![s.height]),
        (258, 3, vec![u32::from(s.bps); usize::from(s.spp.max(1))]),
        (259, 3, vec![u32::from(s.compression)]),
        (262, 3, vec![if s.spp >= 3 { 2 } else { 1 }]),
        (277, 3, vec![u32::from(s.spp)]),
        (284, 3, vec![1]),
    ];
    match s.tile {
        Some((tw, th)) => e.extend([
            (322, 4, vec![tw]),
            (323, 4, vec![th]),
            (324, 4, offsets),
            (325, 4, counts),
        ]),
        None => e.extend([
            (273, 4, offsets),
            (278, 4, vec![s.rows_per_strip]),
            (279, 4, counts),
        ]),
    }
    e.sort_by_key(|x| x.0);
    let ifd = out.len();
    out[4..8].copy_from_slice(&(ifd as u32).to_le_bytes());
    let mut extra_at = ifd + 2 + e.len() * 12 + 4;
    let (mut table, mut extra) = (Vec::new(), Vec::new());
    for (tag, typ, vals) in &e {
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|v| {
                if *typ == 3 {
                    (*v as u16).to_le_bytes().to_vec()
                } else {
                    v.to_le_bytes().to_vec()
                }
            })
            .collect();
        table.extend_from_slice(&tag.to_le_bytes());
        table.extend_from_slice(&typ.to_le_bytes());
        table.extend_from_slice(&(vals.len() as u32).to_le_bytes());
        if bytes.len() <= 4 {
            let mut v = bytes.clone();
            v.resize(4, 0);
            table.extend_from_slice(&v);
        } else {
            table.extend_from_slice(&(extra_at as u32).to_le_bytes());
            extra_at += bytes.len();
            extra.extend_from_slice(&bytes);
        }
    }
    out.extend_from_slice(&(e.len() as u16).to_le_bytes());
    out.extend_from_slice(&table);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&extra);
    out
}

fn deflate(raw: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(raw).unwrap();
    z.finish().unwrap()
}

/// A picture with content at every scale: diagonal colour bands and a per-pixel texture.
fn pixel(x: u32, y: u32) -> [u8; 3] {
    let t = ((x * 7 + y * 13) % 17) as u8;
    [
        ((x / 37 + y / 53) % 256) as u8 ^ t,
        ((x * 3) % 251) as u8,
        ((y * 5) % 241) as u8 ^ (t << 2),
    ]
}

/// A striped RGB TIFF of `w` × `h`, Deflate strips of `rows` rows, each with content unless
/// `sparse(strip)` says it is empty.
fn striped(w: u32, h: u32, rows: u32, sparse: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut blocks = Vec::new();
    for (i, y0) in (0..h).step_by(rows as usize).enumerate() {
        if sparse(i) {
            blocks.push(Vec::new());
            continue;
        }
        let mut raw = Vec::with_capacity((w * rows * 3) as usize);
        for y in y0..(y0 + rows).min(h) {
            for x in 0..w {
                raw.extend_from_slice(&pixel(x, y));
            }
        }
        blocks.push(deflate(&raw));
    }
    let mut spec = Spec::rgb(w, h, 8, blocks);
    spec.rows_per_strip = rows;
    spec.build(|_, _| {})
}

fn tiled_rgb(w: u32, h: u32, t: u32, compression: u16, tile: impl Fn(u32, u32) -> Vec<u8>) -> Spec {
    let mut blocks = Vec::new();
    for r in 0..h.div_ceil(t) {
        for c in 0..w.div_ceil(t) {
            blocks.push(tile(c, r));
        }
    }
    let mut spec = Spec::rgb(w, h, compression, blocks);
    spec.tile = Some((t, t));
    spec
}

fn solid_tile(t: u32) -> Vec<u8> {
    deflate(&vec![200u8; (t * t * 3) as usize])
}

#[test]
fn a_hand_made_tiff_opens_passes_the_checks_and_reads() {
    let b = tiled_rgb(512, 384, 256, 8, |_, _| solid_tile(256)).build(|_, _| {});
    let slide = open_bytes("good.tif", b).unwrap();
    slide.check().unwrap();
    let tile = block(slide.decoded_tile(0, 1, 1)).unwrap();
    assert_eq!(&tile.data[..3], &[200, 200, 200]);
}

#[test]
fn check_refuses_tile_bytes_past_the_end_of_the_file() {
    let b = tiled_rgb(512, 512, 256, 8, |_, _| solid_tile(256)).build(|off, _| off[3] = 1 << 30);
    let slide = open_bytes("far.tif", b).unwrap();
    let err = slide.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("level 0: tile 3") && msg.contains("past the end of the file"),
        "{msg}"
    );
    // serving it anyway: that tile is a Corrupt error, the others read
    assert_eq!(
        block(slide.decoded_tile(0, 1, 1)).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    block(slide.decoded_tile(0, 0, 0)).unwrap();
}

#[test]
fn zero_samples_per_pixel_is_corrupt_on_open() {
    let mut spec = tiled_rgb(256, 256, 256, 8, |_, _| solid_tile(256));
    spec.spp = 0;
    let err = open_bytes("spp0.tif", spec.build(|_, _| {})).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("0 samples per pixel"), "{err}");
}

#[test]
fn unsupported_sample_layouts_are_named_by_the_check() {
    let mut spec = tiled_rgb(256, 256, 256, 8, |_, _| solid_tile(256));
    spec.bps = 16;
    let slide = open_bytes("deep.tif", spec.build(|_, _| {})).unwrap();
    let err = slide.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("16 bits per sample"), "{err}");
    let mut spec = tiled_rgb(256, 256, 256, 8, |_, _| solid_tile(256));
    spec.bps = 0;
    let err = open_bytes("bps0.tif", spec.build(|_, _| {}))
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

/// The file of issue 10 item 7: 33 KB declaring 16,384 × 16,384 RGB pixels in Deflate strips
/// (decoding a low-zoom tile of it took 768 MB).
pub fn tiny_file_declaring_16k() -> Vec<u8> {
    let (w, h, rows) = (16384u32, 16384u32, 512u32);
    let strip = deflate(&vec![0u8; 4096]);
    let blocks = (0..h / rows).map(|_| strip.clone()).collect();
    let mut spec = Spec::rgb(w, h, 8, blocks);
    spec.rows_per_strip = rows;
    spec.build(|_, _| {})
}

#[test]
fn declared_sizes_are_checked_against_the_bytes_present() {
    let b = tiny_file_declaring_16k();
    assert!(b.len() < 40_000, "{}", b.len());
    let slide = open_bytes("tiny16k.tif", b).unwrap();
    let err = slide.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("expands at most 1032"), "{err}");

    // Tiles sharing one plausible stored tile: each is fine alone, the level is not.
    let mut spec = tiled_rgb(16384, 16384, 256, 8, |_, _| Vec::new());
    spec.blocks[0] = solid_tile(256);
    let b = spec.build(|off, cnt| {
        let (o, c) = (off[0], cnt[0]);
        off.iter_mut().for_each(|x| *x = o);
        cnt.iter_mut().for_each(|x| *x = c);
    });
    let err = open_bytes("shared.tif", b).unwrap().check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("share"), "{err}");

    // Uncompressed data must all be there.
    let mut spec = Spec::rgb(64, 64, 1, vec![vec![0u8; 64 * 64 * 3 - 1]]);
    spec.rows_per_strip = 64;
    let err = open_bytes("short.tif", spec.build(|_, _| {}))
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");

    // A level with no stored pixels at all.
    let err = open_bytes(
        "empty.tif",
        tiled_rgb(512, 512, 256, 8, |_, _| Vec::new()).build(|_, _| {}),
    )
    .unwrap()
    .check()
    .unwrap_err();
    assert!(err.to_string().contains("no pixel data"), "{err}");
}

/// A region far larger than its output is reduced while its strips are decoded: the same
/// pixels as composing it whole, within a budget smaller than the whole composition.
#[test]
fn large_regions_are_reduced_as_they_decode_with_the_same_pixels() {
    let (w, h) = (4400u32, 4000u32); // 17.6 Mpx: above the direct limit
    assert!(u64::from(w) * u64::from(h) > exact_tiles::slide::DIRECT_REGION_PIXELS);
    let b = striped(w, h, 64, |i| i % 7 == 3);
    let slide = open_bytes("large.tif", b).unwrap();
    slide.check().unwrap();
    let whole = block(slide.read_region_rgb(0, 0, 0, w, h, [255, 255, 255])).unwrap();
    for out in [(254, 231), (110, 100), (1, 1)] {
        let expected = exact_tiles::resize::pil_resize(&whole, out.0, out.1).unwrap();
        let got =
            block(slide.read_region_resized(0, 0, 0, w, h, Some(out), [255, 255, 255])).unwrap();
        assert_eq!(got, expected, "{out:?}");
    }
    // an offset region partly outside the level: background where there is no image
    let whole = block(slide.read_region_rgb(1000, 500, 0, w, h, [255, 255, 255])).unwrap();
    let expected = exact_tiles::resize::pil_resize(&whole, 200, 200).unwrap();
    let got =
        block(slide.read_region_resized(1000, 500, 0, w, h, Some((200, 200)), [255, 255, 255]))
            .unwrap();
    assert_eq!(got, expected);

    // Within a 64 MiB budget (the whole composition alone needs ~190 MiB).
    let slide = open_bytes("large.tif", striped(w, h, 64, |_| false))
        .unwrap()
        .with_budget(RenderBudget::new(64 << 20));
    let thumb = block(slide.thumbnail(128, 128)).unwrap();
    assert_eq!((thumb.width, thumb.height), (128, 116));
    let dz = exact_tiles::DeepZoomGenerator::new(std::sync::Arc::new(slide), Default::default())
        .unwrap();
    block(dz.tile(3, 0, 0)).unwrap();
}

#[test]
fn a_used_up_budget_is_a_typed_busy_error() {
    let budget = RenderBudget::new(8 << 20);
    let b = tiled_rgb(512, 512, 256, 8, |_, _| solid_tile(256)).build(|_, _| {});
    let slide = open_bytes("busy.tif", b)
        .unwrap()
        .with_budget(budget.clone());
    let held = budget.try_reserve(7 << 20, &"another render").unwrap();
    let err = block(slide.read_region(0, 0, 0, 300, 300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(err.retry_after_secs(), Some(1));
    let err = block(slide.thumbnail(64, 64)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    drop(held);
    block(slide.read_region(0, 0, 0, 300, 300)).unwrap();
    assert_eq!(budget.available(), 8 << 20);
}

/// A striped level whose strips decode to more than 16 MiB is not served as it is (every tile
/// would decode a whole strip): the check calls it unsupported, so the upload converts it into a
/// tiled pyramid; a damaged one is still refused as damaged first.
#[test]
fn huge_strips_are_left_to_the_converter_damage_first() {
    let mut spec = Spec::rgb(3000, 2000, 8, vec![deflate(&vec![90u8; 3000 * 2000 * 3])]);
    spec.rows_per_strip = 2000;
    let slide = open_bytes("onestrip.tif", spec.build(|_, _| {})).unwrap();
    let err = slide.check().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("strips of 3000x2000"), "{err}");
    let err = open_bytes("onestrip.tif", spec.build(|off, _| off[0] = 1 << 30))
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    // 16 MiB strips and below are served
    spec.rows_per_strip = 900;
    spec.blocks = (0..3)
        .map(|i: usize| deflate(&vec![90u8; 3000 * std::cmp::min(900, 2000 - i * 900) * 3]))
        .collect();
    open_bytes("strips.tif", spec.build(|_, _| {}))
        .unwrap()
        .check()
        .unwrap();
}

/// An empty (sparse) tile is painted white: a header declaring 65,536² tiles must not make
/// that white tile a 12 GB allocation.
#[test]
fn a_sparse_tile_of_absurd_size_is_an_error_not_an_allocation() {
    let spec = tiled_rgb(65536, 65536, 65536, 8, |_, _| Vec::new());
    let slide = open_bytes("huge-sparse.tif", spec.build(|_, _| {})).unwrap();
    assert!(slide.check().is_err());
    let err = block(slide.decoded_tile(0, 0, 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(block(slide.read_region(0, 0, 0, 100, 100)).is_err());
    // the thumbnail reduces: an empty tile is background, nothing is allocated for it
    let thumb = block(slide.thumbnail(64, 64)).unwrap();
    assert_eq!(&thumb.data[..3], &[255, 255, 255]);
}
