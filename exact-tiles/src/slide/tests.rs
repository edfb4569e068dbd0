use super::*;

fn data(name: &str) -> String {
    format!(
        "{}/../tests/fixtures/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}

#[test]
fn opens_cmu_svs_like_openslide() {
    let s = block(Slide::open(&data("CMU-1-Small-Region.svs"))).unwrap();
    assert_eq!(s.vendor(), "aperio");
    assert_eq!(s.dimensions(), (2220, 2967));
    assert_eq!(s.level_count(), 1);
    let p = s.properties();
    assert_eq!(p["openslide.mpp-x"], "0.499");
    assert_eq!(p["openslide.objective-power"], "20");
    assert_eq!(p["aperio.Originalheight"], "33014");
    assert_eq!(p["tiff.ResolutionUnit"], "inch");
    assert_eq!(p["openslide.level[0].tile-width"], "240");
    assert_eq!(
        s.associated_image_names(),
        vec!["label", "macro", "thumbnail"]
    );
    assert_eq!(p["openslide.associated.macro.width"], "1280");
}

#[test]
fn opens_boxes_generic_tiff_like_openslide() {
    let s = block(Slide::open(&data("openslide-python-boxes.tiff"))).unwrap();
    assert_eq!(s.vendor(), "generic-tiff");
    assert_eq!(
        s.level_dimensions(),
        vec![(300, 250), (150, 125), (75, 62), (37, 31)]
    );
    assert_eq!(
        s.level_downsamples(),
        vec![1.0, 2.0, 4.016129032258064, 8.086312118570184]
    );
    let p = s.properties();
    assert_eq!(p["openslide.mpp-x"], "352.77777983377013");
    assert_eq!(p["tiff.XResolution"], "28.346456527709961");
    assert_eq!(p["openslide.level[2].downsample"], "4.0161290322580641");
    assert_eq!(p["openslide.icc-size"], "588");
    assert_eq!(s.best_level_for_downsample(3.0), 1);
    assert_eq!(s.best_level_for_downsample(0.5), 0);
    assert_eq!(s.best_level_for_downsample(100.0), 3);
}

#[test]
fn native_jpeg_tile_gets_tables_and_app14() {
    let s = block(Slide::open(&data("CMU-1-Small-Region.svs"))).unwrap();
    let t = block(s.native_tile(0, 1, 1)).unwrap().to_bytes();
    assert_eq!(&t[..2], &[0xFF, 0xD8]);
    assert_eq!(&t[2..18], &jpeg::APP14_RGB);
    assert_eq!(&t[t.len() - 2..], &[0xFF, 0xD9]);
    let err = block(s.native_tile(0, 99, 0)).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
}

#[test]
fn regions_are_transparent_outside_the_image() {
    let s = block(Slide::open(&data("openslide-python-boxes.tiff"))).unwrap();
    let r = block(s.read_region(-10, -10, 0, 20, 20)).unwrap();
    assert_eq!(&r.data[..4], &[0, 0, 0, 0]);
    let inside = &r.data[(15 * 20 + 15) * 4..][..4];
    assert_eq!(inside[3], 255);
}

#[test]
fn rgb_regions_equal_rgba_regions_composited() {
    for name in ["CMU-1-Small-Region.svs", "openslide-python-boxes.tiff"] {
        let s = block(Slide::open(&data(name))).unwrap();
        let (w, h) = s.dimensions();
        let (w, h) = (w as i64, h as i64);
        let bg = [255, 250, 240];
        for level in 0..s.level_count() {
            let ds = s.level_downsamples()[level] as i64;
            // Whole-pixel corners (the direct path), a sub-pixel one and a negative one
            // (composited), inside, across tile edges and past the right/bottom edge.
            for (x, y, rw, rh) in [
                (0, 0, 256, 256),
                (239 * ds, 241 * ds, 300, 200),
                (w - 100 * ds, h - 50 * ds, 256, 256),
                (w + 10, h + 10, 20, 20),
                (1, 3, 50, 40),
                (-7, -9, 64, 64),
            ] {
                let rgb = block(s.read_region_rgb(x, y, level, rw, rh, bg)).unwrap();
                let want = block(s.read_region(x, y, level, rw, rh))
                    .unwrap()
                    .to_rgb(bg);
                assert_eq!(rgb, want, "{name} level {level} at ({x}, {y}) {rw}x{rh}");
            }
        }
    }
}
