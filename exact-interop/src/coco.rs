//! COCO object-detection JSON. Categories are annotation types, images are matched by
//! `file_name`, annotations carry `bbox` `[x, y, w, h]` and a polygon `segmentation`; RLE masks
//! (compressed or not) are decoded to polygons tracing their pixel boundaries. A COCO file
//! lists images and categories beside the annotations in any order, so it is read whole
//! (typed, not as a JSON tree); exports are streamed.
//!
//! Exports write boxes and points as their rectangle, polygons and lines as their nodes, and
//! what COCO has no field for in an `exact` object on each annotation (UUID, vector type,
//! flags, user, times, meta_data), which this reader restores.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape, vector_type_from_name, vector_type_name};
use crate::rle;
use exact_core::model::VectorType;
use exact_core::vector::Point;
use exact_core::{AnnotationTypeId, Error, Result};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    images: Vec<CocoImage>,
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default)]
    annotations: Vec<CocoAnnotation>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: i64,
    file_name: String,
}

#[derive(Deserialize)]
struct Category {
    id: i64,
    name: String,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    exact_vector_type: Option<String>,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    #[serde(default)]
    id: Option<Value>,
    image_id: i64,
    category_id: i64,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    segmentation: Option<Value>,
    #[serde(default)]
    exact: Option<Map<String, Value>>,
}

/// Reads a COCO file and gives its annotations to `f`, in file order.
pub fn read(mut r: impl Read, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(&mut r));
    let doc = Doc::deserialize(&mut de).map_err(|e| {
        let msg = e.to_string();
        Error::invalid(
            format!("COCO file (line {}, column {})", e.line(), e.column()),
            msg.split(" at line ").next().unwrap_or(&msg).to_owned(),
        )
    })?;
    let images: HashMap<i64, &str> = doc
        .images
        .iter()
        .map(|i| (i.id, i.file_name.as_str()))
        .collect();
    let cats: HashMap<i64, &Category> = doc.categories.iter().map(|c| (c.id, c)).collect();
    for (n, a) in doc.annotations.iter().enumerate() {
        let place = match &a.id {
            Some(id) => format!("annotation {} (id {id})", n + 1),
            None => format!("annotation {}", n + 1),
        };
        let bad = |reason: String| Error::invalid(place.clone(), reason);
        let cat = cats.get(&a.category_id).ok_or_else(|| {
            bad(format!(
                "category_id {} is not among the categories",
                a.category_id
            ))
        })?;
        let file = images
            .get(&a.image_id)
            .ok_or_else(|| bad(format!("image_id {} is not among the images", a.image_id)))?;
        let mut item = Item::new(place.clone(), cat.name.as_str());
        item.image = Some((*file).to_owned());
        item.color = cat.color.clone();
        item.vector_type = cat
            .exact_vector_type
            .as_deref()
            .and_then(vector_type_from_name);
        let mut size = None;
        let mut has_geometry = true;
        if let Some(e) = &a.exact {
            crate::geojson::read_exact_block(&mut item, e, &mut size)?;
            has_geometry = e
                .get("has_geometry")
                .and_then(Value::as_bool)
                .unwrap_or(true);
        }
        let image_name = item.image.clone();
        let mut parts = if has_geometry {
            shapes(a, item.vector_type).map_err(bad)?
        } else {
            vec![(Shape::None, Vec::new())]
        };
        // Our exports name the image in `exact`; the COCO image wins when they differ.
        item.image = Some((*file).to_owned()).or(image_name);
        let total = parts.len();
        for (k, (shape, holes)) in parts.drain(..).enumerate() {
            let mut it = item.clone();
            it.shape = shape;
            if total > 1 {
                it.place = format!("{place} part {}", k + 1);
                if k > 0 {
                    it.uuid = None;
                }
                meta(&mut it).insert("part".into(), json!([k + 1, total]));
            }
            if !holes.is_empty() {
                let rings: Vec<Value> = holes.iter().map(|h| ring_pairs(h)).collect();
                meta(&mut it).insert("holes".into(), Value::Array(rings));
            }
            f(it)?;
        }
    }
    Ok(())
}

