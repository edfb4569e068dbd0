//! Aperio ImageScope's XML: `Annotations/Annotation[@Id, @Name, @LineColor]/Regions/Region[@Id,
//! @Type, @Text, @NegativeROA]/Vertices/Vertex[@X, @Y]`, with `Attributes/Attribute[@Name,
//! @Value]` on layers and regions. One file per slide; ImageScope writes ISO-8859-1.
//!
//! Reading streams region by region. A layer (`Annotation`) is the type: its `Name`, else
//! `layer <Id>`; `LineColor` is a BGR integer (`0xBBGGRR`), the colour of a type created for
//! it. Region types: 0 free-hand → polygon (2 vertices: a line), 1 rectangle → box (4
//! vertices), 2 ellipse → point drawn in the ellipse's box (2 corner vertices), 3 arrow and 4
//! ruler → line (2 vertices; arrows are marked in `meta_data.imagescope.type`). `Text` is the
//! remark; region and layer attributes go to `meta_data.imagescope.attributes` /
//! `.layer_attributes`; `NegativeROA="1"` (a region cut out of its layer) to
//! `meta_data.imagescope.negative`.
//!
//! Writing produces one layer per run of annotations of one type (ImageScope allows several
//! layers of one name), with each region's length and area (µm too where the image's mpp is
//! known). What ImageScope has no field for rides in a region attribute named `exact` (JSON),
//! which this reader restores.

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape, shape_of};
use crate::xmlio::{Tag, XmlIn, attr, comment, esc, exact_attr, number};
use exact_core::model::VectorType;
use exact_core::vector::{MAX_NODES, Point};
use exact_core::{AnnotationTypeId, Error, Result};
use serde_json::{Map, Value};
use std::io::{BufRead, Write};

/// The root element's name (used to detect the format).
pub const ROOT: &str = "Annotations";

struct Layer {
    name: String,
    colour: Option<String>,
    attributes: Map<String, Value>,
}

struct Region {
    place: String,
    attrs: Vec<(String, String)>,
    attributes: Map<String, Value>,
    exact: Option<String>,
    vertices: Vec<Point>,
}

/// Streams the regions of an ImageScope XML file to `f`.
pub fn read(r: impl BufRead, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut x = XmlIn::new(r, "ImageScope XML");
    let mut saw_root = false;
    let mut layers = 0usize;
    let mut layer: Option<Layer> = None;
    let mut region: Option<Region> = None;
    let mut regions_in_layer = 0usize;
    loop {
        match x.next()? {
            Tag::Eof => break,
            Tag::Open { name, attrs, empty } => match name.as_str() {
                ROOT if !saw_root => saw_root = true,
                _ if !saw_root => {
                    return Err(x.bad(
                        "ImageScope XML",
                        format!("the root element is <{name}>, not <{ROOT}>"),
                    ));
                }
                "Annotation" => {
                    layers += 1;
                    regions_in_layer = 0;
                    let id = attr(&attrs, "Id").unwrap_or("").to_owned();
                    let name = match attr(&attrs, "Name").map(str::trim) {
                        Some(n) if !n.is_empty() => n.to_owned(),
                        _ if !id.is_empty() => format!("layer {id}"),
                        _ => format!("layer {layers}"),
                    };
                    let colour = attr(&attrs, "LineColor").and_then(bgr);
                    layer = (!empty).then_some(Layer {
                        name,
                        colour,
                        attributes: Map::new(),
                    });
                }
                "Region" => {
                    let Some(l) = layer.as_ref() else {
                        return Err(x.bad("ImageScope XML", "a <Region> outside an <Annotation>"));
                    };
                    regions_in_layer += 1;
                    let id = attr(&attrs, "Id").unwrap_or("?");
                    let open = Region {
                        place: format!(
                            "layer {layers} ({:?}) region {regions_in_layer} (Id {id}, line {})",
                            l.name,
                            x.line()
                        ),
                        attrs,
                        attributes: Map::new(),
                        exact: None,
                        vertices: Vec::new(),
                    };
                    if empty {
                        emit(l, open, f)?;
                    } else {
                        region = Some(open);
                    }
                }
                "Attribute" => {
                    let key = attr(&attrs, "Name").unwrap_or("").to_owned();
                    let value = attr(&attrs, "Value").unwrap_or("").to_owned();
                    if let Some(r) = region.as_mut() {
                        if key == "exact" {
                            r.exact = Some(value);
                        } else if r.attributes.len() < 1000 {
                            r.attributes.insert(key, Value::from(value));
                        }
                    } else if let Some(l) = layer.as_mut()
                        && !value.is_empty()
                        && l.attributes.len() < 1000
                    {
                        l.attributes.insert(key, Value::from(value));
                    }
                }
                "Vertex" => {
                    let Some(r) = region.as_mut() else {
                        return Err(x.bad("ImageScope XML", "a <Vertex> outside a <Region>"));
                    };
                    if r.vertices.len() >= MAX_NODES {
                        return Err(Error::invalid(
                            r.place.clone(),
                            format!("more than {MAX_NODES} vertices"),
                        ));
                    }
                    let p = number(&attrs, "X")
                        .and_then(|px| Ok(Point::new(px, number(&attrs, "Y")?)))
                        .map_err(|e| {
                            Error::invalid(
                                format!("{}: vertex {}", r.place, r.vertices.len() + 1),
                                e,
                            )
                        })?;
                    r.vertices.push(p);
                }
                _ => {}
            },
            Tag::Close(name) => match name.as_str() {
                "Region" => {
                    if let (Some(l), Some(r)) = (layer.as_ref(), region.take()) {
                        emit(l, r, f)?;
                    }
                }
                "Annotation" => layer = None,
                _ => {}
            },
        }
    }
    if !saw_root {
        return Err(Error::invalid(
            "ImageScope XML",
            format!("no <{ROOT}> element"),
        ));
    }
    Ok(())
}

