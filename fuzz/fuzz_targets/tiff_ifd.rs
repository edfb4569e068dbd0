//! Untrusted TIFF bytes: directory parsing, slide assembly, then a few tile reads, a region
//! and a Deep Zoom tile. Anything but an `Err` or `Ok` (panic, hang, runaway allocation) is a bug.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use exact_tiles::source::Source;
use exact_tiles::{DeepZoomGenerator, Slide};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = Source::from_bytes("fuzz.tif", Bytes::copy_from_slice(data));
    futures::executor::block_on(async {
        let Ok(slide) = Slide::from_source(src, None).await else {
            return;
        };
        let slide = Arc::new(slide);
        for (i, l) in slide.levels().iter().enumerate() {
            // keep decoding cheap: the cap on decoded sizes is tested separately
            if u64::from(l.tile_width) * u64::from(l.tile_height) > 1 << 20 {
                continue;
            }
            let _ = slide.raw_tile(i, 0, 0).await;
            let _ = slide.native_tile(i, 0, 0).await;
            let _ = slide.decoded_tile(i, 0, 0).await;
            let _ = slide.read_region(-3, -3, i, 40, 40).await;
        }
        for name in slide.associated_image_names() {
            let _ = slide.associated_image(name).await;
        }
        if let Ok(dz) = DeepZoomGenerator::new(slide.clone(), Default::default()) {
            let g = dz.geometry();
            let _ = g.dzi("jpeg");
            let last = g.level_count() - 1;
            let _ = g.tile_info(last, 0, 0);
            if slide.levels()[0].width * slide.levels()[0].height <= 1 << 20 {
                let _ = dz.tile(0, 0, 0).await;
            }
        }
    });
});
