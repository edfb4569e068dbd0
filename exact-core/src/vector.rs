//! Annotation vectors in EXACT's JSON form, `{"x1": .., "y1": .., …, "xn": .., "yn": ..}` with an
//! optional `"frame"`, and their validation per vector type (EXACT.md §2). `None` (JSON `null`)
//! means "not in image" for drawn types and an image-level label for global types.
//!
//! Coordinates are level-0 pixels. They are kept as `f64` so sub-pixel polygons from models
//! survive a round trip; integral values serialize as JSON integers, exactly as EXACT writes them.

use crate::geometry::BBox;
use crate::model::VectorType;
use crate::{Error, Result};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Most nodes one vector may have; bounds what a request can make us allocate.
pub const MAX_NODES: usize = 100_000;
/// Largest absolute coordinate accepted (pixels); keeps spatial-index arithmetic exact.
pub const MAX_COORD: f64 = 1.0e9;

/// One node of a vector, in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal position, growing to the right.
    pub x: f64,
    /// Vertical position, growing downwards.
    pub y: f64,
}

impl Point {
    /// A point at `(x, y)`.
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

/// A vector: nodes `x1,y1 … xn,yn` and an optional 1-based frame (z-stacks, time series).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vector {
    /// The nodes, in order.
    pub points: Vec<Point>,
    /// The frame the vector was drawn on, if the image has several.
    pub frame: Option<u32>,
}

impl Vector {
    /// A vector through `points`, on no particular frame.
    pub fn new(points: Vec<Point>) -> Self {
        Vector {
            points,
            frame: None,
        }
    }

    /// A box (or point ellipse) from its top-left and bottom-right corners.
    pub fn rect(x1: f64, y1: f64, x2: f64, y2: f64) -> Self {
        Vector::new(vec![Point::new(x1, y1), Point::new(x2, y2)])
    }

    /// The bounding box of the nodes, `None` when there are none (global labels).
    pub fn bbox(&self) -> Option<BBox> {
        BBox::of_points(&self.points)
    }

    /// Parses EXACT's JSON form; `null` gives `None`. Errors name the offending key.
    pub fn from_json(value: &Value) -> Result<Option<Vector>> {
        match value {
            Value::Null => Ok(None),
            Value::Object(map) => Vector::from_map(map).map(Some),
            other => Err(Error::invalid(
                "vector",
                format!("must be an object like {{\"x1\": 0, \"y1\": 0}} or null, not {other}"),
            )),
        }
    }

    fn from_map(map: &Map<String, Value>) -> Result<Vector> {
        if map.len() > 2 * MAX_NODES + 1 {
            return Err(Error::invalid(
                "vector",
                format!("more than {MAX_NODES} nodes"),
            ));
        }
        let mut xs: Vec<Option<f64>> = Vec::new();
        let mut ys: Vec<Option<f64>> = Vec::new();
        let mut frame = None;
        for (key, value) in map {
            if key == "frame" {
                frame = Some(parse_frame(value)?);
                continue;
            }
            let (axis, slot) = match key.split_at_checked(1) {
                Some(("x", n)) => (&mut xs, n),
                Some(("y", n)) => (&mut ys, n),
                _ => return Err(unknown_key(key)),
            };
            let index: usize = match slot.parse() {
                Ok(i) if (1..=MAX_NODES).contains(&i) && !slot.starts_with('0') => i,
                _ => return Err(unknown_key(key)),
            };
            if axis.len() < index {
                axis.resize(index, None);
            }
            axis[index - 1] = Some(parse_coord(key, value)?);
        }
        let n = xs.len().max(ys.len());
        let mut points = Vec::with_capacity(n);
        for i in 0..n {
            let x = xs.get(i).copied().flatten();
            let y = ys.get(i).copied().flatten();
            match (x, y) {
                (Some(x), Some(y)) => points.push(Point::new(x, y)),
                (None, _) => {
                    return Err(Error::invalid(
                        format!("vector.x{}", i + 1),
                        "missing: nodes must be numbered 1..n without gaps, each with x and y",
                    ));
                }
                (_, None) => {
                    return Err(Error::invalid(
                        format!("vector.y{}", i + 1),
                        "missing: nodes must be numbered 1..n without gaps, each with x and y",
                    ));
                }
            }
        }
        Ok(Vector { points, frame })
    }

