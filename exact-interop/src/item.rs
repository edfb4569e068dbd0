//! [`Item`], one annotation as files carry it: names instead of ids, the geometry as the file
//! gives it ([`Shape`]), and where in the file it came from (for error messages).

use exact_core::model::VectorType;
use exact_core::vector::{Point, Vector};
use exact_core::{Error, Result, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Where a reader can start again so that it reads one item and everything after it. The
/// readers that can resume (GeoJSON, SlideRunner) put it on each item they read; an import job
/// records the position of the first item it has not yet written with each written batch, and
/// after a restart reads on from there instead of from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub enum ResumeAt {
    /// The GeoJSON feature whose value starts after byte `offset` of the file (just after the
    /// `[` or `,` before it, white space not skipped); `feature` features come before it.
    /// `line` is the line at `offset` and `line_start` where that line starts (for messages).
    GeoJson {
        /// Byte offset in the file.
        offset: u64,
        /// Features before it.
        feature: u64,
        /// Line (1-based) at `offset`.
        line: u64,
        /// Byte offset where that line starts.
        line_start: u64,
    },
    /// The SlideRunner annotation `uid` of the slide `slide` (slides and their annotations
    /// are read in uid order); `row` annotations come before it.
    SlideRunner {
        /// The slide's uid.
        slide: i64,
        /// The annotation's uid.
        uid: i64,
        /// Annotation rows before it.
        row: u64,
    },
}

impl ResumeAt {
    /// The file offset to seek the input to before reading on (GeoJSON); `None` = read the
    /// input from its start (SlideRunner: a database is opened whole, then queried from the row).
    pub fn seek_to(&self) -> Option<u64> {
        match self {
            ResumeAt::GeoJson { offset, .. } => Some(*offset),
            ResumeAt::SlideRunner { .. } => None,
        }
    }

    /// Items (features, rows) before this position.
    pub fn items_before(&self) -> u64 {
        match self {
            ResumeAt::GeoJson { feature, .. } => *feature,
            ResumeAt::SlideRunner { row, .. } => *row,
        }
    }

    /// The position for people: `feature 12 (byte 4096)`, `row 7 (annotation uid 9 of slide 2)`.
    pub fn describe(&self) -> String {
        match self {
            ResumeAt::GeoJson {
                offset, feature, ..
            } => format!("feature {} (byte {offset})", feature + 1),
            ResumeAt::SlideRunner { slide, uid, row } => {
                format!(
                    "row {} (annotation uid {uid} of slide uid {slide})",
                    row + 1
                )
            }
        }
    }
}

/// The geometry of an item as the file states it, before it is fitted to a type.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// No geometry: "not in image", or an image-level (global) label.
    None,
    /// EXACT's own vector (CSV, label lines), already in the type's form.
    Exact(Vector),
    /// A point; `size` is the width and height of the drawn circle when the file says.
    Point {
        /// The centre.
        at: Point,
        /// Width and height of the circle.
        size: Option<(f64, f64)>,
    },
    /// An open line through the nodes.
    Line(Vec<Point>),
    /// A closed ring (without the repeated first node).
    Polygon(Vec<Point>),
}

/// One annotation read from or written to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Where it is in the file (`feature 3`, `row 12`, `line 7`), for messages.
    pub place: String,
    /// The image's name (file name); `None` = the import's default image.
    pub image: Option<String>,
    /// The annotation type's name.
    pub type_name: String,
    /// The vector type the file asks for (used when the type is created).
    pub vector_type: Option<VectorType>,
    /// The type's colour `#RRGGBB`, if the file gives one.
    pub color: Option<String>,
    /// The geometry.
    pub shape: Shape,
    /// The frame (1-based) of multi-frame images.
    pub frame: Option<u32>,
    /// The annotation's UUID.
    pub uuid: Option<Uuid>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Flag.
    pub blurred: bool,
    /// Flag.
    pub concealed: bool,
    /// Remark.
    pub description: String,
    /// Free JSON.
    pub meta_data: Value,
    /// Creator's user name.
    pub user: Option<String>,
    /// Creation time.
    pub time: Option<Timestamp>,
    /// Last change.
    pub last_edit_time: Option<Timestamp>,
    /// Where a reader can start again to read this item and all after it (see [`ResumeAt`]).
    pub resume: Option<ResumeAt>,
}