fn meta(it: &mut Item) -> &mut Map<String, Value> {
    if !it.meta_data.is_object() {
        let old = it.meta_data.take();
        let mut m = Map::new();
        if !old.is_null() {
            m.insert("value".into(), old);
        }
        it.meta_data = Value::Object(m);
    }
    it.meta_data.as_object_mut().expect("object")
}

fn ring_pairs(p: &[Point]) -> Value {
    Value::Array(p.iter().map(|q| json!([q.x, q.y])).collect())
}

type Part = (Shape, Vec<Vec<Point>>);

fn bbox_rect(b: &[f64]) -> std::result::Result<Vec<Point>, String> {
    match b {
        [x, y, w, h]
            if [*x, *y, *w, *h].iter().all(|c| c.is_finite()) && *w >= 0.0 && *h >= 0.0 =>
        {
            Ok(vec![
                Point::new(*x, *y),
                Point::new(x + w, *y),
                Point::new(x + w, y + h),
                Point::new(*x, y + h),
            ])
        }
        _ => Err(format!("bbox {b:?} is not [x, y, width, height]")),
    }
}

fn shapes(a: &CocoAnnotation, hint: Option<VectorType>) -> std::result::Result<Vec<Part>, String> {
    let bbox = a.bbox.as_deref().map(bbox_rect).transpose()?;
    match hint {
        Some(VectorType::Point) => {
            let b = bbox.ok_or("a point needs its bbox")?;
            let (w, h) = (b[2].x - b[0].x, b[2].y - b[0].y);
            let at = Point::new(b[0].x + w / 2.0, b[0].y + h / 2.0);
            return Ok(vec![(
                Shape::Point {
                    at,
                    size: Some((w, h)),
                },
                Vec::new(),
            )]);
        }
        Some(VectorType::BoundingBox | VectorType::FixedSizeBoundingBox) => {
            return Ok(vec![(
                Shape::Polygon(bbox.ok_or("a box needs its bbox")?),
                Vec::new(),
            )]);
        }
        _ => {}
    }
    let line = matches!(hint, Some(VectorType::Line | VectorType::MultiLine));
    match &a.segmentation {
        Some(Value::Array(polys)) if !polys.is_empty() => polys
            .iter()
            .map(|p| {
                let flat = p
                    .as_array()
                    .ok_or("segmentation polygons are lists of numbers")?;
                if flat.len() % 2 != 0 || flat.len() > 2 * exact_core::vector::MAX_NODES {
                    return Err(format!("a segmentation polygon of {} numbers", flat.len()));
                }
                let mut pts = Vec::with_capacity(flat.len() / 2);
                for xy in flat.chunks(2) {
                    match (xy[0].as_f64(), xy[1].as_f64()) {
                        (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                            pts.push(Point::new(x, y))
                        }
                        _ => return Err(format!("[{}, {}] is not a point", xy[0], xy[1])),
                    }
                }
                Ok((
                    if line {
                        Shape::Line(pts)
                    } else {
                        Shape::Polygon(pts)
                    },
                    Vec::new(),
                ))
            })
            .collect(),
        Some(Value::Object(rle_obj)) => {
            let size = rle_obj
                .get("size")
                .and_then(Value::as_array)
                .and_then(|s| Some((s.first()?.as_u64()?, s.get(1)?.as_u64()?)))
                .ok_or("an RLE segmentation needs size [height, width]")?;
            let counts = match rle_obj.get("counts") {
                Some(Value::String(s)) => rle::decode_counts(s)?,
                Some(Value::Array(c)) => c
                    .iter()
                    .map(|v| {
                        v.as_u64()
                            .ok_or_else(|| format!("RLE count {v} is not a count"))
                    })
                    .collect::<std::result::Result<_, _>>()?,
                _ => return Err("an RLE segmentation needs counts".into()),
            };
            let (h, w) = size;
            let m = rle::mask(&counts, h, w)?;
            let (outer, holes) = rle::rings(&m, h, w)?;
            if outer.is_empty() {
                return Err("the RLE mask is empty".into());
            }
            let mut parts: Vec<Part> = outer
                .into_iter()
                .map(|r| (Shape::Polygon(r), Vec::new()))
                .collect();
            parts[0].1 = holes;
            Ok(parts)
        }
        _ => match bbox {
            Some(b) => Ok(vec![(Shape::Polygon(b), Vec::new())]),
            None => Err("neither segmentation nor bbox".into()),
        },
    }
}

