//! The `openslide` feature: a slide read through OpenSlide gives the same levels, properties
//! and pixels as the pure-Rust reader on a file both can read.

use exact_tiles::Slide;

use crate::{block, data};

#[test]
fn openslide_backend_agrees_with_the_pure_reader() {
    let path = data("CMU-1-Small-Region.svs");
    let pure = block(Slide::open(path.to_str().unwrap())).unwrap();
    let osr = block(Slide::open_with_openslide(&path)).unwrap();
    assert_eq!(osr.vendor(), "aperio");
    assert_eq!(osr.level_dimensions(), pure.level_dimensions());
    assert_eq!(osr.associated_image_names(), pure.associated_image_names());
    for k in [
        "openslide.mpp-x",
        "aperio.AppMag",
        "openslide.level[0].tile-width",
    ] {
        assert_eq!(osr.properties()[k], pure.properties()[k], "{k}");
    }
    let a = block(osr.read_region(-20, 100, 0, 300, 200)).unwrap();
    let b = block(pure.read_region(-20, 100, 0, 300, 200)).unwrap();
    let diff: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    assert!(diff as f64 / a.data.len() as f64 <= 1.0);
    assert_eq!(&a.data[..4], &[0, 0, 0, 0]);
    let label = block(osr.associated_image("label")).unwrap();
    assert_eq!((label.width, label.height), (387, 463));
    assert!(block(osr.native_tile(0, 0, 0)).is_err());
}
