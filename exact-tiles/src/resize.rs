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

/// Resize RGB or RGBA `src` to `w` × `h` with Lanczos3.
pub fn lanczos(src: &Image, w: u32, h: u32) -> Result<Image> {
    use fast_image_resize as fr;
    if (src.width, src.height) == (w, h) {
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
