//! Untrusted OME-XML (the ImageDescription of an OME-TIFF): the bounded tag scanner, then every
//! series' plane map against a few IFD counts and its plane names. Anything but an `Err` or
//! `Ok` (panic, hang, runaway allocation) is a bug.
#![no_main]

use exact_tiles::tiff::ome;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(images) = ome::parse(xml, "fuzz.ome.tif") else {
        return;
    };
    let mut start = 0usize;
    for image in &images {
        let _ = image.plane_names();
        for spp in [1u32, 3] {
            for ifds in [1usize, 7, 64, 100_000] {
                let _ = image.plane_map(spp, start, ifds, "fuzz.ome.tif");
            }
        }
        start = start.saturating_add(1);
    }
});
