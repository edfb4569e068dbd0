//! COCO run-length masks (pycocotools' compressed string form and the plain count list),
//! decoded to polygons by tracing the pixel boundaries of the mask: each ring follows pixel
//! edges, so the polygon covers exactly the mask's pixels.

use exact_core::vector::Point;
use std::collections::HashMap;

/// Largest mask decoded (pixels); bounds the memory a hostile file can make us take.
pub const MAX_MASK_PIXELS: u64 = 1 << 26;

/// Decodes pycocotools' compressed counts string.
pub fn decode_counts(s: &str) -> Result<Vec<u64>, String> {
    let b = s.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < b.len() {
        let mut x: i64 = 0;
        let mut k = 0;
        loop {
            let c = b[p]
                .checked_sub(48)
                .filter(|c| *c < 64)
                .ok_or_else(|| format!("byte {p} of the RLE string is not an RLE character"))?
                as i64;
            if k >= 12 {
                return Err("an RLE count is too long".into());
            }
            x |= (c & 0x1f) << (5 * k);
            let more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
            if p >= b.len() {
                return Err("the RLE string ends inside a count".into());
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        if x < 0 {
            return Err(format!("RLE count {} is negative", counts.len() + 1));
        }
        counts.push(x);
    }
    Ok(counts.into_iter().map(|c| c as u64).collect())
}

/// The mask (row-major, `h` rows of `w`) of column-major run counts starting with background.
pub fn mask(counts: &[u64], h: u64, w: u64) -> Result<Vec<bool>, String> {
    let n = h
        .checked_mul(w)
        .filter(|n| *n <= MAX_MASK_PIXELS)
        .ok_or_else(|| format!("a {w} × {h} mask is larger than {MAX_MASK_PIXELS} pixels"))?;
    let total: u64 = counts
        .iter()
        .try_fold(0u64, |a, c| a.checked_add(*c))
        .unwrap_or(u64::MAX);
    if total != n {
        return Err(format!(
            "the RLE counts add up to {total}, not {w} × {h} = {n}"
        ));
    }
    let mut m = vec![false; n as usize];
    let mut i = 0u64;
    let mut fg = false;
    for c in counts {
        if fg {
            for j in i..i + c {
                let (x, y) = (j / h, j % h);
                m[(y * w + x) as usize] = true;
            }
        }
        i += c;
        fg = !fg;
    }
    Ok(m)
}

/// Most boundary edges traced; bounds the memory a ragged (e.g. checkerboard) mask can take.
pub const MAX_EDGES: usize = 4_000_000;

/// Rings of a mask: outer rings (clockwise on screen, largest first) and holes.
pub type Rings = (Vec<Vec<Point>>, Vec<Vec<Point>>);

/// The boundary rings of a mask: outer rings (clockwise on screen) first, then holes.
pub fn rings(m: &[bool], h: u64, w: u64) -> Result<Rings, String> {
    let at = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && (x as u64) < w
            && (y as u64) < h
            && m[(y as u64 * w + x as u64) as usize]
    };
    let mut next: HashMap<(i64, i64), Vec<(i64, i64)>> = HashMap::new();
    let mut edges = 0usize;
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            if !at(x, y) {
                continue;
            }
            edges += 4;
            if edges > MAX_EDGES {
                return Err(format!(
                    "the mask's outline has more than {MAX_EDGES} edges"
                ));
            }
            if !at(x, y - 1) {
                next.entry((x, y)).or_default().push((x + 1, y));
            }
            if !at(x + 1, y) {
                next.entry((x + 1, y)).or_default().push((x + 1, y + 1));
            }
            if !at(x, y + 1) {
                next.entry((x + 1, y + 1)).or_default().push((x, y + 1));
            }
            if !at(x - 1, y) {
                next.entry((x, y + 1)).or_default().push((x, y));
            }
        }
    }
    let mut starts: Vec<(i64, i64)> = next.keys().copied().collect();
    starts.sort_unstable_by_key(|(x, y)| (*y, *x));
    let (mut outer, mut holes) = (Vec::new(), Vec::new());
    for s in starts {
        while next.get(&s).is_some_and(|v| !v.is_empty()) {
            let mut ring = vec![s];
            let mut cur = s;
            while let Some(n) = next.get_mut(&cur).and_then(Vec::pop) {
                if n == s {
                    break;
                }
                ring.push(n);
                cur = n;
            }
            let ring = simplify(&ring);
            if ring.len() < 3 {
                continue;
            }
            let area2: i64 = (0..ring.len())
                .map(|i| {
                    let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
                    a.0 * b.1 - b.0 * a.1
                })
                .sum();
            let pts: Vec<Point> = ring
                .iter()
                .map(|(x, y)| Point::new(*x as f64, *y as f64))
                .collect();
            if area2 > 0 {
                outer.push(pts)
            } else {
                holes.push(pts)
            }
        }
    }
    outer.sort_by_key(|r| std::cmp::Reverse(r.len()));
    Ok((outer, holes))
}

fn simplify(r: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let n = r.len();
    (0..n)
        .filter(|&i| {
            let (a, b, c) = (r[(i + n - 1) % n], r[i], r[(i + 1) % n]);
            (b.0 - a.0) * (c.1 - b.1) != (b.1 - a.1) * (c.0 - b.0)
        })
        .map(|i| r[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_mask_gives_its_outline() {
        // 4 × 4 image, pixels (1..3, 1..3) set; column-major runs: 5 bg, 2 fg, 2 bg, 2 fg, 5 bg.
        let m = mask(&[5, 2, 2, 2, 5], 4, 4).unwrap();
        let (outer, holes) = rings(&m, 4, 4).unwrap();
        assert!(holes.is_empty());
        assert_eq!(outer.len(), 1);
        let mut r: Vec<(f64, f64)> = outer[0].iter().map(|p| (p.x, p.y)).collect();
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(r, vec![(1.0, 1.0), (1.0, 3.0), (3.0, 1.0), (3.0, 3.0)]);
    }

    #[test]
    fn compressed_counts_decode() {
        // pycocotools encodes [5, 2, 2, 2, 5] as "52203".
        assert_eq!(decode_counts("52203").unwrap(), vec![5, 2, 2, 2, 5]);
        assert!(decode_counts("5\u{7f}").is_err());
        assert!(mask(&[1, 2], 100_000, 100_000).is_err());
    }
}
