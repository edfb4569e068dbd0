//! EXACT's export formats (`exact:<name>`): a set rendered through the six templates of an
//! [`ExportFormat`] record (EXACT.md §6), streamed into any writer — image by image, annotation
//! by annotation, nothing collected — and, as EXACT does, kept as an [`Export`] record.
//!
//! What is rendered, as EXACT renders it:
//! - `base_format` wraps everything; `%%content` is `"\n"` followed by one
//!   `annotation_format` (or `not_in_image_format` when the annotation has no vector) and a
//!   `"\n"` per annotation. With `image_aggregation`, `%%content` is `"\n"` followed by one
//!   `image_format` and a `"\n"` per image that has exported annotations, whose
//!   `%%annotations` is its annotations, each followed by `"\n"`.
//! - `vector_format` is repeated once per node and concatenated into `%%vector`.
//! - Only annotations of the format's `annotations_types` are exported. Deleted ones are left
//!   out unless `annotation_format` contains the text `deleted`; blurred / concealed ones are
//!   left out unless `include_blurred` / `include_concealed`.
//! - In an annotation's text, a `,` right before `}` is dropped (EXACT's trailing-comma fix,
//!   so `{%%vector}` with `"x1": 1,` nodes is JSON).
//! - Numbers are written as Python writes them: coordinates as stored (`12`, `12.5`), derived
//!   sizes and relative values as floats (`15.0`, `0.1`, `1e-05`); times as Python's
//!   `str(datetime)` (`2021-06-15 10:20:30.123456`); booleans `True`/`False`.
//!
//! Where EXACT has a bug, this does the correct thing (each is tested):
//! - values are never scanned for placeholders again (EXACT re-replaces an image called
//!   `%%type`), and the `,}` fix touches only the template's own text, not the values;
//! - `%%first_editor` is the creator and `%%last_editor` the last editor in both modes
//!   (EXACT's aggregation mode puts the last editor into `%%first_editor` and leaves
//!   `%%last_editor` as text); an unknown user is empty (EXACT fails or writes `-1`);
//! - `%%meta_data` is JSON (EXACT writes Python's repr, `{'a': 1}` / `None`);
//! - `%%width`/`%%height` are max − min for every vector (EXACT gives x2 − x1, negative for
//!   right-to-left lines, when a vector has exactly 4 keys) and min/max are the nodes' own
//!   (EXACT clamps them to the image size); `%%cx`/`%%cy` are the box centre for every vector
//!   type but points (EXACT gives 0 for multi-lines and fixed-size boxes), and `%%dia` is
//!   (width + height) / 2 for boxes, fixed-size boxes and polygons (EXACT: boxes and
//!   polygons; 0 otherwise, as here);
//! - an image-level `%%frame` is the image's default frame (EXACT takes the frame of the last
//!   annotation rendered before it);
//! - relative values of an image whose size is unknown (0) are empty (EXACT divides by zero);
//! - an aggregated format without `image_format` renders `%%annotations` (EXACT fails).
//!
//! Order: images by id; within an image, annotations in storage order. `min_verifications` is
//! stored but, as in EXACT, not applied.

use crate::export::ExportSummary;
use crate::{Format, Interop};
use exact_core::catalog::{AnnotationQuery, NewExport};
use exact_core::export_template::{Cond, Piece, Placeholder as P, Templates};
use exact_core::model::{
    Annotation, AnnotationType, Export, ExportFormat, Image, ImageSet, VectorType,
};
use exact_core::{
    Actor, AnnotationTypeId, Error, ExportFormatId, ImageSetId, Result, Timestamp, UserId,
};
use std::collections::HashMap;
use std::io::Write;

/// The prefix naming an export format in `--format` / `?format=`.
pub const PREFIX: &str = "exact:";

