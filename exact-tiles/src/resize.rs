//! Resizing with `fast_image_resize` (Lanczos3, as PIL's LANCZOS) and PIL's thumbnail sizing.

use crate::error::{Error, Result};
use crate::image::Image;

/// PIL's `Image.thumbnail` size: fit in `max` keeping the aspect ratio, rounding each side to
/// whichever of floor/ceil keeps the aspect closest; never upscales.
pub fn pil_thumbnail_size(size: (u32, u32), max: (u32, u32)) -> (u32, u32) {
    let (w, h) = (f64::from(size.0), f64::from(size.1));
    let (x, y) = (f64::from(max.0), f64::from(max.1));
    if x >= w && y >= h {
        return size;
    }
    let aspect = w / h;
    let round = |n: f64, key: &dyn Fn(f64) -> f64| -> u32 {
        let (f, c) = (n.floor(), n.ceil());
        // Python's min() keeps the first of equal keys: floor.
        let v = if key(c) < key(f) { c } else { f };
        v.max(1.0) as u32
    };
    if x / y >= aspect {
        (round(y * aspect, &|n| (aspect - n / y).abs()), max.1)
    } else {
        let key = |n: f64| {
            if n == 0.0 {
                0.0
            } else {
                (aspect - x / n).abs()
            }
        };
        (max.0, round(x / aspect, &key))
    }
}

/// Resize as PIL's `Image.resize(size, LANCZOS, reducing_gap=2.0)` (what `thumbnail` does):
/// for reductions of 4× or more, first average whole blocks (`Image.reduce`), then Lanczos3
/// over the exact remaining box.
pub fn pil_resize(src: &Image, w: u32, h: u32) -> Result<Image> {
    let (fx, fy) = pil_reduce_factors((src.width, src.height), (w, h));
    if fx == 1 && fy == 1 {
        return lanczos(src, w, h);
    }
    let reduced = reduce(src, fx, fy);
    let bw = f64::from(src.width) / f64::from(fx);
    let bh = f64::from(src.height) / f64::from(fy);
    Ok(pil_resample(&reduced, w, h, (0.0, 0.0, bw, bh)))
}

/// The whole-block reduction [`pil_resize`] applies before Lanczos for `src` → `out`
/// (PIL's `reducing_gap=2.0`): at least 1 on each axis.
pub fn pil_reduce_factors(src: (u32, u32), out: (u32, u32)) -> (u32, u32) {
    let fx = (f64::from(src.0) / f64::from(out.0.max(1)) / 2.0) as u32;
    let fy = (f64::from(src.1) / f64::from(out.1.max(1)) / 2.0) as u32;
    (fx.max(1), fy.max(1))
}

/// The mean of `n` samples summing to `acc`, rounded as Pillow's `Image.reduce` does (a
/// truncated fixed-point reciprocal computed in float, which reads a little low for large
/// blocks).
pub(crate) fn pillow_mean(acc: u64, n: u32) -> u8 {
    let mult = (4_294_967_296.0_f32 / (256u32.wrapping_mul(n)) as f32) as u32;
    let ss = (acc as u32).wrapping_add(n / 2);
    (ss.wrapping_mul(mult) >> 24) as u8
}

