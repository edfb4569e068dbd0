//! ASAP's XML (`ASAP_Annotations`), as ASAP's `XmlRepository` reads and writes it:
//! `Annotations/Annotation[@Name, @Type, @PartOfGroup, @Color]/Coordinates/Coordinate[@Order,
//! @X, @Y]` and `AnnotationGroups/Group[@Name, @PartOfGroup, @Color]`. One file per slide.
//!
//! Reading streams annotation by annotation. The group (`PartOfGroup`) is the type, `None`
//! becomes `unclassified`; the annotation's `Color` is the colour of a type created for it.
//! `Dot` → point, `Rectangle` → box (4 corners), `Polygon` and `Spline` (its control points)
//! → polygon, `PointSet` → one point per coordinate (`meta_data.part`). Coordinates are put in
//! `Order`; an order out of range or repeated is an error naming the annotation. A group used
//! but not declared in `AnnotationGroups` is an error, as it is for ASAP.
//!
//! Writing produces a file ASAP opens: every annotation with its type as group, boxes as
//! `Rectangle`s, points as `Dot`s, polygons as `Polygon`s, and each type declared once as a
//! `Group`. ASAP has no lines, frames, flags, UUIDs, users or times; those ride in an extra
//! `Exact` attribute (JSON) that ASAP ignores and this reader restores. Lines are written as
//! open `Polygon`s (ASAP closes them when drawing).

use crate::export::{Head, Row, Sink};
use crate::item::{Item, Shape, shape_of};
use crate::xmlio::{Tag, XmlIn, attr, comment, esc, exact_attr, number};
use exact_core::model::VectorType;
use exact_core::vector::{MAX_NODES, Point};
use exact_core::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};

/// The root element's name (used to detect the format).
pub const ROOT: &str = "ASAP_Annotations";

/// The type name of annotations in no group.
const NO_GROUP: &str = "unclassified";

struct Open {
    place: String,
    line: u64,
    attrs: Vec<(String, String)>,
    coords: Vec<(Option<i64>, Point)>,
}

/// Streams the annotations of an ASAP XML file to `f`.
pub fn read(r: impl BufRead, f: &mut dyn FnMut(Item) -> Result<()>) -> Result<()> {
    let mut x = XmlIn::new(r, "ASAP XML");
    let mut n = 0usize;
    let mut saw_root = false;
    let mut current: Option<Open> = None;
    let mut used: Vec<(String, String)> = Vec::new();
    let mut used_set: HashSet<String> = HashSet::new();
    let mut groups: HashSet<String> = HashSet::new();
    let mut in_groups = false;
    loop {
        match x.next()? {
            Tag::Eof => break,
            Tag::Open { name, attrs, empty } => match name.as_str() {
                ROOT if x.depth() <= 1 => saw_root = true,
                _ if !saw_root => {
                    return Err(x.bad(
                        "ASAP XML",
                        format!("the root element is <{name}>, not <{ROOT}>"),
                    ));
                }
                "AnnotationGroups" => in_groups = !empty,
                "Group" if in_groups => {
                    if let Some(g) = attr(&attrs, "Name") {
                        groups.insert(g.to_owned());
                    }
                }
                "Annotation" if !in_groups => {
                    if current.is_some() {
                        return Err(
                            x.bad(&format!("annotation {n}"), "an <Annotation> inside another")
                        );
                    }
                    n += 1;
                    let open = Open {
                        place: format!("annotation {n}"),
                        line: x.line(),
                        attrs,
                        coords: Vec::new(),
                    };
                    if empty {
                        emit(open, &mut used, &mut used_set, f)?;
                    } else {
                        current = Some(open);
                    }
                }
                "Coordinate" => {
                    let Some(a) = current.as_mut() else {
                        return Err(x.bad("ASAP XML", "a <Coordinate> outside an <Annotation>"));
                    };
                    if a.coords.len() >= MAX_NODES {
                        return Err(x.bad(&a.place, format!("more than {MAX_NODES} coordinates")));
                    }
                    let at = (|| -> std::result::Result<(Option<i64>, Point), String> {
                        let order = match attr(&attrs, "Order") {
                            None => None,
                            Some(o) => Some(
                                o.trim()
                                    .parse::<i64>()
                                    .map_err(|_| format!("Order={o:?} is not an integer"))?,
                            ),
                        };
                        Ok((
                            order,
                            Point::new(number(&attrs, "X")?, number(&attrs, "Y")?),
                        ))
                    })()
                    .map_err(|r| {
                        x.bad(
                            &format!("{}: coordinate {}", a.place, a.coords.len() + 1),
                            r,
                        )
                    })?;
                    a.coords.push(at);
                }
                _ => {}
            },
            Tag::Close(name) => match name.as_str() {
                "Annotation" if !in_groups => {
                    if let Some(open) = current.take() {
                        emit(open, &mut used, &mut used_set, f)?;
                    }
                }
                "AnnotationGroups" => in_groups = false,
                _ => {}
            },
        }
    }
    if !saw_root {
        return Err(Error::invalid("ASAP XML", format!("no <{ROOT}> element")));
    }
    if let Some((group, place)) = used.iter().find(|(g, _)| !groups.contains(g)) {
        return Err(Error::invalid(
            place.clone(),
            format!(
                "PartOfGroup {group:?} is not declared in <AnnotationGroups> (ASAP refuses such files too)"
            ),
        ));
    }
    Ok(())
}

