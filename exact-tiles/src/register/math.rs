//! The arithmetic of registration: affine maps, tissue-score images, Otsu's threshold,
//! normalised cross-correlation and a trimmed least-squares affine fit.

use crate::Image;

/// `x' = a x + b y + c`, `y' = d x + e y + f`, stored `[a, b, c, d, e, f]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Affine(pub [f64; 6]);

impl Affine {
    pub(crate) fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    fn det(&self) -> f64 {
        self.0[0] * self.0[4] - self.0[1] * self.0[3]
    }

    /// The mean scale factor, `sqrt(|det|)`.
    pub(crate) fn scale(&self) -> f64 {
        self.det().abs().sqrt()
    }

    pub(crate) fn inverse(&self) -> Option<Affine> {
        let d = self.det();
        if !d.is_finite() || d.abs() < 1e-12 {
            return None;
        }
        let [a, b, c, dd, e, f] = self.0;
        let (ia, ib, id, ie) = (e / d, -b / d, -dd / d, a / d);
        let inv = [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
        inv.iter().all(|v| v.is_finite()).then_some(Affine(inv))
    }

    /// As a row-major 3 × 3 matrix.
    pub(crate) fn matrix(&self) -> [f64; 9] {
        let m = &self.0;
        [m[0], m[1], m[2], m[3], m[4], m[5], 0.0, 0.0, 1.0]
    }
}

/// A single-channel float image.
#[derive(Debug, Clone)]
pub(crate) struct Gray {
    pub w: usize,
    pub h: usize,
    pub v: Vec<f32>,
}

impl Gray {
    /// The tissue score of an RGB(A) image (transparent = white glass): the larger of the
    /// saturation and the darkness, 0–255. Stain and tissue score high, glass low.
    pub(crate) fn tissue(img: &Image) -> Gray {
        let c = usize::from(img.channels.max(1));
        let (w, h) = (img.width as usize, img.height as usize);
        let mut v = Vec::with_capacity(w * h);
        for px in img.data.chunks_exact(c).take(w * h) {
            let (mut r, mut g, mut b) = if c >= 3 {
                (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]))
            } else {
                let l = f32::from(px[0]);
                (l, l, l)
            };
            if c == 4 {
                let a = f32::from(px[3]) / 255.0;
                r = r * a + 255.0 * (1.0 - a);
                g = g * a + 255.0 * (1.0 - a);
                b = b * a + 255.0 * (1.0 - a);
            }
            let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
            let sat = if mx > 0.0 {
                (mx - mn) * 255.0 / mx
            } else {
                0.0
            };
            let dark = 255.0 - (r + g + b) / 3.0;
            v.push(sat.max(dark));
        }
        v.resize(w * h, 0.0);
        Gray { w, h, v }
    }

    /// Bilinear sample at pixel coordinates (centres at whole numbers); 0 outside.
    pub(crate) fn sample(&self, x: f64, y: f64) -> f32 {
        if !(x > -1.0 && y > -1.0 && x < self.w as f64 && y < self.h as f64) {
            return 0.0;
        }
        let (fx, fy) = (x.floor(), y.floor());
        let (ax, ay) = ((x - fx) as f32, (y - fy) as f32);
        let (ix, iy) = (fx as i64, fy as i64);
        let at = |i: i64, j: i64| {
            if i < 0 || j < 0 || i >= self.w as i64 || j >= self.h as i64 {
                0.0
            } else {
                self.v[j as usize * self.w + i as usize]
            }
        };
        let top = at(ix, iy) * (1.0 - ax) + at(ix + 1, iy) * ax;
        let bottom = at(ix, iy + 1) * (1.0 - ax) + at(ix + 1, iy + 1) * ax;
        top * (1.0 - ay) + bottom * ay
    }

    /// Box-reduced by `k` (partial blocks at the edges averaged over what they hold).
    pub(crate) fn reduce(&self, k: usize) -> Gray {
        if k <= 1 {
            return self.clone();
        }
        let (w, h) = (self.w.div_ceil(k), self.h.div_ceil(k));
        let mut sum = vec![0f32; w * h];
        let mut n = vec![0f32; w * h];
        for j in 0..self.h {
            for i in 0..self.w {
                let o = (j / k) * w + i / k;
                sum[o] += self.v[j * self.w + i];
                n[o] += 1.0;
            }
        }
        let v = sum.iter().zip(&n).map(|(s, n)| s / n.max(1.0)).collect();
        Gray { w, h, v }
    }
}

