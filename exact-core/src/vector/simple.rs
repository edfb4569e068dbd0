//! Polygons must be simple: a closed outline whose edges meet only where consecutive edges share
//! a node, enclosing some area. A self-intersecting outline (a bow-tie, a freehand stroke that
//! crossed itself) has no well-defined inside, so areas, point-in-polygon tests and exports to
//! GIS formats would disagree about it; it is refused when written, naming the crossing edges.
//!
//! The check is a sweep over the edges sorted by their left end: an edge is only compared with
//! the edges whose x-range overlaps its own, which keeps it near-linear for drawn outlines. The
//! number of edge pairs compared is bounded, so a hostile 100,000-node zigzag costs bounded time.

use super::Point;
use crate::{Error, Result};

/// Most edge pairs compared before the outline is refused as too complex to check.
const MAX_PAIRS: u64 = 20_000_000;

/// Checks that `points` (a polygon's nodes, closed implicitly) form a simple polygon with area.
pub(super) fn check_polygon(points: &[Point]) -> Result<()> {
    // Repeated nodes (a double click, a closing node equal to the first) are not edges.
    let mut nodes: Vec<(usize, Point)> = Vec::with_capacity(points.len());
    for (i, &p) in points.iter().enumerate() {
        if nodes.last().is_none_or(|&(_, q)| q != p) {
            nodes.push((i, p));
        }
    }
    while nodes.len() > 1 && nodes.first().map(|n| n.1) == nodes.last().map(|n| n.1) {
        nodes.pop();
    }
    let m = nodes.len();
    // Distinct nodes all on one line enclose nothing.
    let flat = m < 3
        || nodes
            .iter()
            .all(|&(_, p)| orient(nodes[0].1, nodes[1].1, p) == 0.0);
    if flat {
        return Err(Error::invalid(
            "vector",
            format!(
                "polygon: its {m} distinct node(s) enclose no area (a polygon needs 3 nodes not on one line)"
            ),
        ));
    }
    let name = |i: usize| format!("x{0},y{0}", nodes[i].0 + 1);
    let edge = |i: usize| (nodes[i].1, nodes[(i + 1) % m].1);
    // An edge that turns straight back over the previous one (a spike of no width).
    for i in 0..m {
        let (p, q) = edge(i);
        let r = nodes[(i + 2) % m].1;
        if orient(p, q, r) == 0.0 && (p.x - q.x) * (r.x - q.x) + (p.y - q.y) * (r.y - q.y) > 0.0 {
            return Err(Error::invalid(
                "vector",
                format!(
                    "polygon: the outline turns back on itself at node {}; a polygon must not intersect itself",
                    name((i + 1) % m)
                ),
            ));
        }
    }
    let mut order: Vec<(f64, f64, f64, f64, usize)> = (0..m)
        .map(|i| {
            let (a, b) = edge(i);
            (a.x.min(b.x), a.x.max(b.x), a.y.min(b.y), a.y.max(b.y), i)
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pairs = 0u64;
    for (k, &(_, max_x, min_y, max_y, i)) in order.iter().enumerate() {
        for &(min_x2, _, min_y2, max_y2, j) in &order[k + 1..] {
            if min_x2 > max_x {
                break;
            }
            pairs += 1;
            if pairs > MAX_PAIRS {
                return Err(Error::invalid(
                    "vector",
                    format!(
                        "polygon: {m} nodes in too tangled an outline to check for self-intersection"
                    ),
                ));
            }
            if min_y2 > max_y || max_y2 < min_y {
                continue;
            }
            let (lo, hi) = (i.min(j), i.max(j));
            if hi == lo + 1 || (lo == 0 && hi == m - 1) {
                continue;
            }
            let (a, b) = edge(lo);
            let (c, d) = edge(hi);
            if segments_meet(a, b, c, d) {
                return Err(Error::invalid(
                    "vector",
                    format!(
                        "polygon: edge {}→{} crosses edge {}→{}; a polygon must not intersect itself",
                        name(lo),
                        name((lo + 1) % m),
                        name(hi),
                        name((hi + 1) % m)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Twice the signed area of the triangle `a b c` (zero when they are on one line).
fn orient(a: Point, b: Point, c: Point) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

/// Whether `c` (on the line through `a b`) lies within their bounding box.
fn on_segment(a: Point, b: Point, c: Point) -> bool {
    c.x >= a.x.min(b.x) && c.x <= a.x.max(b.x) && c.y >= a.y.min(b.y) && c.y <= a.y.max(b.y)
}

/// Whether the closed segments `a b` and `c d` share any point (crossing, touching, overlapping).
fn segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    if ((o1 > 0.0 && o2 < 0.0) || (o1 < 0.0 && o2 > 0.0))
        && ((o3 > 0.0 && o4 < 0.0) || (o3 < 0.0 && o4 > 0.0))
    {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}