fn emit(
    open: Open,
    used: &mut Vec<(String, String)>,
    used_set: &mut HashSet<String>,
    f: &mut dyn FnMut(Item) -> Result<()>,
) -> Result<()> {
    let place = format!("{} (line {})", open.place, open.line);
    let bad = |reason: String| Error::invalid(place.clone(), reason);
    let a = &open.attrs;
    let group = attr(a, "PartOfGroup").unwrap_or("None");
    let mut item = Item::new(place.clone(), NO_GROUP);
    if group != "None" && !group.is_empty() {
        item.type_name = group.to_owned();
        if used_set.len() < 100_000 && used_set.insert(group.to_owned()) {
            used.push((group.to_owned(), place.clone()));
        }
    }
    item.color = attr(a, "Color").and_then(colour);
    if let Some(name) = attr(a, "Name").filter(|n| !is_default_name(n)) {
        item.description = name.to_owned();
    }
    let mut size = None;
    if let Some(e) = attr(a, "Exact") {
        exact_attr(&mut item, e, &mut size)?;
    }
    // Coordinates in their Order (document order when there is none).
    let mut coords = open.coords;
    let total = coords.len();
    if coords.iter().any(|(o, _)| o.is_some()) {
        let mut slots: Vec<Option<Point>> = vec![None; total];
        for (k, (o, p)) in coords.iter().enumerate() {
            let o = o.ok_or_else(|| bad(format!("coordinate {} has no Order", k + 1)))?;
            let i = usize::try_from(o)
                .ok()
                .filter(|i| *i < total)
                .ok_or_else(|| bad(format!("coordinate Order {o} is outside 0..{total}")))?;
            if slots[i].replace(*p).is_some() {
                return Err(bad(format!("coordinate Order {o} appears twice")));
            }
        }
        coords = slots
            .into_iter()
            .map(|p| (None, p.unwrap_or(Point::new(0.0, 0.0))))
            .collect();
    }
    let pts: Vec<Point> = coords.into_iter().map(|(_, p)| p).collect();
    let kind = attr(a, "Type").unwrap_or("");
    let line = matches!(
        item.vector_type,
        Some(VectorType::Line | VectorType::MultiLine)
    );
    let shapes: Vec<Shape> = match (kind, pts.len()) {
        (_, 0) => vec![Shape::None],
        ("Dot", 1) => vec![Shape::Point { at: pts[0], size }],
        ("PointSet", _) => pts.iter().map(|p| Shape::Point { at: *p, size }).collect(),
        ("Rectangle", 4) => vec![Shape::Polygon(pts)],
        ("Polygon" | "Spline", _) if line => vec![Shape::Line(pts)],
        ("Polygon" | "Spline", n) if n >= 3 => vec![Shape::Polygon(pts)],
        ("Dot" | "Rectangle" | "Polygon" | "Spline", n) => {
            return Err(bad(format!("a {kind} with {n} coordinates")));
        }
        (other, _) => {
            return Err(bad(format!(
                "unknown Type {other:?} (ASAP writes Dot, PointSet, Rectangle, Polygon, Spline)"
            )));
        }
    };
    if shapes.len() == 1 {
        item.shape = shapes.into_iter().next().unwrap_or(Shape::None);
        return f(item);
    }
    let parts = shapes.len();
    for (k, shape) in shapes.into_iter().enumerate() {
        let mut it = item.clone();
        it.place = format!("{place} point {}", k + 1);
        it.shape = shape;
        if k > 0 {
            it.uuid = None;
        }
        let mut meta = match it.meta_data.take() {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        meta.insert("part".into(), json!([k + 1, parts]));
        it.meta_data = Value::Object(meta);
        f(it)?;
    }
    Ok(())
}

/// ASAP names new annotations `Annotation 0`, `Annotation 1`, …: no remark.
fn is_default_name(n: &str) -> bool {
    n.is_empty()
        || n.strip_prefix("Annotation ")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `#rrggbb` in any case → `#RRGGBB`.
fn colour(c: &str) -> Option<String> {
    let h = c.trim().strip_prefix('#')?;
    (h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("#{}", h.to_ascii_uppercase()))
}

/// Writes an ASAP XML file.
pub(crate) struct AsapSink<W: Write> {
    out: W,
    n: u64,
    groups: Vec<(String, String)>,
    seen: HashMap<String, ()>,
}

impl<W: Write> AsapSink<W> {
    pub(crate) fn new(out: W) -> Self {
        AsapSink {
            out,
            n: 0,
            groups: Vec::new(),
            seen: HashMap::new(),
        }
    }
}

impl<W: Write> Sink for AsapSink<W> {
    fn begin(&mut self, head: &Head) -> std::io::Result<()> {
        for t in head.types {
            if self.seen.insert(t.name.clone(), ()).is_none() {
                self.groups.push((t.name.clone(), t.color_code.clone()));
            }
        }
        write!(
            self.out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- exact-rs export of image set {}: {} -->\n<{ROOT}>\n\t<Annotations>\n",
            comment(&format!("{:?}", head.set.name)),
            comment(&head.frame_note()),
        )
    }

    fn row(&mut self, r: &Row) -> std::io::Result<()> {
        let a = r.annotation;
        let t = r.atype;
        if self.seen.insert(t.name.clone(), ()).is_none() {
            self.groups.push((t.name.clone(), t.color_code.clone()));
        }
        let shape = shape_of(a.vector.as_ref(), t.vector_type);
        let (kind, pts): (&str, Vec<Point>) = match &shape {
            Shape::None => ("Dot", Vec::new()),
            Shape::Point { at, .. } => ("Dot", vec![*at]),
            Shape::Polygon(p) if p.len() == 4 && is_box(t.vector_type) => ("Rectangle", p.clone()),
            Shape::Polygon(p) | Shape::Line(p) => ("Polygon", p.clone()),
            Shape::Exact(v) => ("Polygon", v.points.clone()),
        };
        let name = if a.description.is_empty() {
            format!("Annotation {}", self.n)
        } else {
            a.description.clone()
        };
        self.n += 1;
        let mut block = crate::geojson::exact_block(r);
        block.insert("uuid".into(), Value::from(a.unique_identifier.to_string()));
        let exact = Value::Object(block).to_string();
        write!(
            self.out,
            "\t\t<Annotation Name=\"{}\" Type=\"{kind}\" PartOfGroup=\"{}\" Color=\"{}\" Exact=\"{}\">\n\t\t\t<Coordinates>\n",
            esc(&name),
            esc(&t.name),
            esc(&t.color_code),
            esc(&exact),
        )?;
        for (i, p) in pts.iter().enumerate() {
            writeln!(
                self.out,
                "\t\t\t\t<Coordinate Order=\"{i}\" X=\"{}\" Y=\"{}\" />",
                p.x, p.y
            )?;
        }
        self.out
            .write_all(b"\t\t\t</Coordinates>\n\t\t</Annotation>\n")
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.out
            .write_all(b"\t</Annotations>\n\t<AnnotationGroups>\n")?;
        for (name, colour) in &self.groups {
            writeln!(
                self.out,
                "\t\t<Group Name=\"{}\" PartOfGroup=\"None\" Color=\"{}\">\n\t\t\t<Attributes />\n\t\t</Group>",
                esc(name),
                esc(colour)
            )?;
        }
        writeln!(self.out, "\t</AnnotationGroups>\n</{ROOT}>")?;
        self.out.flush()
    }
}

fn is_box(t: VectorType) -> bool {
    matches!(
        t,
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox
    )
}
