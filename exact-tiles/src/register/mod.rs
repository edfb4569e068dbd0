//! Automatic registration of two slides of one tissue (e.g. an H&E section and its IHC
//! neighbour, or a rescan): a 3 × 3 homography mapping level-0 pixels of the source onto the
//! target, with its error.
//!
//! Coarse: on thumbnails, tissue is separated from glass by Otsu's threshold on a tissue score
//! (the larger of saturation and darkness); the masks' moments give centroids, areas (hence the
//! scale) and main axes. Every rotation in 5° steps plus the main-axis angles, each with and
//! without a mirror flip, is scored by normalised cross-correlation of the warped tissue
//! score, and the best few are refined in finer angle steps.
//!
//! Fine: a few textured tissue patches are matched at successively finer pyramid levels (down
//! to level 0): the source patch is warped by the current estimate into the target's frame and
//! slid over the target by NCC (sub-pixel by a parabola through the peak); a least-squares
//! affine fit of the matched centres, with outliers trimmed, becomes the next estimate. The
//! reported error is the root-mean-square residual of the last fit, in target level-0 pixels.

mod math;

use crate::{Error, Image, Result, Slide};
use math::{Affine, Gray, fit_affine, ncc};
use std::time::Instant;

/// How a registration is estimated.
#[derive(Debug, Clone, Copy)]
pub struct RegisterOptions {
    /// The thumbnails' longer side for the coarse alignment (pixels, 128–4096).
    pub thumbnail_size: u32,
    /// Refine on patches at higher resolution (down to level 0); off: coarse only.
    pub refine: bool,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        Self {
            thumbnail_size: 1024,
            refine: true,
        }
    }
}

/// An estimated registration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Registration {
    /// Source → target, level-0 pixels, row-major 3 × 3 (the last row is `0 0 1`).
    pub matrix: [f64; 9],
    /// Root-mean-square residual of the matched patches in target level-0 pixels (of the
    /// coarse alignment's NCC turned into a distance-free `1 - ncc` when not refined).
    pub error: f64,
    /// Patches that agreed with the final fit (0 when not refined).
    pub matches: usize,
    /// Wall-clock seconds the estimate took.
    pub seconds: f64,
}

/// Template side (pixels of the level it is matched at) and the first stage's search radius.
const TEMPLATE: usize = 64;
const RADIUS: usize = 16;
/// Patches matched per refinement stage.
const PATCHES: usize = 16;
/// The least NCC peak a patch match must reach to count.
const MIN_PEAK: f64 = 0.5;

