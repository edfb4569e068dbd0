//! Untrusted uploads: the conversion decoder (PNG, JPEG, BMP, WebP, striped TIFF) with its
//! size limits. It must return an error or a bounded image, never panic or exhaust memory.
#![no_main]

use exact_tiles::convert::{DecodeLimits, probe};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_pixels: 1 << 22,
        ..DecodeLimits::default()
    };
    let _ = probe(data, &limits);
});
