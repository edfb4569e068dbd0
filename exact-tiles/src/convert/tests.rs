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

#[test]
fn pictures_become_the_frames_of_one_stack() {
    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    let mut sources = Vec::new();
    for (i, name) in ["a.png", "b.png", "c.png"].into_iter().enumerate() {
        let p = tmp.path().join(name);
        let mut src = gradient_png(&p, 600, 300);
        // each frame its own colour shift
        for v in src.iter_mut().step_by(3) {
            *v = v.wrapping_add(80 * i as u8);
        }
        let img = Image {
            width: 600,
            height: 300,
            channels: 3,
            data: src.clone(),
        };
        std::fs::write(&p, img.encode_png().unwrap()).unwrap();
        inputs.push((p, name));
        sources.push(src);
    }
    let output = tmp.path().join("stack.tif");
    let args: Vec<(&std::path::Path, &str)> =
        inputs.iter().map(|(p, n)| (p.as_path(), *n)).collect();
    let summary = convert_frames(&args, &output, &ConvertOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(summary.levels, vec![(600, 300), (300, 150), (150, 75)]);
    let slide = futures::executor::block_on(Slide::open(output.to_str().unwrap())).unwrap();
    assert_eq!((slide.depth(), slide.frames()), (1, 3));
    assert_eq!(slide.level_count(), 3);
    let names = slide.plane_names();
    assert_eq!(
        names.frames,
        vec![
            Some("a.png".into()),
            Some("b.png".into()),
            Some("c.png".into())
        ]
    );
    let slide = std::sync::Arc::new(slide);
    for (f, src) in sources.iter().enumerate() {
        let plane = slide.plane(1, f as u32 + 1).unwrap();
        assert_eq!(plane.level_count(), 3);
        let region = futures::executor::block_on(plane.read_region(0, 0, 0, 600, 300)).unwrap();
        let err: u64 = region
            .data
            .chunks_exact(4)
            .zip(src.chunks_exact(3))
            .map(|(a, b)| (0..3).map(|c| u64::from(a[c].abs_diff(b[c]))).sum::<u64>())
            .sum();
        let mae = err as f64 / (600.0 * 300.0 * 3.0);
        assert!(mae < 3.0, "frame {f}: MAE {mae}");
    }
    // A frame of another size is refused, naming it.
    let odd = tmp.path().join("odd.png");
    gradient_png(&odd, 100, 100);
    let err = convert_frames(
        &[(inputs[0].0.as_path(), "a.png"), (odd.as_path(), "odd.png")],
        &tmp.path().join("bad.tif"),
        &ConvertOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("odd.png is 100x100"), "{err}");
}

#[test]
fn a_row_writer_makes_a_pyramid_from_composed_rows_and_refuses_a_short_image() {
    let tmp = tempfile::tempdir().unwrap();
    let output = tmp.path().join("rows.tif");
    let (w, h) = (600u32, 300u32);
    let mut out = RowWriter::create(&output, w, h, &ConvertOptions::default()).unwrap();
    let err = out.push_row(&[0u8; 5]).unwrap_err();
    assert!(err.to_string().contains("expected 1800"), "{err}");
    for _ in 0..h {
        // Left half red, right half blue.
        let row: Vec<u8> = (0..w)
            .flat_map(|x| if x < w / 2 { [200, 0, 0] } else { [0, 0, 200] })
            .collect();
        out.push_row(&row).unwrap();
    }
    assert_eq!(
        out.finish().unwrap(),
        vec![(600, 300), (300, 150), (150, 75)]
    );
    let slide = futures::executor::block_on(Slide::open(output.to_str().unwrap())).unwrap();
    assert_eq!(slide.dimensions(), (600, 300));
    let px = futures::executor::block_on(slide.read_region(100, 100, 0, 1, 1)).unwrap();
    assert!(px.data[0] > 150 && px.data[2] < 50, "{:?}", &px.data[..4]);
    let px = futures::executor::block_on(slide.read_region(500, 100, 0, 1, 1)).unwrap();
    assert!(px.data[2] > 150 && px.data[0] < 50, "{:?}", &px.data[..4]);

    let short = RowWriter::create(
        &tmp.path().join("short.tif"),
        w,
        h,
        &ConvertOptions::default(),
    )
    .unwrap();
    assert!(
        short
            .finish()
            .unwrap_err()
            .to_string()
            .contains("ended early")
    );
    assert!(
        RowWriter::create(
            &tmp.path().join("empty.tif"),
            0,
            5,
            &ConvertOptions::default()
        )
        .is_err()
    );
}
