use super::*;
use crate::slide::Slide;

fn gradient_png(path: &std::path::Path, w: u32, h: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ]);
        }
    }
    let img = Image {
        width: w,
        height: h,
        channels: 3,
        data: data.clone(),
    };
    std::fs::write(path, img.encode_png().unwrap()).unwrap();
    data
}

#[test]
fn png_becomes_a_pyramid_this_crate_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in.png"), tmp.path().join("out.tif"));
    let src = gradient_png(&input, 1000, 700);
    let mut seen = Vec::new();
    let summary = convert_file(&input, &output, &ConvertOptions::default(), &mut |p| {
        seen.push(p)
    })
    .unwrap();
    assert_eq!(summary.format, Format::Png);
    assert_eq!(summary.levels, vec![(1000, 700), (500, 350), (250, 175)]);
    assert!(!summary.bigtiff);
    assert_eq!(seen.last().unwrap().rows_done, 700);
    let slide = futures::executor::block_on(Slide::open(output.to_str().unwrap())).unwrap();
    assert_eq!(slide.vendor(), "generic-tiff");
    assert_eq!(slide.level_count(), 3);
    assert!(slide.levels()[0].is_passthrough());
    let region = futures::executor::block_on(slide.read_region(0, 0, 0, 1000, 700)).unwrap();
    let err: u64 = region
        .data
        .chunks_exact(4)
        .zip(src.chunks_exact(3))
        .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
        .sum();
    let mae = err as f64 / (1000.0 * 700.0 * 3.0);
    assert!(mae < 3.0, "MAE {mae}");
}

#[test]
fn garbage_is_rejected_with_the_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("junk.png");
    std::fs::write(&input, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = convert_file(
        &input,
        &tmp.path().join("o.tif"),
        &ConvertOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("junk.png"), "{err}");
    assert!(probe(b"hello", &DecodeLimits::default()).is_err());
}
