//! Untrusted JPEGTables and tile bytes: splicing (with and without APP14) and decoding the
//! result as a tile would be decoded.
#![no_main]

use bytes::Bytes;
use exact_tiles::jpeg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let split = usize::from(data[0]) * 4 % data.len().max(1);
    let (tables, tile) = data[1..].split_at(split.min(data.len() - 1));
    let tile = Bytes::copy_from_slice(tile);
    for rgb in [false, true] {
        if let Ok(prefix) = jpeg::tile_prefix(Some(tables), rgb) {
            if let Ok(out) = jpeg::splice(&prefix, &tile) {
                assert!(out.len() >= prefix.len());
                let _ = exact_tiles::codec::decode_jpeg_stream(&out, 256, 256, rgb);
            }
        }
    }
});