impl Item {
    /// An item at `place` of type `type_name` with no geometry and no flags.
    pub fn new(place: impl Into<String>, type_name: impl Into<String>) -> Self {
        Item {
            place: place.into(),
            image: None,
            type_name: type_name.into(),
            vector_type: None,
            color: None,
            shape: Shape::None,
            frame: None,
            uuid: None,
            deleted: false,
            blurred: false,
            concealed: false,
            description: String::new(),
            meta_data: Value::Null,
            user: None,
            time: None,
            last_edit_time: None,
            resume: None,
        }
    }

    /// The vector type a new type for this item gets: the file's word, else the shape's.
    pub fn natural_type(&self) -> VectorType {
        if let Some(t) = self.vector_type {
            return t;
        }
        match &self.shape {
            Shape::None => VectorType::Global,
            Shape::Exact(v) if v.points.len() == 2 => VectorType::BoundingBox,
            Shape::Exact(_) => VectorType::Polygon,
            Shape::Point { .. } => VectorType::Point,
            Shape::Line(p) if p.len() == 2 => VectorType::Line,
            Shape::Line(_) => VectorType::MultiLine,
            Shape::Polygon(_) => VectorType::Polygon,
        }
    }

    /// The vector for a type drawn as `t` (default point size `default`), or why the shape
    /// cannot be one. Boxes accept only axis-aligned rectangles (what box exports write).
    pub fn fit(&self, t: VectorType, default: (f64, f64)) -> Result<Option<Vector>> {
        let bad = |what: &str| {
            Error::invalid(
                self.place.clone(),
                format!(
                    "{what} cannot be an annotation of type {:?}, which is drawn as a {}",
                    self.type_name,
                    t.name()
                ),
            )
        };
        let mut v = match (&self.shape, t) {
            (Shape::None, _) => return Ok(self.frame.map(Vector::new_framed)),
            (Shape::Exact(v), _) => v.clone(),
            (Shape::Point { at, size }, VectorType::Point | VectorType::BoundingBox) => {
                let (w, h) = size.unwrap_or(default);
                Vector::rect(
                    at.x - w / 2.0,
                    at.y - h / 2.0,
                    at.x + w / 2.0,
                    at.y + h / 2.0,
                )
            }
            (Shape::Point { .. }, _) => return Err(bad("a point")),
            (Shape::Line(p), VectorType::Line) if p.len() == 2 => Vector::new(p.clone()),
            (Shape::Line(p), VectorType::MultiLine) => Vector::new(p.clone()),
            (Shape::Line(_), _) => return Err(bad("a line")),
            (Shape::Polygon(p), VectorType::Polygon) => Vector::new(p.clone()),
            // Formats without lines (SlideRunner) carry them as polygons.
            (Shape::Polygon(p), VectorType::MultiLine) => Vector::new(p.clone()),
            (
                Shape::Polygon(p),
                VectorType::BoundingBox | VectorType::FixedSizeBoundingBox | VectorType::Point,
            ) => match rectangle(p) {
                Some(v) => v,
                None => return Err(bad("a polygon that is not an axis-aligned rectangle")),
            },
            (Shape::Polygon(_), _) => return Err(bad("a polygon")),
        };
        v.frame = self.frame.or(v.frame);
        Vector::validate(Some(&v), t, 0).map_err(|e| match e {
            Error::InvalidInput { field, reason } => {
                Error::invalid(self.place.clone(), format!("{field}: {reason}"))
            }
            other => other,
        })?;
        Ok(Some(v))
    }
}

trait Framed {
    fn new_framed(frame: u32) -> Vector;
}

impl Framed for Vector {
    fn new_framed(frame: u32) -> Vector {
        Vector {
            points: Vec::new(),
            frame: Some(frame),
        }
    }
}

/// The box of a ring that is an axis-aligned rectangle (4 corners, in any order/direction).
fn rectangle(p: &[Point]) -> Option<Vector> {
    if p.len() != 4 {
        return None;
    }
    let b = exact_core::BBox::of_points(p)?;
    let on_corner =
        |q: &Point| (q.x == b.min_x || q.x == b.max_x) && (q.y == b.min_y || q.y == b.max_y);
    let distinct = {
        let mut c: Vec<(u64, u64)> = p.iter().map(|q| (q.x.to_bits(), q.y.to_bits())).collect();
        c.sort_unstable();
        c.dedup();
        c.len() == 4
    };
    (p.iter().all(on_corner) && distinct).then(|| Vector::rect(b.min_x, b.min_y, b.max_x, b.max_y))
}

