//! Untrusted OME-XML (the ImageDescription of an OME-TIFF): the bounded tag scanner, then every
//! series' plane map against a few IFD counts (also spread over the files a multi-file document
//! names) and its plane names. Anything but an `Err` or `Ok` (panic, hang, runaway
//! allocation) is a bug.
#![no_main]

use exact_tiles::tiff::ome;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ome::document_uuid(xml);
    let Ok(doc) = ome::parse_doc(xml, "fuzz.ome.tif") else {
        return;
    };
    // A multi-file document: its files, and planes mapped to (file, IFD) with one file of
    // each few IFDs.
    let files = doc.files();
    let in_file = |f: Option<&str>| match f {
        None => Some(7),
        Some(f) => files.iter().position(|(n, _)| *n == f).map(|i| i % 5),
    };
    let mut start = 0usize;
    for image in &doc.images {
        let _ = image.plane_names();
        for spp in [1u32, 3] {
            for ifds in [1usize, 7, 64, 100_000] {
                let _ = image.plane_map(spp, start, ifds, "fuzz.ome.tif");
            }
            let _ = image.plane_map_files(spp, start, 64, &in_file, "fuzz.ome.tif");
        }
        start = start.saturating_add(1);
    }
});