/// A float as Python's `str()` writes it: shortest round trip, `.0` on integral values,
/// exponent form below 1e-4 and from 1e16 (`1e-05`, `1.5e+16`).
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:?}` switches to exponent form at the same thresholds as Python's repr.
    let s = format!("{f:?}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// A coordinate as EXACT stores it: integral values as integers, others as Python floats.
pub fn coord(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        py_float(f)
    }
}

/// A time as Python's `str(datetime)`: space-separated, microseconds only when non-zero.
pub fn py_time(t: Timestamp) -> String {
    let s = t.to_string().replacen('T', " ", 1);
    match s.strip_suffix(".000000") {
        Some(whole) => whole.to_owned(),
        None => s,
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A writer that applies EXACT's `,}` fix to template text: commas that end a piece of
/// template text are held back and dropped when the next template text starts with `}`.
struct Fixer<'w> {
    w: &'w mut dyn Write,
    fix: bool,
    commas: usize,
}

impl Fixer<'_> {
    fn text(&mut self, s: &str) -> std::io::Result<()> {
        if !self.fix {
            return self.w.write_all(s.as_bytes());
        }
        if s.is_empty() {
            return Ok(());
        }
        if s.starts_with('}') {
            self.commas = 0;
        } else {
            self.flush()?;
        }
        let mut start = 0;
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b',' {
                let mut j = i;
                while j < b.len() && b[j] == b',' {
                    j += 1;
                }
                if j == b.len() {
                    self.w.write_all(&b[start..i])?;
                    self.commas = j - i;
                    return Ok(());
                }
                if b[j] == b'}' {
                    self.w.write_all(&b[start..i])?;
                    start = j;
                }
                i = j;
            } else {
                i += 1;
            }
        }
        self.w.write_all(&b[start..])
    }

    fn value(&mut self, s: &str) -> std::io::Result<()> {
        if s.is_empty() {
            return Ok(());
        }
        self.flush()?;
        self.w.write_all(s.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for _ in 0..std::mem::take(&mut self.commas) {
            self.w.write_all(b",")?;
        }
        Ok(())
    }
}

/// What every annotation of an export knows.
struct Ctx<'a> {
    set: &'a ImageSet,
    templates: &'a Templates,
    format: &'a ExportFormat,
}

/// Derived geometry of one annotation (EXACT's model properties).
struct Geo {
    min_x: f64,
    max_x: f64,
    min_y: f64,
    max_y: f64,
    cx: f64,
    cy: f64,
    dia: f64,
    point: bool,
}

fn geometry(a: &Annotation, t: &AnnotationType) -> Option<Geo> {
    let v = a.vector.as_ref()?;
    let first = v.points.first()?;
    let (mut min_x, mut max_x, mut min_y, mut max_y) = (first.x, first.x, first.y, first.y);
    for p in &v.points {
        min_x = min_x.min(p.x);
        max_x = max_x.max(p.x);
        min_y = min_y.min(p.y);
        max_y = max_y.max(p.y);
    }
    let (w, h) = (max_x - min_x, max_y - min_y);
    let point = t.vector_type == VectorType::Point;
    let (cx, cy) = if point {
        (first.x, first.y)
    } else {
        (min_x + w / 2.0, min_y + h / 2.0)
    };
    let area = matches!(
        t.vector_type,
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox | VectorType::Polygon
    );
    Some(Geo {
        min_x,
        max_x,
        min_y,
        max_y,
        cx,
        cy,
        dia: if area { (w + h) / 2.0 } else { 0.0 },
        point,
    })
}

fn rel(v: f64, size: u64) -> String {
    if size == 0 {
        String::new()
    } else {
        py_float(v / size as f64)
    }
}

/// One annotation with its names resolved.
struct Row<'a> {
    a: &'a Annotation,
    t: &'a AnnotationType,
    image: &'a Image,
    creator: &'a str,
    editor: &'a str,
}

impl Ctx<'_> {
    /// Writes one annotation (its template, `,}` fix applied) without the trailing newline.
    fn annotation(&self, r: &Row, out: &mut dyn Write) -> std::io::Result<()> {
        let mut f = Fixer {
            w: out,
            fix: true,
            commas: 0,
        };
        let geo = geometry(r.a, r.t);
        let template = if geo.is_some() {
            &self.templates.annotation
        } else {
            &self.templates.not_in_image
        };
        self.pieces(&template.pieces, r, geo.as_ref(), &mut f)?;
        f.flush()
    }

    fn pieces(
        &self,
        pieces: &[Piece],
        r: &Row,
        geo: Option<&Geo>,
        f: &mut Fixer,
    ) -> std::io::Result<()> {
        let a = r.a;
        let (w, h) = (r.image.width, r.image.height);
        for piece in pieces {
            match piece {
                Piece::Text(s) => f.text(s)?,
                Piece::If(cond, inner) => {
                    let blurred = r.t.enable_blurred && a.blurred && geo.is_some();
                    let concealed = r.t.enable_concealed && a.concealed && geo.is_some();
                    let keep = match cond {
                        Cond::Blurred => blurred,
                        Cond::NotBlurred => !blurred,
                        Cond::Concealed => concealed,
                        Cond::NotConcealed => !concealed,
                    };
                    if keep {
                        self.pieces(inner, r, geo, f)?;
                    }
                }
                Piece::Value(P::Vector) => {
                    let Some(v) = &a.vector else { continue };
                    for (i, p) in v.points.iter().enumerate() {
                        for vp in &self.templates.vector.pieces {
                            match vp {
                                Piece::Text(s) => f.text(s)?,
                                Piece::Value(P::Count0) => f.value(&i.to_string())?,
                                Piece::Value(P::Count1) => f.value(&(i + 1).to_string())?,
                                Piece::Value(P::X) => f.value(&coord(p.x))?,
                                Piece::Value(P::Y) => f.value(&coord(p.y))?,
                                Piece::Value(P::RelX) => f.value(&rel(p.x, w))?,
                                Piece::Value(P::RelY) => f.value(&rel(p.y, h))?,
                                Piece::Value(P::Br) => f.value("\n")?,
                                _ => {}
                            }
                        }
                    }
                }
                Piece::Value(p) => {
                    let s = self.value(*p, r, geo);
                    f.value(&s)?;
                }
            }
        }
        Ok(())
    }

    fn value(&self, p: P, r: &Row, geo: Option<&Geo>) -> String {
        let a = r.a;
        let (w, h) = (r.image.width, r.image.height);
        if let Some(g) = geo {
            let (gw, gh) = (g.max_x - g.min_x, g.max_y - g.min_y);
            let rad = g.dia / 2.0;
            let num = |v: f64| py_float(v);
            match p {
                P::Rad => return num(rad),
                P::Dia => return num(g.dia),
                P::Cx if g.point => return coord(g.cx),
                P::Cy if g.point => return coord(g.cy),
                P::Cx => return num(g.cx),
                P::Cy => return num(g.cy),
                P::MinX => return coord(g.min_x),
                P::MaxX => return coord(g.max_x),
                P::MinY => return coord(g.min_y),
                P::MaxY => return coord(g.max_y),
                P::Width => return coord(gw),
                P::Height => return coord(gh),
                P::RelRad if w > 0 && h > 0 => {
                    return num((rad / w as f64 + rad / h as f64) / 2.0);
                }
                P::RelDia if w > 0 && h > 0 => {
                    return num((rad / w as f64 + rad / h as f64) / 2.0 * 2.0);
                }
                P::RelRad | P::RelDia => return String::new(),
                P::RelCx => return rel(g.cx, w),
                P::RelCy => return rel(g.cy, h),
                P::RelMinX => return rel(g.min_x, w),
                P::RelMaxX => return rel(g.max_x, w),
                P::RelMinY => return rel(g.min_y, h),
                P::RelMaxY => return rel(g.max_y, h),
                P::RelWidth => return rel(gw, w),
                P::RelHeight => return rel(gh, h),
                _ => {}
            }
        }
        match p {
            P::ImageSet => self.set.name.clone(),
            P::ImageName => r.image.name.clone(),
            P::ImageWidth => w.to_string(),
            P::ImageHeight => h.to_string(),
            P::Type => r.t.name.clone(),
            P::Frame => a
                .vector
                .as_ref()
                .and_then(|v| v.frame)
                .unwrap_or(1)
                .to_string(),
            P::FirstEditor => r.creator.to_owned(),
            P::LastEditor => r.editor.to_owned(),
            P::FirstTimepoint => py_time(a.time),
            P::LastTimepoint => py_time(a.last_edit_time),
            P::Uuid => a.unique_identifier.hyphenated().to_string(),
            P::MetaData => serde_json::to_string(&a.meta_data).unwrap_or_default(),
            P::Deleted => py_bool(a.deleted).to_owned(),
            _ => String::new(),
        }
    }

    /// Whether the format exports `a` (types, deleted, blurred, concealed).
    fn wanted(&self, a: &Annotation) -> bool {
        let f = self.format;
        f.annotations_types.contains(&a.annotation_type)
            && (!a.deleted || f.annotation_format.contains("deleted"))
            && (f.include_blurred || !a.blurred)
            && (f.include_concealed || !a.concealed)
    }
}

/// Writes `s`, mapping I/O errors.
fn put(out: &mut dyn Write, s: &str) -> Result<()> {
    out.write_all(s.as_bytes()).map_err(io)
}

fn io(e: std::io::Error) -> Error {
    Error::backend("export output", e)
}

/// Names of users, looked up once each.
struct Names<'c> {
    c: &'c exact_core::Catalog,
    known: HashMap<UserId, String>,
}

impl Names<'_> {
    fn of(&mut self, u: Option<UserId>) -> String {
        let Some(u) = u else { return String::new() };
        let c = self.c;
        self.known
            .entry(u)
            .or_insert_with(|| {
                c.export_formats()
                    .user_name(Some(u))
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            })
            .clone()
    }
}

impl Interop<'_> {
    /// Streams `set` rendered through `format` to `out` (see the module documentation).
    /// Needs read rights on the set; the format must be usable by the actor.
    pub fn export_template(
        &self,
        actor: &Actor,
        set: ImageSetId,
        format: &ExportFormat,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ExportSummary> {
        let c = self.0;
        let the_set = c.image_sets().get(actor, set)?;
        let templates = Templates::of(format)?;
        let mut images = c.image_sets().images(actor, set)?;
        images.sort_by_key(|i| i.id);
        let mut types: HashMap<AnnotationTypeId, AnnotationType> = HashMap::new();
        for t in &format.annotations_types {
            if let Ok(at) = c.annotation_types().get(actor, *t) {
                types.insert(*t, at);
            }
        }
        let ctx = Ctx {
            set: &the_set,
            templates: &templates,
            format,
        };
        let include_deleted = format.annotation_format.contains("deleted");
        let query = AnnotationQuery {
            deleted: if include_deleted { None } else { Some(false) },
            annotation_types: Some(format.annotations_types.clone()),
            ..AnnotationQuery::everything()
        };
        let mut names = Names {
            c,
            known: HashMap::new(),
        };
        let mut summary = ExportSummary::default();
        let team = c.exports().team_name(&the_set)?;
        for piece in &templates.base.pieces {
            match piece {
                Piece::Text(s) => put(out, s)?,
                Piece::Value(P::Content) => {
                    put(out, "\n")?;
                    for image in &images {
                        summary.images += 1;
                        self.image_content(
                            actor,
                            &ctx,
                            image,
                            &query,
                            &types,
                            &mut names,
                            out,
                            &mut summary,
                            progress,
                        )?;
                    }
                }
                Piece::Value(P::ImageSet) => put(out, &the_set.name)?,
                Piece::Value(P::SetDescription) => put(out, &the_set.description)?,
                Piece::Value(P::Team) => put(out, &team)?,
                Piece::Value(P::SetLocation) => put(out, &the_set.location)?,
                Piece::Value(P::View) => {
                    for image in &images {
                        for l in c.log_image_actions().of_image(actor, image.id)? {
                            let user = names.of(Some(l.user));
                            put(
                                out,
                                &format!(
                                    "[{}|{}|{}|{}]\n",
                                    image.name,
                                    user,
                                    py_time(l.time),
                                    l.action.code()
                                ),
                            )?;
                        }
                    }
                }
                Piece::Value(_) | Piece::If(..) => {}
            }
        }
        progress(summary.annotations);
        Ok(summary)
    }

    /// One image's share of `%%content`.
    #[allow(clippy::too_many_arguments)]
    fn image_content(
        &self,
        actor: &Actor,
        ctx: &Ctx,
        image: &Image,
        query: &AnnotationQuery,
        types: &HashMap<AnnotationTypeId, AnnotationType>,
        names: &mut Names,
        out: &mut dyn Write,
        summary: &mut ExportSummary,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let c = self.0;
        let aggregate = ctx.format.image_aggregation;
        // Aggregation needs the count first (images without annotations are left out, and
        // `%%annoamount` may come before `%%annotations`): one counting pass, nothing kept.
        let mut count = 0u64;
        if aggregate {
            c.annotations().query_each(actor, image.id, query, |a| {
                if ctx.wanted(&a) && types.contains_key(&a.annotation_type) {
                    count += 1;
                }
            })?;
            if count == 0 {
                return Ok(());
            }
        }
        let mut annotations =
            |out: &mut dyn Write, names: &mut Names, summary: &mut ExportSummary| -> Result<()> {
                let mut failed: Option<Error> = None;
                c.annotations().query_each(actor, image.id, query, |a| {
                    if failed.is_some() || !ctx.wanted(&a) {
                        return;
                    }
                    let Some(t) = types.get(&a.annotation_type) else {
                        return;
                    };
                    let creator = names.of(a.user);
                    let editor = names.of(a.last_editor);
                    let row = Row {
                        a: &a,
                        t,
                        image,
                        creator: &creator,
                        editor: &editor,
                    };
                    let r = ctx
                        .annotation(&row, out)
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = r {
                        failed = Some(io(e));
                        return;
                    }
                    summary.annotations += 1;
                    if summary.annotations.is_multiple_of(65_536) {
                        progress(summary.annotations);
                    }
                })?;
                failed.map_or(Ok(()), Err)
            };
        if !aggregate {
            return annotations(out, names, summary);
        }
        for piece in &ctx.templates.image.pieces {
            match piece {
                Piece::Text(s) => put(out, s)?,
                Piece::Value(P::Annotations) => annotations(out, names, summary)?,
                Piece::Value(P::AnnoAmount) => put(out, &count.to_string())?,
                Piece::Value(P::ImageSet) => put(out, &ctx.set.name)?,
                Piece::Value(P::ImageName) => put(out, &image.name)?,
                Piece::Value(P::ImageWidth) => put(out, &image.width.to_string())?,
                Piece::Value(P::ImageHeight) => put(out, &image.height.to_string())?,
                Piece::Value(P::Frame) => put(out, &image.default_frame.max(1).to_string())?,
                Piece::Value(_) | Piece::If(..) => {}
            }
        }
        put(out, "\n")
    }

    /// Renders `set` through format `format` and keeps the result as an [`Export`] record
    /// (EXACT's `POST /annotations/export/<set_id>/`). Exports larger than
    /// [`exact_core::catalog::MAX_EXPORT_TEXT`] are refused (stream them instead).
    pub fn create_export(
        &self,
        actor: &Actor,
        set: ImageSetId,
        format: ExportFormatId,
    ) -> Result<Export> {
        let c = self.0;
        c.image_sets().get(actor, set)?;
        let f = c.export_formats().get(actor, format)?;
        let mut buf = Capped {
            buf: Vec::new(),
            max: exact_core::catalog::MAX_EXPORT_TEXT,
            over: false,
        };
        let summary = match self.export_template(actor, set, &f, &mut buf, &mut |_| {}) {
            Ok(s) => s,
            Err(_) if buf.over => {
                return Err(Error::invalid(
                    "export",
                    format!(
                        "the export is larger than {} bytes, the most kept as a record — \
                         stream it instead (GET /api/v1/images/image_sets/{}/export/?format=exact:{})",
                        buf.max, set.0, f.name
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8(buf.buf)
            .map_err(|_| Error::invalid("export", "the rendered text is not UTF-8"))?;
        c.exports().create(
            actor,
            NewExport {
                image_set: set,
                format,
                export_text: text,
                annotation_count: summary.annotations,
            },
        )
    }

    /// An export by format name: `exact:<export format name>` renders that format, any other
    /// name is one of [`Format`]'s (see [`Interop::export`]).
    pub fn export_named(
        &self,
        actor: &Actor,
        set: ImageSetId,
        name: &str,
        options: &crate::ExportOptions,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ExportSummary> {
        match name.trim().strip_prefix(PREFIX) {
            Some(n) => {
                let f = self.0.export_formats().by_name(actor, n)?;
                self.export_template(actor, set, &f, out, progress)
            }
            None => self.export(actor, set, Format::parse(name)?, options, out, progress),
        }
    }
}

/// A buffer that refuses to grow beyond `max` bytes.
struct Capped {
    buf: Vec<u8>,
    max: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("export larger than the record limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