/// Streams a COCO document: images first, annotations as they come, categories last (an
/// annotation may use a type no longer offered on the set).
pub(crate) struct CocoSink<W: Write> {
    out: std::io::BufWriter<W>,
    first: bool,
    categories: BTreeMap<AnnotationTypeId, Value>,
}

impl<W: Write> CocoSink<W> {
    pub(crate) fn new(out: W) -> Self {
        CocoSink {
            out: std::io::BufWriter::with_capacity(1 << 16, out),
            first: true,
            categories: BTreeMap::new(),
        }
    }
}

fn num(c: f64) -> Value {
    if c.fract() == 0.0 && c.abs() < 9.0e15 {
        Value::from(c as i64)
    } else {
        Value::from(c)
    }
}

impl<W: Write> Sink for CocoSink<W> {
    fn begin(&mut self, head: &Head) -> std::io::Result<()> {
        let images: Vec<Value> = head
            .images
            .iter()
            .map(|i| json!({"id": i.id.0, "file_name": i.name, "width": i.width, "height": i.height}))
            .collect();
        for t in head.types {
            self.categories.insert(t.id, category(t));
        }
        let info = json!({
            "description": format!("exact-rs export of image set {:?}", head.set.name),
            "coordinate_frame": head.frame_note(),
        });
        write!(self.out, "{{\"info\":{info},\"images\":")?;
        serde_json::to_writer(&mut self.out, &images)?;
        self.out.write_all(b",\"annotations\":[")
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        self.categories
            .entry(r.atype.id)
            .or_insert_with(|| category(r.atype));
        let mut e = crate::geojson::exact_block(r);
        e.insert("uuid".into(), Value::from(a.unique_identifier.to_string()));
        let (bbox, seg, area) = match a.vector.as_ref().and_then(|v| v.bbox().map(|b| (v, b))) {
            Some((v, b)) => {
                let (w, h) = (b.max_x - b.min_x, b.max_y - b.min_y);
                let ring: Vec<Point> = match r.atype.vector_type {
                    VectorType::BoundingBox
                    | VectorType::FixedSizeBoundingBox
                    | VectorType::Point => vec![
                        Point::new(b.min_x, b.min_y),
                        Point::new(b.max_x, b.min_y),
                        Point::new(b.max_x, b.max_y),
                        Point::new(b.min_x, b.max_y),
                    ],
                    _ => v.points.clone(),
                };
                let flat: Vec<Value> = ring.iter().flat_map(|p| [num(p.x), num(p.y)]).collect();
                let seg = json!([flat]);
                (
                    json!([num(b.min_x), num(b.min_y), num(w), num(h)]),
                    seg,
                    shoelace(&ring),
                )
            }
            None => {
                e.insert("has_geometry".into(), Value::from(false));
                (json!([0, 0, 0, 0]), json!([]), 0.0)
            }
        };
        let ann = json!({
            "id": a.id.0,
            "image_id": r.image.id.0,
            "category_id": r.atype.id.0,
            "bbox": bbox,
            "segmentation": seg,
            "area": num(area),
            "iscrowd": 0,
            "exact": e,
        });
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        self.out.write_all(b"\n")?;
        serde_json::to_writer(&mut self.out, &ann).map_err(std::io::Error::other)
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.out.write_all(b"\n],\"categories\":")?;
        let cats: Vec<&Value> = self.categories.values().collect();
        serde_json::to_writer(&mut self.out, &cats)?;
        self.out.write_all(b"}\n")?;
        self.out.flush()
    }
}

fn category(t: &exact_core::model::AnnotationType) -> Value {
    json!({
        "id": t.id.0,
        "name": t.name,
        "supercategory": "",
        "color": t.color_code,
        "exact_vector_type": vector_type_name(t.vector_type),
    })
}

fn shoelace(p: &[Point]) -> f64 {
    if p.len() < 3 {
        return 0.0;
    }
    let s: f64 = (0..p.len())
        .map(|i| {
            let (a, b) = (p[i], p[(i + 1) % p.len()]);
            a.x * b.y - b.x * a.y
        })
        .sum();
    (s / 2.0).abs()
}
