use super::math::{Affine, Gray, fit_affine, ncc, otsu};
use super::*;

#[test]
fn affine_inverse_round_trips() {
    let a = Affine([0.8, -0.3, 120.0, 0.25, 0.9, -40.0]);
    let inv = a.inverse().unwrap();
    let (x, y) = a.apply(1000.0, 2000.0);
    let (u, v) = inv.apply(x, y);
    assert!((u - 1000.0).abs() < 1e-9 && (v - 2000.0).abs() < 1e-9);
    assert!(Affine([1.0, 2.0, 0.0, 2.0, 4.0, 0.0]).inverse().is_none());
}

#[test]
fn fit_recovers_an_affine_and_drops_outliers() {
    let truth = Affine([-0.7, 0.4, 3000.0, 0.4, 0.7, 150.0]);
    let mut pairs: Vec<_> = (0..20)
        .map(|k| {
            let p = ((k * 397 % 4000) as f64, (k * 211 % 3000) as f64);
            (p, truth.apply(p.0, p.1))
        })
        .collect();
    pairs[3].1.0 += 500.0;
    pairs[11].1.1 -= 80.0;
    let (fit, rms, kept) = fit_affine(&pairs, 2.0).unwrap();
    assert_eq!(kept, 18);
    assert!(rms < 1e-6, "{rms}");
    for (a, b) in fit.0.iter().zip(truth.0) {
        assert!((a - b).abs() < 1e-6, "{fit:?}");
    }
    // Collinear or too few points: no fit.
    let line: Vec<_> = (0..6)
        .map(|k| ((k as f64, k as f64), (k as f64, 0.0)))
        .collect();
    assert!(fit_affine(&line, 1.0).is_none());
    assert!(fit_affine(&pairs[..3], 1.0).is_none());
}

#[test]
fn otsu_splits_two_populations_and_ncc_scores_likeness() {
    let mut v = vec![10.0f32; 500];
    v.extend(vec![200.0f32; 300]);
    let t = otsu(&v);
    assert!(t > 10.0 && t < 200.0, "{t}");
    let a: Vec<f32> = (0..100).map(|i| (i % 7) as f32).collect();
    let b: Vec<f32> = a.iter().map(|x| 3.0 * x + 1.0).collect();
    assert!((ncc(&a, &b) - 1.0).abs() < 1e-9);
    assert_eq!(ncc(&a, &[5.0; 100]), 0.0);
}

#[test]
fn tissue_score_is_high_on_stain_and_low_on_glass() {
    let img = Image {
        width: 3,
        height: 1,
        channels: 3,
        data: vec![250, 250, 250, 180, 60, 160, 40, 40, 40],
    };
    let g = Gray::tissue(&img);
    assert!(
        g.v[0] < 10.0 && g.v[1] > 100.0 && g.v[2] > 100.0,
        "{:?}",
        g.v
    );
    // Bilinear sampling, 0 outside.
    assert_eq!(g.sample(-2.0, 0.0), 0.0);
    assert!((g.sample(0.5, 0.0) - (g.v[0] + g.v[1]) / 2.0).abs() < 1e-3);
}

#[test]
fn a_blank_thumbnail_has_no_tissue() {
    let img = Image {
        width: 64,
        height: 48,
        channels: 3,
        data: vec![245; 64 * 48 * 3],
    };
    let e = Thumb::new(&img, (6400, 4800), "blank.tif").err().unwrap();
    assert!(
        e.to_string().contains("no tissue found in blank.tif"),
        "{e}"
    );
}