fn emit(l: &Layer, r: Region, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let place = r.place;
    let bad = |reason: String| Error::invalid(place.clone(), reason);
    let mut item = Item::new(place.clone(), l.name.clone());
    item.color = l.colour.clone();
    if let Some(t) = attr(&r.attrs, "Text") {
        item.description = t.to_owned();
    }
    let mut size = None;
    if let Some(e) = &r.exact {
        exact_attr(&mut item, e, &mut size)?;
    } else {
        let mut scope = Map::new();
        if !r.attributes.is_empty() {
            scope.insert("attributes".into(), Value::Object(r.attributes));
        }
        if !l.attributes.is_empty() {
            scope.insert(
                "layer_attributes".into(),
                Value::Object(l.attributes.clone()),
            );
        }
        if attr(&r.attrs, "NegativeROA").map(str::trim) == Some("1") {
            scope.insert("negative".into(), Value::from(true));
        }
        if attr(&r.attrs, "Type").map(str::trim) == Some("3") {
            scope.insert("type".into(), Value::from("arrow"));
        }
        if !scope.is_empty() {
            let mut meta = Map::new();
            meta.insert("imagescope".into(), Value::Object(scope));
            item.meta_data = Value::Object(meta);
        }
    }
    let v = r.vertices;
    let kind = attr(&r.attrs, "Type").unwrap_or("0").trim();
    let line = matches!(
        item.vector_type,
        Some(VectorType::Line | VectorType::MultiLine)
    );
    item.shape = match (kind, v.len()) {
        (_, 0) => Shape::None,
        ("0", _) if line => Shape::Line(v),
        ("0", n) if n >= 3 => Shape::Polygon(v),
        ("0", 2) | ("3" | "4", 2) => Shape::Line(v),
        ("1", 4) => Shape::Polygon(v),
        ("2", 2) => {
            let (a, b) = (v[0], v[1]);
            Shape::Point {
                at: Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0),
                size: size.or(Some(((b.x - a.x).abs(), (b.y - a.y).abs()))),
            }
        }
        ("0" | "1" | "2" | "3" | "4", n) => {
            let what = ["free-hand region", "rectangle", "ellipse", "arrow", "ruler"]
                [kind.parse::<usize>().unwrap_or(0).min(4)];
            return Err(bad(format!("a {what} (Type {kind}) with {n} vertices")));
        }
        (other, _) => {
            return Err(bad(format!(
                "unknown region Type {other:?} (0 free-hand, 1 rectangle, 2 ellipse, 3 arrow, 4 ruler)"
            )));
        }
    };
    f(item)
}