    /// EXACT's JSON form of this vector.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks that the vector fits `vector_type` (and `node_count` for polygons and
    /// multi-lines, where `0` means any count). Errors name the field and the rule.
    pub fn validate(
        vector: Option<&Vector>,
        vector_type: VectorType,
        node_count: u32,
    ) -> Result<()> {
        let Some(v) = vector else {
            // `null`: "not in image" for drawn types, the image-level label for globals.
            return Ok(());
        };
        if v.frame == Some(0) {
            return Err(Error::invalid("vector.frame", "frames are numbered from 1"));
        }
        // Also built by callers other than `from_json` (the Python wheel): the stored codec
        // refuses more on read, so more must never be written.
        if v.points.len() > MAX_NODES {
            return Err(Error::invalid(
                "vector",
                format!("{} nodes, more than {MAX_NODES}", v.points.len()),
            ));
        }
        for (i, p) in v.points.iter().enumerate() {
            for (axis, c) in [("x", p.x), ("y", p.y)] {
                if !c.is_finite() || c.abs() > MAX_COORD {
                    return Err(Error::invalid(
                        format!("vector.{axis}{}", i + 1),
                        format!("{c} is not a finite coordinate within ±{MAX_COORD}"),
                    ));
                }
            }
        }
        let n = v.points.len();
        let need = |rule: &str| {
            Error::invalid(
                "vector",
                format!("{}: {rule}, got {n} nodes", vector_type.name()),
            )
        };
        match vector_type {
            VectorType::BoundingBox | VectorType::FixedSizeBoundingBox | VectorType::Point => {
                if n != 2 {
                    return Err(need(
                        "needs exactly 2 nodes (x1,y1 top-left; x2,y2 bottom-right)",
                    ));
                }
                let (a, b) = (v.points[0], v.points[1]);
                // EXACT's legacy rule: boxes are at least one pixel wide and high. A point is the
                // box of the drawn circle and may be degenerate.
                let min = if vector_type == VectorType::Point {
                    0.0
                } else {
                    1.0
                };
                if b.x - a.x < min {
                    return Err(Error::invalid(
                        "vector.x2",
                        format!("x2 ({}) must be at least x1 ({}) + {min}", b.x, a.x),
                    ));
                }
                if b.y - a.y < min {
                    return Err(Error::invalid(
                        "vector.y2",
                        format!("y2 ({}) must be at least y1 ({}) + {min}", b.y, a.y),
                    ));
                }
            }
            VectorType::Line => {
                if n != 2 {
                    return Err(need("needs exactly 2 nodes"));
                }
            }
            VectorType::MultiLine | VectorType::Polygon => {
                let least = if vector_type == VectorType::Polygon {
                    3
                } else {
                    2
                };
                if n < least {
                    return Err(need(&format!("needs at least {least} nodes")));
                }
                if node_count > 0 && n != node_count as usize {
                    return Err(need(&format!(
                        "the annotation type's node_count demands exactly {node_count} nodes"
                    )));
                }
                if vector_type == VectorType::Polygon {
                    simple::check_polygon(&v.points)?;
                }
            }
            VectorType::Global => {
                if n != 0 {
                    return Err(need(
                        "a global label carries no nodes, only an optional frame",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn unknown_key(key: &str) -> Error {
    Error::invalid(
        format!("vector.{key}"),
        "unknown key: expected x1, y1, …, xn, yn and optionally frame",
    )
}

fn parse_coord(key: &str, value: &Value) -> Result<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        // Legacy clients send numbers as strings; EXACT coerces them.
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed
        .filter(|c| c.is_finite())
        .ok_or_else(|| Error::invalid(format!("vector.{key}"), format!("{value} is not a number")))
}

fn parse_frame(value: &Value) -> Result<u32> {
    value
        .as_u64()
        .and_then(|f| u32::try_from(f).ok())
        .filter(|f| *f >= 1)
        .ok_or_else(|| Error::invalid("vector.frame", format!("{value} is not a frame number ≥ 1")))
}

/// A coordinate as EXACT stores it: integral ones as JSON integers.
struct Coord(f64);

impl Serialize for Coord {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let c = self.0;
        if c.fract() == 0.0 && c.abs() < 9.0e15 {
            s.serialize_i64(c as i64)
        } else {
            s.serialize_f64(c)
        }
    }
}

/// A node key (`x1`, `y12` …) written without allocating: a listing writes thousands.
struct NodeKey(char, usize);

impl Serialize for NodeKey {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // A char and at most 20 digits.
        let mut buf = [0u8; 24];
        let len = {
            let mut w: &mut [u8] = &mut buf;
            let _ = std::io::Write::write_fmt(&mut w, format_args!("{}{}", self.0, self.1));
            24 - w.len()
        };
        s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default())
    }
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map =
            s.serialize_map(Some(self.points.len() * 2 + self.frame.is_some() as usize))?;
        for (i, p) in self.points.iter().enumerate() {
            map.serialize_entry(&NodeKey('x', i + 1), &Coord(p.x))?;
            map.serialize_entry(&NodeKey('y', i + 1), &Coord(p.y))?;
        }
        if let Some(f) = self.frame {
            map.serialize_entry("frame", &f)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Vector::from_map(&map).map_err(serde::de::Error::custom)
    }
}

mod simple;
#[cfg(test)]
mod tests;