/// PIL's Lanczos window (support 3).
fn pil_lanczos(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL's `precompute_coeffs` + `normalize_coeffs_8bpc`: per output pixel, the first input
/// index and fixed-point weights.
fn pil_coeffs(in_size: u32, in0: f64, in1: f64, out_size: u32) -> Vec<(usize, Vec<i64>)> {
    let scale = (in1 - in0) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = 3.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = in0 + (f64::from(xx) + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64)
                .min(i64::from(in_size))
                .max(xmin as i64) as usize;
            let ws: Vec<f64> = (xmin..xmax)
                .map(|x| pil_lanczos((x as f64 - center + 0.5) / filterscale))
                .collect();
            let total: f64 = ws.iter().sum();
            let k = ws
                .iter()
                .map(|w| {
                    let w = if total != 0.0 { w / total } else { *w };
                    let f = w * f64::from(1u32 << PRECISION_BITS);
                    (if f < 0.0 { f - 0.5 } else { f + 0.5 }) as i64
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

/// PIL's `ImagingResample` with Lanczos over `bbox` (left, top, right-edge width, height),
/// horizontal pass then vertical, 8-bit fixed point: bit-compatible with Pillow.
pub fn pil_resample(src: &Image, w: u32, h: u32, bbox: (f64, f64, f64, f64)) -> Image {
    let c = usize::from(src.channels);
    let (l, t, bw, bh) = bbox;
    let hc = pil_coeffs(src.width, l, l + bw, w);
    let vc = pil_coeffs(src.height, t, t + bh, h);
    let clip = |v: i64| (v >> PRECISION_BITS).clamp(0, 255) as u8;
    let half = 1i64 << (PRECISION_BITS - 1);
    // horizontal: src.height rows of w pixels
    let mut mid = vec![0u8; w as usize * src.height as usize * c];
    for y in 0..src.height as usize {
        let row = &src.data[y * src.stride()..][..src.stride()];
        for (x, (x0, k)) in hc.iter().enumerate() {
            for ch in 0..c {
                let mut ss = half;
                for (i, kv) in k.iter().enumerate() {
                    ss += i64::from(row[(x0 + i) * c + ch]) * kv;
                }
                mid[(y * w as usize + x) * c + ch] = clip(ss);
            }
        }
    }
    let mut out = Image::new(w, h, src.channels);
    let ms = w as usize * c;
    for (y, (y0, k)) in vc.iter().enumerate() {
        for x in 0..ms {
            let mut ss = half;
            for (i, kv) in k.iter().enumerate() {
                ss += i64::from(mid[(y0 + i) * ms + x]) * kv;
            }
            out.data[y * ms + x] = clip(ss);
        }
    }
    out
}

/// PIL's `Image.reduce((fx, fy))`: the mean of each `fx` × `fy` block (partial blocks at the
/// right and bottom average the pixels they have), with Pillow's fixed-point rounding.
pub fn reduce(src: &Image, fx: u32, fy: u32) -> Image {
    let (w, h) = (src.width.div_ceil(fx), src.height.div_ceil(fy));
    let c = usize::from(src.channels);
    let mut out = Image::new(w, h, src.channels);
    for oy in 0..h {
        let (y0, y1) = (oy * fy, ((oy + 1) * fy).min(src.height));
        for ox in 0..w {
            let (x0, x1) = (ox * fx, ((ox + 1) * fx).min(src.width));
            let mut acc = [0u64; 4];
            for y in y0..y1 {
                let row = &src.data[y as usize * src.stride()..];
                for x in x0..x1 {
                    for k in 0..c {
                        acc[k] += u64::from(row[x as usize * c + k]);
                    }
                }
            }
            let n = (x1 - x0) * (y1 - y0);
            let d = &mut out.data[(oy as usize * w as usize + ox as usize) * c..][..c];
            for k in 0..c {
                d[k] = pillow_mean(acc[k], n);
            }
        }
    }
    out
}

/// Resize RGB or RGBA `src` to `w` × `h` with Lanczos3.
pub fn lanczos(src: &Image, w: u32, h: u32) -> Result<Image> {
    resize_box(src, w, h, None)
}

/// Resize the box (left, top, width, height) of `src` to `w` × `h` with Lanczos3.
fn resize_box(src: &Image, w: u32, h: u32, crop: Option<(f64, f64, f64, f64)>) -> Result<Image> {
    use fast_image_resize as fr;
    if (src.width, src.height) == (w, h) && crop.is_none() {
        return Ok(src.clone());
    }
    let pt = if src.channels == 4 {
        fr::PixelType::U8x4
    } else {
        fr::PixelType::U8x3
    };
    let err = |e: &dyn std::fmt::Display| Error::invalid("size", format!("resize: {e}"));
    let s = fr::images::ImageRef::new(src.width, src.height, &src.data, pt).map_err(|e| err(&e))?;
    let mut dst = fr::images::Image::new(w.max(1), h.max(1), pt);
    let opts =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new()
        .resize(&s, &mut dst, &opts)
        .map_err(|e| err(&e))?;
    Ok(Image {
        width: w.max(1),
        height: h.max(1),
        channels: src.channels,
        data: dst.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_sizes_match_pil() {
        // PIL: Image.new("RGB", (2220, 2967)).thumbnail((512, 512)) -> (383, 512)
        assert_eq!(pil_thumbnail_size((2220, 2967), (512, 512)), (383, 512));
        assert_eq!(pil_thumbnail_size((300, 250), (100, 100)), (100, 83));
        assert_eq!(pil_thumbnail_size((10, 10), (100, 100)), (10, 10));
        assert_eq!(pil_thumbnail_size((509, 255), (255, 128)), (255, 128));
    }
}

#[cfg(test)]
mod pil_tests {
    use super::*;

    #[test]
    fn box_resize_matches_pil() {
        let data = vec![
            81, 75, 120, 187, 66, 125, 253, 64, 145, 70, 190, 132, 179, 185, 119, 203, 178, 139,
        ];
        let img = Image {
            width: 3,
            height: 2,
            channels: 3,
            data,
        };
        let out = pil_resample(&img, 1, 1, (0.0, 0.0, 87.0 / 43.0, 2.0));
        assert_eq!(out.data, vec![144, 128, 127]);
        let data = vec![
            228, 216, 223, 203, 189, 202, 215, 193, 207, 194, 166, 185, 220, 186, 205, 205, 178,
            195,
        ];
        let img = Image {
            width: 2,
            height: 3,
            channels: 3,
            data,
        };
        let out = pil_resample(&img, 1, 1, (0.0, 0.0, 2.0, 2967.0 / 1483.0));
        assert_eq!(out.data, vec![211, 190, 204]);
    }
}