/// The short name of a vector type in files (`box`, `point`, `line`, `multiline`, `polygon`,
/// `fixed_box`, `global`).
pub fn vector_type_name(t: VectorType) -> &'static str {
    match t {
        VectorType::BoundingBox => "box",
        VectorType::Point => "point",
        VectorType::Line => "line",
        VectorType::MultiLine => "multiline",
        VectorType::Polygon => "polygon",
        VectorType::FixedSizeBoundingBox => "fixed_box",
        VectorType::Global => "global",
    }
}

/// Parses [`vector_type_name`]'s names, EXACT's codes (`1`…`7`) and QuPath-ish synonyms.
pub fn vector_type_from_name(name: &str) -> Option<VectorType> {
    let n = name.trim().to_ascii_lowercase();
    if let Ok(code) = n.parse::<i64>() {
        return VectorType::from_code(code);
    }
    Some(match n.as_str() {
        "box" | "bounding box" | "bbox" | "rectangle" => VectorType::BoundingBox,
        "point" | "ellipse" | "circle" => VectorType::Point,
        "line" => VectorType::Line,
        "multiline" | "multi line" | "polyline" => VectorType::MultiLine,
        "polygon" => VectorType::Polygon,
        "fixed_box" | "fixed size bounding box" => VectorType::FixedSizeBoundingBox,
        "global" => VectorType::Global,
        _ => return None,
    })
}

/// The shape an exported annotation of type `t` has in a geometry format.
pub(crate) fn shape_of(v: Option<&Vector>, t: VectorType) -> Shape {
    let Some(v) = v else { return Shape::None };
    let p = &v.points;
    match t {
        _ if p.is_empty() => Shape::None,
        VectorType::Point if p.len() == 2 => Shape::Point {
            at: Point::new((p[0].x + p[1].x) / 2.0, (p[0].y + p[1].y) / 2.0),
            size: Some((p[1].x - p[0].x, p[1].y - p[0].y)),
        },
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox if p.len() == 2 => {
            let (a, b) = (p[0], p[1]);
            Shape::Polygon(vec![
                Point::new(a.x, a.y),
                Point::new(b.x, a.y),
                Point::new(b.x, b.y),
                Point::new(a.x, b.y),
            ])
        }
        VectorType::Line | VectorType::MultiLine => Shape::Line(p.clone()),
        _ if p.len() >= 3 => Shape::Polygon(p.clone()),
        _ => Shape::Line(p.clone()),
    }
}

/// Writes `t` as [`Timestamp`]'s `Display` does (`2026-01-02T03:04:05.000000`) without
/// chrono's format machinery, which cost more than the rest of a CSV or GeoJSON row; years
/// outside 0–9999 go through `Display`.
pub(crate) fn write_time(b: &mut Vec<u8>, t: Timestamp) -> std::io::Result<()> {
    use std::io::Write;
    let micros = t.0.rem_euclid(1_000_000);
    let secs = t.0.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(0..=9999).contains(&y) {
        return write!(b, "{t}");
    }
    // Digits pushed by hand: `write!` with padded fields was a fifth of a CSV export.
    let at = b.len();
    b.extend_from_slice(b"0000-00-00T00:00:00.000000");
    let out = &mut b[at..];
    for (v, end, width) in [
        (y, 4, 4),
        (m, 7, 2),
        (d, 10, 2),
        (sod / 3600, 13, 2),
        (sod % 3600 / 60, 16, 2),
        (sod % 60, 19, 2),
        (micros, 26, 6),
    ] {
        let mut v = v as u64;
        for k in (end - width..end).rev() {
            out[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    Ok(())
}

/// Writes `v` in decimal, as `Display` does, without the formatting machinery.
pub(crate) fn write_int(b: &mut Vec<u8>, v: i64) {
    if v < 0 {
        b.push(b'-');
    }
    let mut u = v.unsigned_abs();
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    b.extend_from_slice(&d[i..]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn write_int_matches_display() {
        for v in [0i64, 7, -7, 10, 99, -100, 123_456_789, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            super::write_int(&mut b, v);
            assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
        }
    }

    #[test]
    fn write_time_matches_display() {
        for t in [
            0i64,
            -1,
            1_767_323_045_000_000,
            951_782_400_123_456,
            -62_135_596_800_000_000,
            253_402_300_799_999_999,
            -86_400_000_001,
        ] {
            let t = exact_core::Timestamp(t);
            let mut b = Vec::new();
            super::write_time(&mut b, t).unwrap();
            assert_eq!(String::from_utf8(b).unwrap(), t.to_string());
        }
    }
}
