//! The spatial index of annotations: a hierarchical "loose" grid stored in an ordered index, so
//! every backend with ordered keys gets viewport queries without a separate R-tree file.
//!
//! An annotation is filed once, under the cell holding its bbox's top-left corner, at the
//! finest level whose cell is at least as large as the bbox. It then lies within a 2×2 block of
//! cells from that corner, so a viewport query at each level scans rows of cells from one cell
//! before the viewport to its end. Cells grow 4× per level: 2,048 px … 32 Mpx; anything larger goes
//! to one overflow cell, and annotations without geometry ("not in image", global labels) to a
//! bucket of their own. Key: `image | level | cell_y | cell_x`, then the record id.

use crate::geometry::BBox;
use crate::keys::{Key, prefix_end};
use crate::vector::MAX_COORD;

/// Cell size at level 0 is `1 << BASE_SHIFT` pixels.
pub const BASE_SHIFT: u32 = 11;
/// Number of grid levels; level `LEVELS` is the overflow cell.
pub const LEVELS: u8 = 8;
/// The level of annotations larger than the largest cell.
pub const OVERFLOW: u8 = LEVELS;
/// The bucket of annotations without geometry.
pub const NO_GEOMETRY: u8 = 0xFF;
/// Most rows of cells a query scans one range each per level; taller viewports scan their
/// rows as one range (reading whole rows, filtered by the page pre-filter).
const MAX_ROWS: i64 = 64;

/// Cell edge length at `level` in pixels.
pub fn cell_size(level: u8) -> f64 {
    (1u64 << (BASE_SHIFT + 2 * level as u32)) as f64
}

fn cell_index(coord: f64, level: u8) -> i32 {
    // Coordinates are validated to ±1e9, so the quotient always fits.
    (coord / cell_size(level)).floor() as i32
}

/// Where an annotation with this bbox (or none) is filed.
pub fn cell_key(image: u64, bbox: Option<&BBox>) -> Vec<u8> {
    let Some(b) = bbox else {
        return Key::new().u64(image).u8(NO_GEOMETRY).build();
    };
    let size = b.width().max(b.height());
    match (0..LEVELS).find(|&l| cell_size(l) >= size) {
        Some(level) => Key::new()
            .u64(image)
            .u8(level)
            .i32(cell_index(b.min_y, level))
            .i32(cell_index(b.min_x, level))
            .build(),
        None => Key::new().u64(image).u8(OVERFLOW).build(),
    }
}

/// All keys of one image: `(start, end)` of its range.
pub fn image_range(image: u64) -> (Vec<u8>, Vec<u8>) {
    let start = Key::new().u64(image).build();
    let end = prefix_end(&start);
    (start, end)
}

/// The key ranges to scan for annotations of `image` whose bbox may intersect `viewport`: one
/// range per row of cells per level, plus the overflow cell. Every candidate must still be
/// checked against the viewport exactly.
pub fn query_ranges(image: u64, viewport: &BBox) -> Vec<(Vec<u8>, Vec<u8>)> {
    // No annotation lies beyond ±MAX_COORD (vectors are validated), so neither need a query;
    // NaN sides (refused by the use cases) clamp to an empty rectangle rather than panic.
    let lim = MAX_COORD + cell_size(LEVELS - 1);
    let clamp = |c: f64| if c.is_nan() { 0.0 } else { c.clamp(-lim, lim) };
    let (min_x, min_y) = (clamp(viewport.min_x), clamp(viewport.min_y));
    let (max_x, max_y) = (clamp(viewport.max_x), clamp(viewport.max_y));
    let mut ranges = Vec::new();
    for level in 0..LEVELS {
        let x0 = cell_index(min_x, level).saturating_sub(1);
        let x1 = cell_index(max_x, level);
        let y0 = cell_index(min_y, level).saturating_sub(1);
        let y1 = cell_index(max_y, level);
        if y1 < y0 {
            continue;
        }
        if i64::from(y1) - i64::from(y0) >= MAX_ROWS {
            // A tall viewport: one range over whole rows instead of one per row, so the
            // number of ranges (and the work before reading anything) stays bounded.
            let start = Key::new().u64(image).u8(level).i32(y0).build();
            let end = Key::new()
                .u64(image)
                .u8(level)
                .i32(y1.saturating_add(1))
                .build();
            ranges.push((start, end));
            continue;
        }
        for y in y0..=y1 {
            let row = Key::new().u64(image).u8(level).i32(y);
            ranges.push((
                row.clone().i32(x0).build(),
                row.i32(x1.saturating_add(1)).build(),
            ));
        }
    }
    let overflow = Key::new().u64(image).u8(OVERFLOW).build();
    let end = prefix_end(&overflow);
    ranges.push((overflow, end));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn in_ranges(key: &[u8], ranges: &[(Vec<u8>, Vec<u8>)]) -> bool {
        ranges
            .iter()
            .any(|(s, e)| s.as_slice() <= key && key < e.as_slice())
    }

    proptest! {
        /// Every bbox that intersects the viewport is filed inside one of the scanned ranges.
        #[test]
        fn intersecting_boxes_are_found(
            x in -5000.0..300_000.0f64, y in -5000.0..300_000.0f64,
            w in 0.0..40_000.0f64, h in 0.0..40_000.0f64,
            vx in -5000.0..300_000.0f64, vy in -5000.0..300_000.0f64,
            vw in 0.0..50_000.0f64, vh in 0.0..50_000.0f64,
        ) {
            let b = BBox::new(x, y, x + w, y + h);
            let v = BBox::new(vx, vy, vx + vw, vy + vh);
            let key = cell_key(7, Some(&b));
            if b.intersects(&v) {
                prop_assert!(in_ranges(&key, &query_ranges(7, &v)));
            }
            // Other images are never scanned.
            prop_assert!(!in_ranges(&cell_key(8, Some(&b)), &query_ranges(7, &v)));
        }
    }

    #[test]
    fn absurd_viewports_cost_a_bounded_number_of_ranges() {
        let v = BBox::new(-1e18, -1e18, 1e18, 1e18);
        let r = query_ranges(1, &v);
        let bound = LEVELS as usize * MAX_ROWS as usize + 1;
        assert!(r.len() <= bound, "{} ranges", r.len());
        let inside = BBox::new(500_000.0, 700_000.0, 500_010.0, 700_010.0);
        assert!(in_ranges(&cell_key(1, Some(&inside)), &r));
        let nan = BBox {
            min_x: f64::NAN,
            min_y: 0.0,
            max_x: 1.0,
            max_y: f64::INFINITY,
        };
        assert!(query_ranges(1, &nan).len() <= bound);
    }

    #[test]
    fn huge_and_empty_geometry_have_their_buckets() {
        let huge = BBox::new(0.0, 0.0, 9.0e6, 10.0);
        let v = BBox::new(100.0, 100.0, 200.0, 200.0);
        assert!(in_ranges(&cell_key(1, Some(&huge)), &query_ranges(1, &v)));
        assert!(!in_ranges(&cell_key(1, None), &query_ranges(1, &v)));
        let (s, e) = image_range(1);
        assert!(in_ranges(&cell_key(1, None), &[(s, e)]));
    }
}
