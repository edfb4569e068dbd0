//! Untrusted DICOM bytes (after the 128-byte preamble and `DICM`, which the target adds):
//! header parse, frame tables, series assembly, then tile reads, a region and a Deep Zoom tile.
//! Anything but an `Err` or `Ok` (panic, hang, runaway allocation) is a bug.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use exact_tiles::source::Source;
use exact_tiles::{DeepZoomGenerator, Slide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = vec![0u8; 128];
    file.extend_from_slice(b"DICM");
    file.extend_from_slice(data);
    let src = Source::from_bytes("fuzz.dcm", Bytes::from(file));
    futures::executor::block_on(async {
        let Ok(slide) = Slide::from_source(src, None).await else {
            return;
        };
        let _ = slide.check();
        let slide = Arc::new(slide);
        for (i, l) in slide.levels().iter().enumerate() {
            if u64::from(l.tile_width) * u64::from(l.tile_height) > 1 << 20 {
                continue;
            }
            let _ = slide.native_tile(i, 0, 0).await;
            let _ = slide.decoded_tile(i, 0, 0).await;
            let _ = slide.read_region(-3, -3, i, 40, 40).await;
        }
        for name in slide.associated_image_names() {
            let _ = slide.associated_image(name).await;
        }
        if let Ok(dz) = DeepZoomGenerator::new(slide.clone(), Default::default()) {
            let last = dz.geometry().level_count() - 1;
            let _ = dz.geometry().tile_info(last, 0, 0);
        }
    });
});
