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
