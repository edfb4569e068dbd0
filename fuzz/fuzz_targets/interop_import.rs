//! Untrusted annotation files (import): the first byte picks the format — QuPath GeoJSON,
//! COCO, CSV, EXACT label lines, ASAP XML, ImageScope XML — the rest is the file. Every item a
//! reader yields is fitted to every vector type, as the import does. Errors are fine; panics,
//! hangs and unbounded allocations are not. (SlideRunner's SQLite is left to SQLite's own
//! fuzzing: reading it spools the bytes to a temporary file per input.)
#![no_main]

use exact_core::model::VectorType;
use exact_interop::{Item, asap, coco, csv, geojson, imagescope, labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else {
        return;
    };
    let mut sink = |item: Item| -> exact_core::Result<()> {
        for &vt in VectorType::ALL {
            if let Ok(Some(v)) = item.fit(vt, (50.0, 50.0)) {
                assert!(v.points.iter().all(|p| p.x.is_finite() && p.y.is_finite()));
            }
        }
        Ok(())
    };
    let _ = match which % 6 {
        0 => geojson::read(file, &mut sink),
        1 => coco::read(file, &mut sink),
        2 => csv::read(file, &mut sink),
        3 => labels::read(file, &mut sink),
        4 => asap::read(file, &mut sink),
        _ => imagescope::read(file, &mut sink),
    };
});