/// ImageScope's `LineColor`, a decimal `0xBBGGRR`, as `#RRGGBB`.
fn bgr(v: &str) -> Option<String> {
    let n: u32 = v.trim().parse().ok()?;
    let (r, g, b) = (n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF);
    Some(format!("#{r:02X}{g:02X}{b:02X}"))
}

/// `#RRGGBB` as ImageScope's BGR integer (0, black, when not a colour).
fn line_color(code: &str) -> u32 {
    let Some(h) = code.strip_prefix('#').filter(|h| h.len() == 6) else {
        return 0;
    };
    let Ok(rgb) = u32::from_str_radix(h, 16) else {
        return 0;
    };
    let (r, g, b) = ((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF);
    (b << 16) | (g << 8) | r
}

/// Writes an ImageScope XML file.
pub(crate) struct ImageScopeSink<W: Write> {
    out: W,
    layer: Option<AnnotationTypeId>,
    layers: u64,
    region: u64,
}

impl<W: Write> ImageScopeSink<W> {
    pub(crate) fn new(out: W) -> Self {
        ImageScopeSink {
            out,
            layer: None,
            layers: 0,
            region: 0,
        }
    }

    fn close_layer(&mut self) -> std::io::Result<()> {
        if self.layer.take().is_some() {
            self.out
                .write_all(b"\t\t</Regions>\n\t\t<Plots />\n\t</Annotation>\n")?;
        }
        Ok(())
    }
}

const HEADERS: &str = "\t\t\t<RegionAttributeHeaders>\n\t\t\t\t<AttributeHeader Id=\"9999\" Name=\"Region\" ColumnWidth=\"-1\" />\n\t\t\t\t<AttributeHeader Id=\"9997\" Name=\"Length\" ColumnWidth=\"-1\" />\n\t\t\t\t<AttributeHeader Id=\"9996\" Name=\"Area\" ColumnWidth=\"-1\" />\n\t\t\t\t<AttributeHeader Id=\"9998\" Name=\"Text\" ColumnWidth=\"-1\" />\n\t\t\t</RegionAttributeHeaders>\n";

impl<W: Write> Sink for ImageScopeSink<W> {
    fn begin(&mut self, head: &Head) -> std::io::Result<()> {
        let mpp = head
            .images
            .iter()
            .map(|i| i.mpp)
            .find(|m| *m > 0.0)
            .unwrap_or(0.0);
        write!(
            self.out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- exact-rs export of image set {}: {} -->\n<{ROOT} MicronsPerPixel=\"{mpp}\">\n",
            comment(&format!("{:?}", head.set.name)),
            comment(&head.frame_note()),
        )
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        let t = r.atype;
        if self.layer != Some(t.id) {
            self.close_layer()?;
            self.layers += 1;
            self.layer = Some(t.id);
            write!(
                self.out,
                "\t<Annotation Id=\"{}\" Name=\"{}\" ReadOnly=\"0\" NameReadOnly=\"0\" LineColorReadOnly=\"0\" Incremental=\"0\" Type=\"4\" LineColor=\"{}\" Visible=\"1\" Selected=\"0\" MarkupImagePath=\"\" MacroName=\"\">\n\t\t<Attributes />\n\t\t<Regions>\n{HEADERS}",
                self.layers,
                esc(&t.name),
                line_color(&t.color_code),
            )?;
        }
        self.region += 1;
        let shape = shape_of(a.vector.as_ref(), t.vector_type);
        let (kind, pts, closed): (u8, Vec<Point>, bool) = match &shape {
            Shape::None => (0, Vec::new(), false),
            Shape::Point { at, size } => {
                let (w, h) = size.unwrap_or((0.0, 0.0));
                (
                    2,
                    vec![
                        Point::new(at.x - w / 2.0, at.y - h / 2.0),
                        Point::new(at.x + w / 2.0, at.y + h / 2.0),
                    ],
                    true,
                )
            }
            Shape::Polygon(p) if p.len() == 4 && is_box(t.vector_type) => (1, p.clone(), true),
            Shape::Polygon(p) => (0, p.clone(), true),
            Shape::Line(p) if p.len() == 2 => (4, p.clone(), false),
            Shape::Line(p) => (0, p.clone(), false),
            Shape::Exact(v) => (0, v.points.clone(), false),
        };
        // Match exact points where the circle's corners are the stored vector.
        let pts = match (&a.vector, kind) {
            (Some(v), 2) if v.points.len() == 2 => v.points.clone(),
            _ => pts,
        };
        let (length, area) = measure(&pts, closed, kind == 2);
        let mpp = r.image.mpp.max(0.0);
        let negative = a
            .meta_data
            .pointer("/imagescope/negative")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut block = crate::geojson::exact_block(r);
        block.insert("uuid".into(), Value::from(a.unique_identifier.to_string()));
        let exact = Value::Object(block).to_string();
        write!(
            self.out,
            "\t\t\t<Region Id=\"{n}\" Type=\"{kind}\" Zoom=\"1\" Selected=\"0\" ImageLocation=\"\" ImageFocus=\"-1\" Length=\"{length:.1}\" Area=\"{area:.1}\" LengthMicrons=\"{:.1}\" AreaMicrons=\"{:.1}\" Text=\"{}\" NegativeROA=\"{}\" InputRegionId=\"0\" Analyze=\"1\" DisplayId=\"{n}\">\n\t\t\t\t<Attributes>\n\t\t\t\t\t<Attribute Name=\"exact\" Id=\"0\" Value=\"{}\" />\n\t\t\t\t</Attributes>\n\t\t\t\t<Vertices>\n",
            length * mpp,
            area * mpp * mpp,
            esc(&a.description),
            u8::from(negative),
            esc(&exact),
            n = self.region,
        )?;
        for p in &pts {
            writeln!(
                self.out,
                "\t\t\t\t\t<Vertex X=\"{}\" Y=\"{}\" Z=\"0\" />",
                p.x, p.y
            )?;
        }
        self.out
            .write_all(b"\t\t\t\t</Vertices>\n\t\t\t</Region>\n")
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.close_layer()?;
        writeln!(self.out, "</{ROOT}>")?;
        self.out.flush()
    }
}

fn is_box(t: VectorType) -> bool {
    matches!(
        t,
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox
    )
}

/// Length (perimeter when closed) and area in pixels; an ellipse from its box corners.
fn measure(p: &[Point], closed: bool, ellipse: bool) -> (f64, f64) {
    if ellipse && p.len() == 2 {
        let (a, b) = ((p[1].x - p[0].x).abs() / 2.0, (p[1].y - p[0].y).abs() / 2.0);
        // Ramanujan's approximation of the circumference.
        let c = std::f64::consts::PI * (3.0 * (a + b) - ((3.0 * a + b) * (a + 3.0 * b)).sqrt());
        return (c, std::f64::consts::PI * a * b);
    }
    let mut length = 0.0;
    let mut twice_area = 0.0;
    let n = p.len();
    for i in 0..n {
        if i + 1 == n && !closed {
            break;
        }
        let (a, b) = (p[i], p[(i + 1) % n]);
        length += (b.x - a.x).hypot(b.y - a.y);
        twice_area += a.x * b.y - b.x * a.y;
    }
    let area = if closed { twice_area.abs() / 2.0 } else { 0.0 };
    (length, area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_colour_is_bgr() {
        assert_eq!(bgr("65280").as_deref(), Some("#00FF00"));
        assert_eq!(bgr("255").as_deref(), Some("#FF0000"));
        assert_eq!(bgr("16711680").as_deref(), Some("#0000FF"));
        assert_eq!(line_color("#123456"), 0x563412);
        assert_eq!(
            bgr(&line_color("#123456").to_string()).as_deref(),
            Some("#123456")
        );
    }
}
