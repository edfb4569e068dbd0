//! A tiny RGBA canvas for overview tiles: source-over blending of 1-px lines, rectangles,
//! dots and per-pixel density. Hand-written because a tile needs only these few primitives and
//! every pixel write is bounds-checked (coordinates come from annotations, i.e. from users).

use exact_tiles::Image;

/// An RGBA colour with straight alpha.
pub type Rgba = [u8; 4];

/// `#RRGGBB` (or `RRGGBB`, `#RGB`) to a colour; anything else is a neutral grey.
pub fn parse_color(code: &str) -> [u8; 3] {
    let h = code.trim().trim_start_matches('#');
    let hex = |s: &str| u8::from_str_radix(s, 16).ok();
    match h.len() {
        6 => match (hex(&h[0..2]), hex(&h[2..4]), hex(&h[4..6])) {
            (Some(r), Some(g), Some(b)) => [r, g, b],
            _ => [128, 128, 128],
        },
        3 if h.is_ascii() => {
            let d = |i: usize| hex(&h[i..i + 1]).map(|v| v * 17);
            match (d(0), d(1), d(2)) {
                (Some(r), Some(g), Some(b)) => [r, g, b],
                _ => [128, 128, 128],
            }
        }
        _ => [128, 128, 128],
    }
}

/// A transparent RGBA canvas.
pub struct Canvas {
    /// The pixels (RGBA, straight alpha).
    pub img: Image,
    /// Whether anything was drawn.
    pub touched: bool,
}

impl Canvas {
    /// A transparent `w × h` canvas.
    pub fn new(w: u32, h: u32) -> Canvas {
        Canvas {
            img: Image::new(w, h, 4),
            touched: false,
        }
    }

    /// Blends `c` over the pixel at `(x, y)`; outside the canvas nothing happens.
    pub fn blend(&mut self, x: i64, y: i64, c: Rgba) {
        if x < 0 || y < 0 || x >= i64::from(self.img.width) || y >= i64::from(self.img.height) {
            return;
        }
        let i = (y as usize * self.img.width as usize + x as usize) * 4;
        let px = &mut self.img.data[i..i + 4];
        let sa = u32::from(c[3]);
        let da = u32::from(px[3]);
        // out_a = sa + da (1 - sa), in 0..=255 fixed point.
        let oa = sa + da * (255 - sa) / 255;
        if oa == 0 {
            return;
        }
        for k in 0..3 {
            let s = u32::from(c[k]) * sa;
            let d = u32::from(px[k]) * da * (255 - sa) / 255;
            px[k] = ((s + d) / oa).min(255) as u8;
        }
        px[3] = oa.min(255) as u8;
        self.touched = true;
    }

    /// A 1-px line from `a` to `b` (tile pixels), clipped to the canvas.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), c: Rgba) {
        let (w, h) = (f64::from(self.img.width), f64::from(self.img.height));
        // Lines entirely off one side are skipped; long ones are walked only over the canvas.
        if (a.0 < -1.0 && b.0 < -1.0)
            || (a.1 < -1.0 && b.1 < -1.0)
            || (a.0 > w && b.0 > w)
            || (a.1 > h && b.1 > h)
        {
            return;
        }
        let Some((a, b)) = clip(a, b, -1.0, -1.0, w + 1.0, h + 1.0) else {
            return;
        };
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let steps = dx.abs().max(dy.abs()).ceil().clamp(1.0, 8192.0);
        let n = steps as i64;
        for i in 0..=n {
            let t = i as f64 / steps;
            self.blend(
                (a.0 + dx * t).floor() as i64,
                (a.1 + dy * t).floor() as i64,
                c,
            );
        }
    }

    /// A closed or open polyline.
    pub fn polyline(&mut self, pts: &[(f64, f64)], closed: bool, c: Rgba) {
        for w in pts.windows(2) {
            self.line(w[0], w[1], c);
        }
        if closed
            && pts.len() > 2
            && let (Some(first), Some(last)) = (pts.first(), pts.last())
        {
            self.line(*last, *first, c);
        }
    }

    /// A filled rectangle `[x0, x1) × [y0, y1)` in tile pixels, at least one pixel.
    pub fn fill(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: Rgba) {
        let (w, h) = (i64::from(self.img.width), i64::from(self.img.height));
        let xa = (x0.floor() as i64).clamp(0, w);
        let ya = (y0.floor() as i64).clamp(0, h);
        let xb = (x1.ceil() as i64).clamp(xa + 1, w.max(xa + 1)).min(w);
        let yb = (y1.ceil() as i64).clamp(ya + 1, h.max(ya + 1)).min(h);
        for y in ya..yb {
            for x in xa..xb {
                self.blend(x, y, c);
            }
        }
    }
}

/// Liang–Barsky clipping of segment `a`–`b` to a rectangle.
fn clip(
    a: (f64, f64),
    b: (f64, f64),
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_or_fall_back_to_grey() {
        assert_eq!(parse_color("#FF0000"), [255, 0, 0]);
        assert_eq!(parse_color("00ff7f"), [0, 255, 127]);
        assert_eq!(parse_color("#0f0"), [0, 255, 0]);
        assert_eq!(parse_color("rot"), [128, 128, 128]);
        assert_eq!(parse_color("#ééé"), [128, 128, 128]);
    }

    #[test]
    fn drawing_stays_inside_the_canvas() {
        let mut c = Canvas::new(8, 8);
        c.line((-1e9, -1e9), (1e9, 1e9), [255, 0, 0, 255]);
        c.fill(-5.0, -5.0, 1e12, 2.0, [0, 0, 255, 128]);
        c.polyline(
            &[(0.0, 0.0), (7.0, 0.0), (7.0, 7.0)],
            true,
            [0, 255, 0, 255],
        );
        assert!(c.touched);
        assert_eq!(c.img.data[3], 255);
        let far = (7 * 8 + 1) * 4; // pixel (1, 7): untouched by every primitive
        assert_eq!(c.img.data[far + 3], 0);
    }
}
