//! Multi-file OME-TIFF (Bio-Formats' layout), from `tests/fixtures/data/multifile` (written by
//! tifffile through `tests/fixtures/make_series.py`): three files, plane z of a Z=3 RGB series
//! in `multi_z{z}.ome.tif`, each with a SubIFD level; any file opens the whole set, locally or
//! from a store prefix; a missing file, a file with another UUID and a TiffData past a file's
//! IFDs are errors naming the file and why.

use std::sync::Arc;

use exact_tiles::{ErrorKind, Slide};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{block, data};

const FILES: [&str; 3] = ["multi_z0.ome.tif", "multi_z1.ome.tif", "multi_z2.ome.tif"];

/// What `make_series.py` writes: value(y, x, c) = (3x + 5y + 70c + 40 seed) mod 256.
fn pattern(x: u32, y: u32, c: u32, seed: u32) -> u8 {
    ((3 * x + 5 * y + 70 * c + 40 * seed) % 256) as u8
}

/// Every plane, at both levels, equals the arrays tifffile wrote.
fn assert_planes(slide: Slide) {
    let slide = Arc::new(slide);
    assert_eq!((slide.depth(), slide.frames()), (3, 1));
    assert_eq!(slide.dimensions(), (64, 48));
    for z in 0..3u32 {
        let p = slide.plane(z + 1, 1).unwrap();
        assert_eq!(p.level_count(), 2);
        for (level, step, (w, h)) in [(0, 1, (64, 48)), (1, 2, (32, 24))] {
            let img = block(p.read_region(0, 0, level, w, h)).unwrap();
            for y in 0..h {
                for x in 0..w {
                    let i = ((y * w + x) * 4) as usize;
                    for c in 0..3 {
                        assert_eq!(
                            img.data[i + c as usize],
                            pattern(x * step, y * step, c, 10 + z),
                            "plane z={z} level {level} pixel ({x}, {y}) channel {c}"
                        );
                    }
                }
            }
        }
    }
}

/// A folder holding copies of `files` (fixture name, name in the folder).
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in files {
        std::fs::copy(data(&format!("multifile/{from}")), dir.path().join(to)).unwrap();
    }
    dir
}

#[test]
fn any_file_opens_every_plane_of_the_set() {
    for first in FILES {
        let path = data(&format!("multifile/{first}"));
        let slide = block(Slide::open(path.to_str().unwrap())).unwrap();
        let files = slide.files();
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files[0].ends_with(first), "{files:?}");
        slide.check().unwrap();
        assert_planes(slide);
    }
}

#[test]
fn the_files_are_found_beside_it_in_a_store() {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    for f in FILES {
        let bytes = std::fs::read(data(&format!("multifile/{f}"))).unwrap();
        block(store.put(&Path::from(format!("case/{f}")), PutPayload::from(bytes))).unwrap();
    }
    // One GET per file to open (each file's head holds its IFDs), no listing, no HEAD.
    let counting = exact_tiles::objects::CountingStore::new(store);
    let slide = block(Slide::open_store(
        Arc::new(counting.clone()),
        Path::from("case/multi_z1.ome.tif"),
    ))
    .unwrap();
    let c = counting.counts();
    assert_eq!((c.gets, c.heads), (3, 0), "{c:?}");
    assert_eq!(
        slide.files(),
        [
            "case/multi_z1.ome.tif",
            "case/multi_z0.ome.tif",
            "case/multi_z2.ome.tif"
        ]
    );
    assert_planes(slide);
}

#[test]
fn a_missing_file_is_named() {
    let dir = folder(&[(FILES[0], FILES[0]), (FILES[1], FILES[1])]);
    let path = dir.path().join(FILES[0]);
    let err = block(Slide::open(path.to_str().unwrap())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("multi_z2.ome.tif") && msg.contains("multi-file"),
        "{msg}"
    );
    // In a store too.
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let bytes = std::fs::read(data("multifile/multi_z0.ome.tif")).unwrap();
    block(store.put(&Path::from("case/multi_z0.ome.tif"), bytes.into())).unwrap();
    let err = block(Slide::open_store(
        store,
        Path::from("case/multi_z0.ome.tif"),
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("multi_z1.ome.tif"), "{err}");
}

#[test]
fn a_file_with_another_uuid_is_refused_by_name() {
    // z2 is a copy of z1: its UUID is z1's.
    let dir = folder(&[
        (FILES[0], FILES[0]),
        (FILES[1], FILES[1]),
        (FILES[1], FILES[2]),
    ]);
    let path = dir.path().join(FILES[0]);
    let err = block(Slide::open(path.to_str().unwrap())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("multi_z2.ome.tif")
            && msg.contains("UUID urn:uuid:00000000-0000-4000-8000-000000000002"),
        "{msg}"
    );
}

#[test]
fn a_tiffdata_past_a_files_ifds_is_named() {
    let dir = folder(&[
        ("bad/past.ome.tif", "past.ome.tif"),
        (FILES[0], FILES[0]),
        (FILES[1], FILES[1]),
        (FILES[2], FILES[2]),
    ]);
    let path = dir.path().join("past.ome.tif");
    let err = block(Slide::open(path.to_str().unwrap())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("multi_z1.ome.tif") && msg.contains("IFD 5") && msg.contains("past.ome.tif"),
        "{msg}"
    );
}
