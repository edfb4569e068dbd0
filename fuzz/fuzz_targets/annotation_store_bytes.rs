//! Damaged stored bytes: annotation records, history entries, pages and locator blocks must
//! decode to an error, never a panic or an unbounded allocation.
#![no_main]

use exact_core::{AnnotationId, codec, pages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode_annotation(1, data, "fuzz");
    let _ = codec::decode_change(1, AnnotationId(1), data, "fuzz");
    if let Ok(entries) = pages::entries(data, "fuzz") {
        for e in &entries {
            let _ = codec::decode_annotation(e.id, e.data, "fuzz");
        }
        let _ = pages::build(&entries);
    }
    let _ = pages::decode_block(data, "fuzz");
});