/// Estimates the registration of `source` onto `target`.
///
/// Errors: `InvalidInput` when a slide shows no tissue, when the slides could not be matched,
/// or when the result is degenerate (not invertible, or an absurd scale); read errors of
/// either slide as they come.
pub async fn register(
    source: &Slide,
    target: &Slide,
    opts: RegisterOptions,
) -> Result<Registration> {
    let started = Instant::now();
    let n = opts.thumbnail_size.clamp(128, 4096);
    let (st, tt) = (overview(source, n).await?, overview(target, n).await?);
    let (s0, t0) = (source.dimensions(), target.dimensions());
    let (sname, tname) = (source.name().to_owned(), target.name().to_owned());
    let coarse = crate::cpu::run(move || {
        let s = Thumb::new(&st, s0, &sname)?;
        let t = Thumb::new(&tt, t0, &tname)?;
        let h = coarse(&s, &t)?;
        Ok::<_, Error>((h, t))
    })
    .await?;
    let (mut h, thumb) = coarse;
    let mut error = f64::NAN;
    let mut matches = 0;
    if opts.refine {
        let (w, hh) = target.dimensions();
        let side = w.min(hh) as f64;
        let mut stages: Vec<f64> = Vec::new();
        for d in [16.0_f64, 4.0, 1.0] {
            // A window covering a third of the slide at most, so that patches are local.
            let d = d.min(side / 3.0 / (TEMPLATE + 2 * RADIUS) as f64).max(1.0);
            let level = target.best_level_for_downsample(d);
            if stages
                .last()
                .is_none_or(|&l| (l - target.level_downsamples()[level]).abs() > 1e-9)
            {
                stages.push(target.level_downsamples()[level]);
            }
        }
        for (i, &d) in stages.iter().enumerate() {
            let last = i + 1 == stages.len();
            // The first stage corrects the coarse estimate, the later ones only its residue.
            let radius = if i == 0 { RADIUS } else { RADIUS / 3 };
            match refine(source, target, &thumb, h, d, radius).await? {
                Some((next, err, n)) => {
                    h = next;
                    error = err;
                    matches = n;
                }
                None if last => {
                    return Err(Error::invalid(
                        "target_image",
                        format!(
                            "too few tissue patches of {} matched {} at level 0: the slides may not show the same tissue",
                            source.name(),
                            target.name()
                        ),
                    ));
                }
                None => {}
            }
        }
    }
    check_result(&h, source.dimensions())?;
    if !opts.refine || error.is_nan() {
        error = -1.0;
    }
    Ok(Registration {
        matrix: h.matrix(),
        error,
        matches,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The whole slide at about `n` pixels on its longer side: the coarsest pyramid level that
/// is not much smaller (read as it is, no resampling), or a resized thumbnail when the
/// pyramid has no level near that size.
async fn overview(slide: &Slide, n: u32) -> Result<Image> {
    let fits = |l: &crate::Level| l.width.max(l.height) <= u64::from(n) * 5 / 4;
    let pick = slide
        .levels()
        .iter()
        .enumerate()
        .find(|(_, l)| fits(l))
        .filter(|(_, l)| l.width.max(l.height) >= u64::from(n) / 3);
    match pick {
        Some((i, l)) => {
            slide
                .read_region(0, 0, i, l.width as u32, l.height as u32)
                .await
        }
        None => slide.thumbnail(n, n).await,
    }
}

/// Refuses results that cannot be a registration of tissue: not invertible, or scaling by
/// more than 20× either way.
fn check_result(h: &Affine, (w, hh): (u64, u64)) -> Result<()> {
    let s = h.scale();
    if h.inverse().is_none() || !(0.05..=20.0).contains(&s) {
        return Err(Error::invalid(
            "target_image",
            format!(
                "the estimate is degenerate (scale {s:.3}): the slides could not be registered"
            ),
        ));
    }
    let c = h.apply(w as f64 / 2.0, hh as f64 / 2.0);
    if !(c.0.is_finite() && c.1.is_finite()) {
        return Err(Error::invalid("target_image", "the estimate is not finite"));
    }
    Ok(())
}

/// A thumbnail's tissue score, mask and the shape of its tissue, in level-0 coordinates.
struct Thumb {
    gray: Gray,
    /// Level-0 pixels per thumbnail pixel, x and y.
    scale: (f64, f64),
    threshold: f32,
    /// Centroid, area (level-0 px²) and main-axis angle of the tissue.
    cx: f64,
    cy: f64,
    area: f64,
    theta: f64,
}

impl Thumb {
    fn new(img: &Image, (w0, h0): (u64, u64), name: &str) -> Result<Thumb> {
        let gray = Gray::tissue(img);
        let scale = (
            w0 as f64 / gray.w.max(1) as f64,
            h0 as f64 / gray.h.max(1) as f64,
        );
        let threshold = math::otsu(&gray.v);
        let (mut m, mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for j in 0..gray.h {
            for i in 0..gray.w {
                if gray.v[j * gray.w + i] > threshold {
                    let (x, y) = to_level0(i as f64, j as f64, scale);
                    m += 1.0;
                    sx += x;
                    sy += y;
                    sxx += x * x;
                    syy += y * y;
                    sxy += x * y;
                }
            }
        }
        let total = (gray.w * gray.h) as f64;
        if m < 16.0 || m > 0.98 * total || threshold < 8.0 {
            return Err(Error::invalid(
                "target_image",
                format!("no tissue found in {name}: nothing stands out from the background"),
            ));
        }
        let (cx, cy) = (sx / m, sy / m);
        let (mu20, mu02, mu11) = (sxx / m - cx * cx, syy / m - cy * cy, sxy / m - cx * cy);
        Ok(Thumb {
            threshold,
            cx,
            cy,
            area: m * scale.0 * scale.1,
            theta: 0.5 * (2.0 * mu11).atan2(mu20 - mu02),
            gray,
            scale,
        })
    }
}

/// Level-0 coordinates of the centre of pixel (`i`, `j`) of an image `scale` times smaller.
fn to_level0(i: f64, j: f64, scale: (f64, f64)) -> (f64, f64) {
    ((i + 0.5) * scale.0 - 0.5, (j + 0.5) * scale.1 - 0.5)
}

/// Pixel coordinates in an image `scale` times smaller of level-0 point (`x`, `y`).
fn from_level0(x: f64, y: f64, scale: (f64, f64)) -> (f64, f64) {
    ((x + 0.5) / scale.0 - 0.5, (y + 0.5) / scale.1 - 0.5)
}

/// NCC between the target's score and the source's warped into the target's frame.
fn overlap(s: &Gray, sscale: (f64, f64), t: &Gray, tscale: (f64, f64), inv: &Affine) -> f64 {
    let mut warped = Vec::with_capacity(t.v.len());
    for j in 0..t.h {
        for i in 0..t.w {
            let (x, y) = to_level0(i as f64, j as f64, tscale);
            let (sx, sy) = inv.apply(x, y);
            let (u, v) = from_level0(sx, sy, sscale);
            warped.push(s.sample(u, v));
        }
    }
    ncc(&warped, &t.v)
}

/// The similarity transform moving the source's tissue onto the target's, rotated by `phi`
/// after an optional mirror flip.
fn candidate(s: &Thumb, t: &Thumb, flip: bool, phi: f64) -> Affine {
    let k = (t.area / s.area).sqrt();
    let (c, sn) = (phi.cos(), phi.sin());
    let f = if flip { -1.0 } else { 1.0 };
    // M = k R(phi) diag(f, 1)
    let (a, b, d, e) = (k * c * f, -k * sn, k * sn * f, k * c);
    let tx = t.cx - (a * s.cx + b * s.cy);
    let ty = t.cy - (d * s.cx + e * s.cy);
    Affine([a, b, tx, d, e, ty])
}

/// The best rotation/flip of the source onto the target, on the thumbnails.
fn coarse(s: &Thumb, t: &Thumb) -> Result<Affine> {
    // Search on images of at most 128 px, refine on 256 then 512 px ones.
    let small = |g: &Thumb, n: usize| {
        let k = g.gray.w.max(g.gray.h).div_ceil(n).max(1);
        let r = g.gray.reduce(k);
        let sc = (
            g.scale.0 * g.gray.w as f64 / r.w as f64,
            g.scale.1 * g.gray.h as f64 / r.h as f64,
        );
        (r, sc)
    };
    let (sx, sxc) = small(s, 128);
    let (tx, txc) = small(t, 128);
    let (ss, sss) = small(s, 256);
    let (ts, tss) = small(t, 256);
    let score = |flip: bool, phi: f64, sg: &Gray, ssc, tg: &Gray, tsc| {
        let h = candidate(s, t, flip, phi);
        match h.inverse() {
            Some(inv) => overlap(sg, ssc, tg, tsc, &inv),
            None => f64::NEG_INFINITY,
        }
    };
    let mut scored: Vec<(f64, bool, f64)> = Vec::new();
    for flip in [false, true] {
        let theta_s = if flip {
            std::f64::consts::PI - s.theta
        } else {
            s.theta
        };
        let axis = t.theta - theta_s;
        let mut angles: Vec<f64> = (0..72).map(|k| (k as f64 * 5.0).to_radians()).collect();
        angles.extend([axis, axis + std::f64::consts::PI]);
        for phi in angles {
            scored.push((score(flip, phi, &sx, sxc, &tx, txc), flip, phi));
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (sm, smc) = small(s, 512);
    let (tm, tmc) = small(t, 512);
    let mut best = (f64::NEG_INFINITY, false, 0.0);
    for &(_, flip, phi0) in scored.iter().take(2) {
        // 1° steps on the small images, then 0.25° steps on the larger ones.
        let mut local = (f64::NEG_INFINITY, phi0);
        for k in -4..=4 {
            let phi = phi0 + (k as f64).to_radians();
            let sc = score(flip, phi, &ss, sss, &ts, tss);
            if sc > local.0 {
                local = (sc, phi);
            }
        }
        let centre = local.1;
        local.0 = f64::NEG_INFINITY;
        for k in -4..=4 {
            let phi = centre + (k as f64 * 0.25).to_radians();
            let sc = score(flip, phi, &sm, smc, &tm, tmc);
            if sc > local.0 {
                local = (sc, phi);
            }
        }
        if local.0 > best.0 {
            best = (local.0, flip, local.1);
        }
    }
    if !best.0.is_finite() || best.0 < 0.1 {
        return Err(Error::invalid(
            "target_image",
            format!(
                "the thumbnails do not correlate under any rotation or flip (best NCC {:.2}): the slides may not show the same tissue",
                best.0
            ),
        ));
    }
    Ok(candidate(s, t, best.1, best.2))
}

/// Patch centres in target level-0 coordinates: the most textured tissue spots of a grid over
/// the target's thumbnail, whose window (`half` level-0 pixels either side) lies inside the
/// target and whose preimage lies inside the source.
fn patch_centres(
    t: &Thumb,
    inv: &Affine,
    half: f64,
    target: (u64, u64),
    source: (u64, u64),
) -> Vec<(f64, f64)> {
    let g = &t.gray;
    let cells = 8;
    let mut picks: Vec<(f32, f64, f64)> = Vec::new();
    for cy in 0..cells {
        for cx in 0..cells {
            let (i0, i1) = (cx * g.w / cells, (cx + 1) * g.w / cells);
            let (j0, j1) = (cy * g.h / cells, (cy + 1) * g.h / cells);
            let mut best: Option<(f32, f64, f64)> = None;
            for j in j0.max(1)..j1.min(g.h.saturating_sub(1)) {
                for i in i0.max(1)..i1.min(g.w.saturating_sub(1)) {
                    let v = g.v[j * g.w + i];
                    if v <= t.threshold {
                        continue;
                    }
                    let gx = g.v[j * g.w + i + 1] - g.v[j * g.w + i - 1];
                    let gy = g.v[(j + 1) * g.w + i] - g.v[(j - 1) * g.w + i];
                    let energy = gx.abs() + gy.abs();
                    let (x, y) = to_level0(i as f64, j as f64, t.scale);
                    let inside = |x: f64, y: f64, (w, h): (u64, u64), m: f64| {
                        x - m >= 0.0 && y - m >= 0.0 && x + m < w as f64 && y + m < h as f64
                    };
                    if !inside(x, y, target, half) {
                        continue;
                    }
                    let (sx, sy) = inv.apply(x, y);
                    if !inside(sx, sy, source, half * inv.scale()) {
                        continue;
                    }
                    if best.is_none_or(|b| energy > b.0) {
                        best = Some((energy, x, y));
                    }
                }
            }
            picks.extend(best);
        }
    }
    picks.sort_by(|a, b| b.0.total_cmp(&a.0));
    picks.truncate(PATCHES);
    picks.into_iter().map(|(_, x, y)| (x, y)).collect()
}

/// One refinement stage at target downsample `d`: the next estimate, its RMS residual and the
/// number of patches kept, or `None` when too few patches matched.
async fn refine(
    source: &Slide,
    target: &Slide,
    thumb: &Thumb,
    h: Affine,
    d: f64,
    radius: usize,
) -> Result<Option<(Affine, f64, usize)>> {
    let Some(inv) = h.inverse() else {
        return Ok(None);
    };
    let lt = target.best_level_for_downsample(d);
    let dt = target.level_downsamples()[lt];
    let ls = source.best_level_for_downsample(dt / h.scale());
    let dsrc = source.level_downsamples()[ls];
    let win = TEMPLATE + 2 * radius;
    let half = win as f64 * dt / 2.0;
    let centres = patch_centres(thumb, &inv, half, target.dimensions(), source.dimensions());
    let mut pairs: Vec<((f64, f64), (f64, f64))> = Vec::new();
    for (qx, qy) in centres {
        // The target window, whole level pixels from (x0, y0).
        let x0 = ((qx - half) / dt).floor() * dt;
        let y0 = ((qy - half) / dt).floor() * dt;
        let timg = target
            .read_region(x0 as i64, y0 as i64, lt, win as u32, win as u32)
            .await?;
        // The source preimage of the template (the window's centre part).
        let corner =
            |u: f64, v: f64| inv.apply(x0 + (u + 0.5) * dt - 0.5, y0 + (v + 0.5) * dt - 0.5);
        let (a, b) = (radius as f64, (radius + TEMPLATE) as f64);
        let pts = [corner(a, a), corner(b, a), corner(a, b), corner(b, b)];
        let margin = 3.0 * dsrc;
        let sx0 = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min) - margin;
        let sy0 = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min) - margin;
        let sx1 = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max) + margin;
        let sy1 = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max) + margin;
        let sx0 = (sx0 / dsrc).floor() * dsrc;
        let sy0 = (sy0 / dsrc).floor() * dsrc;
        let (sw, sh) = (((sx1 - sx0) / dsrc).ceil(), ((sy1 - sy0) / dsrc).ceil());
        if !(1.0..=1024.0).contains(&sw) || !(1.0..=1024.0).contains(&sh) {
            continue;
        }
        let simg = source
            .read_region(sx0 as i64, sy0 as i64, ls, sw as u32, sh as u32)
            .await?;
        let m = crate::cpu::run(move || {
            match_patch(&timg, &simg, &inv, (x0, y0, dt), (sx0, sy0, dsrc), radius)
        })
        .await;
        if let Some((du, dv)) = m {
            // The template's centre, in target level-0 pixels, as predicted and as found.
            let c = radius as f64 + TEMPLATE as f64 / 2.0 - 0.5;
            let (px, py) = (x0 + (c + 0.5) * dt - 0.5, y0 + (c + 0.5) * dt - 0.5);
            let src = inv.apply(px, py);
            pairs.push((src, (px + du * dt, py + dv * dt)));
        }
    }
    Ok(fit_affine(&pairs, 2.0 * dt))
}

/// Where the warped source template best matches the target window: the shift from its
/// predicted place in target level pixels (sub-pixel), or `None` without a clear peak.
fn match_patch(
    timg: &Image,
    simg: &Image,
    inv: &Affine,
    (x0, y0, dt): (f64, f64, f64),
    (sx0, sy0, ds): (f64, f64, f64),
    radius: usize,
) -> Option<(f64, f64)> {
    let tg = Gray::tissue(timg);
    let sg = Gray::tissue(simg);
    let win = TEMPLATE + 2 * radius;
    if tg.w != win || tg.h != win {
        return None;
    }
    let mut tmpl = Vec::with_capacity(TEMPLATE * TEMPLATE);
    for v in 0..TEMPLATE {
        for u in 0..TEMPLATE {
            let (x, y) = (
                x0 + ((radius + u) as f64 + 0.5) * dt - 0.5,
                y0 + ((radius + v) as f64 + 0.5) * dt - 0.5,
            );
            let (sx, sy) = inv.apply(x, y);
            tmpl.push(sg.sample((sx - sx0 + 0.5) / ds - 0.5, (sy - sy0 + 0.5) / ds - 0.5));
        }
    }
    let (mean, sd) = math::mean_sd(&tmpl);
    if sd < 2.0 {
        return None;
    }
    let t: Vec<f32> = tmpl.iter().map(|v| v - mean).collect();
    let side = 2 * radius + 1;
    let mut scores = vec![f64::NEG_INFINITY; side * side];
    let mut window = vec![0f32; TEMPLATE * TEMPLATE];
    for dv in 0..side {
        for du in 0..side {
            for r in 0..TEMPLATE {
                let row = (dv + r) * win + du;
                window[r * TEMPLATE..(r + 1) * TEMPLATE]
                    .copy_from_slice(&tg.v[row..row + TEMPLATE]);
            }
            scores[dv * side + du] = ncc(&t, &window);
        }
    }
    let (best, &peak) = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if peak < MIN_PEAK {
        return None;
    }
    let (bu, bv) = (best % side, best / side);
    // A peak on the border may lie outside the search: not trusted.
    if bu == 0 || bv == 0 || bu + 1 == side || bv + 1 == side {
        return None;
    }
    let parabola = |l: f64, c: f64, r: f64| {
        let den = l - 2.0 * c + r;
        if den.abs() < 1e-12 {
            0.0
        } else {
            (0.5 * (l - r) / den).clamp(-0.5, 0.5)
        }
    };
    let fu = parabola(scores[best - 1], peak, scores[best + 1]);
    let fv = parabola(scores[best - side], peak, scores[best + side]);
    Some((
        bu as f64 + fu - radius as f64,
        bv as f64 + fv - radius as f64,
    ))
}

#[cfg(test)]
mod tests;
