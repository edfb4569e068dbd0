//! Geometry of vectors: bounding boxes, centre, area and radius, as queries and exports use them.

use crate::model::VectorType;
use crate::vector::{Point, Vector};

/// An axis-aligned bounding box in level-0 pixels; `min` ≤ `max` on both axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    /// Left edge.
    pub min_x: f64,
    /// Top edge.
    pub min_y: f64,
    /// Right edge.
    pub max_x: f64,
    /// Bottom edge.
    pub max_y: f64,
}

impl BBox {
    /// A box from its edges; swaps them if given in the wrong order.
    pub fn new(x0: f64, y0: f64, x1: f64, y1: f64) -> Self {
        BBox {
            min_x: x0.min(x1),
            min_y: y0.min(y1),
            max_x: x0.max(x1),
            max_y: y0.max(y1),
        }
    }

    /// The smallest box holding all `points`; `None` when there are none.
    pub fn of_points(points: &[Point]) -> Option<BBox> {
        let first = points.first()?;
        let mut b = BBox::new(first.x, first.y, first.x, first.y);
        for p in &points[1..] {
            b.min_x = b.min_x.min(p.x);
            b.min_y = b.min_y.min(p.y);
            b.max_x = b.max_x.max(p.x);
            b.max_y = b.max_y.max(p.y);
        }
        Some(b)
    }

    /// Width.
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }

    /// Height.
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }

    /// The centre point.
    pub fn centre(&self) -> Point {
        Point::new(
            (self.min_x + self.max_x) / 2.0,
            (self.min_y + self.max_y) / 2.0,
        )
    }

    /// Whether the two boxes share at least one point (edges touching count). This is the
    /// predicate of viewport queries.
    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_x <= other.max_x
            && other.min_x <= self.max_x
            && self.min_y <= other.max_y
            && other.min_y <= self.max_y
    }
}

/// Measures of one vector, as EXACT's export placeholders (`%%cx`, `%%rad`, …) use them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measures {
    /// Bounding box.
    pub bbox: BBox,
    /// Centre of the bounding box.
    pub centre: Point,
    /// Half the larger side of the bounding box (a circle's radius for points).
    pub radius: f64,
    /// Enclosed area in px²: box area, ellipse area for points, polygon area (shoelace),
    /// zero for lines.
    pub area: f64,
}

impl Measures {
    /// Measures `vector` drawn as `vector_type`; `None` for vectors without nodes.
    pub fn of(vector: &Vector, vector_type: VectorType) -> Option<Measures> {
        let bbox = vector.bbox()?;
        let area = match vector_type {
            VectorType::BoundingBox | VectorType::FixedSizeBoundingBox => {
                bbox.width() * bbox.height()
            }
            VectorType::Point => std::f64::consts::PI * bbox.width() * bbox.height() / 4.0,
            VectorType::Polygon => polygon_area(&vector.points),
            VectorType::Line | VectorType::MultiLine | VectorType::Global => 0.0,
        };
        Some(Measures {
            bbox,
            centre: bbox.centre(),
            radius: bbox.width().max(bbox.height()) / 2.0,
            area,
        })
    }
}

/// Area of a simple polygon by the shoelace formula (absolute value; closing edge implied).
pub fn polygon_area(points: &[Point]) -> f64 {
    if points.len() < 3 {
        return 0.0;
    }
    let mut twice = 0.0;
    for (i, a) in points.iter().enumerate() {
        let b = points[(i + 1) % points.len()];
        twice += a.x * b.y - b.x * a.y;
    }
    twice.abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_of_each_shape() {
        let rect = Vector::rect(10.0, 20.0, 30.0, 60.0);
        let m = Measures::of(&rect, VectorType::BoundingBox).unwrap();
        assert_eq!(m.area, 800.0);
        assert_eq!(m.centre, Point::new(20.0, 40.0));
        assert_eq!(m.radius, 20.0);
        let tri = Vector::new(vec![
            Point::new(0.0, 0.0),
            Point::new(4.0, 0.0),
            Point::new(0.0, 3.0),
        ]);
        assert_eq!(Measures::of(&tri, VectorType::Polygon).unwrap().area, 6.0);
        let circle = Vector::rect(0.0, 0.0, 2.0, 2.0);
        let a = Measures::of(&circle, VectorType::Point).unwrap().area;
        assert!((a - std::f64::consts::PI).abs() < 1e-12);
        assert_eq!(Measures::of(&Vector::default(), VectorType::Global), None);
    }

    #[test]
    fn touching_boxes_intersect() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!(a.intersects(&BBox::new(10.0, 10.0, 20.0, 20.0)));
        assert!(!a.intersects(&BBox::new(10.5, 0.0, 20.0, 20.0)));
    }
}