/// Otsu's threshold of values in 0–255.
pub(crate) fn otsu(v: &[f32]) -> f32 {
    let mut hist = [0f64; 256];
    for &x in v {
        hist[x.clamp(0.0, 255.0) as usize] += 1.0;
    }
    let total: f64 = hist.iter().sum();
    let sum: f64 = hist.iter().enumerate().map(|(i, n)| i as f64 * n).sum();
    let (mut wb, mut sb, mut best, mut thr) = (0.0, 0.0, -1.0, 0usize);
    for (t, &n) in hist.iter().enumerate() {
        wb += n;
        sb += t as f64 * n;
        let wf = total - wb;
        if wb == 0.0 || wf == 0.0 {
            continue;
        }
        let (mb, mf) = (sb / wb, (sum - sb) / wf);
        let between = wb * wf * (mb - mf) * (mb - mf);
        if between > best {
            best = between;
            thr = t;
        }
    }
    thr as f32 + 0.5
}

pub(crate) fn mean_sd(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean as f32, var.sqrt() as f32)
}

/// Normalised cross-correlation of two equally long sequences (0 when either is flat).
pub(crate) fn ncc(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (x, y) = (f64::from(x), f64::from(y));
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    let nf = n as f64;
    let cov = sab - sa * sb / nf;
    let va = saa - sa * sa / nf;
    let vb = sbb - sb * sb / nf;
    if va <= 1e-9 || vb <= 1e-9 {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}

/// A matched point: where it is in the source and in the target.
pub(crate) type Pair = ((f64, f64), (f64, f64));

/// Least-squares affine map of `pairs` (from → to), dropping pairs whose residual exceeds
/// both three times the median and `tol`, until none is dropped. `None` with fewer than four
/// pairs left or collinear ones. Returns the fit, its RMS residual and the pairs kept.
pub(crate) fn fit_affine(pairs: &[Pair], tol: f64) -> Option<(Affine, f64, usize)> {
    // Inliers are re-chosen from all pairs after every fit, so a good pair dropped while a
    // gross outlier still bent the fit comes back.
    let mut inliers: Vec<bool> = vec![true; pairs.len()];
    for _ in 0..10 {
        let keep: Vec<_> = pairs
            .iter()
            .zip(&inliers)
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p)
            .collect();
        let a = solve(&keep)?;
        let res: Vec<f64> = pairs
            .iter()
            .map(|&(p, q)| {
                let r = a.apply(p.0, p.1);
                ((r.0 - q.0).powi(2) + (r.1 - q.1).powi(2)).sqrt()
            })
            .collect();
        let mut sorted: Vec<f64> = res
            .iter()
            .zip(&inliers)
            .filter(|(_, k)| **k)
            .map(|(r, _)| *r)
            .collect();
        sorted.sort_by(f64::total_cmp);
        let cut = (3.0 * sorted[sorted.len() / 2]).max(tol);
        let next: Vec<bool> = res.iter().map(|r| *r <= cut).collect();
        if next == inliers {
            let kept: Vec<f64> = res
                .iter()
                .zip(&inliers)
                .filter(|(_, k)| **k)
                .map(|(r, _)| *r)
                .collect();
            let rms = (kept.iter().map(|r| r * r).sum::<f64>() / kept.len() as f64).sqrt();
            return Some((a, rms, kept.len()));
        }
        inliers = next;
    }
    None
}

/// The least-squares affine map, or `None` for fewer than four pairs or a singular system.
fn solve(pairs: &[Pair]) -> Option<Affine> {
    if pairs.len() < 4 {
        return None;
    }
    // Centred for conditioning.
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |s, (p, _)| (s.0 + p.0 / n, s.1 + p.1 / n));
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    let (mut bx, mut by) = ([0.0; 3], [0.0; 3]);
    for &((x, y), (u, v)) in pairs {
        let (x, y) = (x - mx, y - my);
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
        bx[0] += x * u;
        bx[1] += y * u;
        bx[2] += u;
        by[0] += x * v;
        by[1] += y * v;
        by[2] += v;
    }
    // With centred x, y the normal matrix is [[sxx, sxy, 0], [sxy, syy, 0], [0, 0, n]].
    let det = sxx * syy - sxy * sxy;
    if !det.is_finite() || det <= 1e-9 * (sxx * syy).max(1.0) {
        return None;
    }
    let row = |b: [f64; 3]| {
        let a = (syy * b[0] - sxy * b[1]) / det;
        let bb = (sxx * b[1] - sxy * b[0]) / det;
        (a, bb, b[2] / n)
    };
    let (a, b, c) = row(bx);
    let (d, e, f) = row(by);
    // Undo the centring: u = a (x - mx) + b (y - my) + c.
    Some(Affine([
        a,
        b,
        c - a * mx - b * my,
        d,
        e,
        f - d * mx - e * my,
    ]))
}
