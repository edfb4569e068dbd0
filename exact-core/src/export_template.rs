//! EXACT's export-format template language (EXACT.md §6), parsed once into pieces so a
//! renderer can stream: literal text, `%%placeholder`s and `%%if…%%endif` conditionals.
//!
//! EXACT renders by plain `str.replace` of every placeholder in turn. That has three bugs this
//! parser does not copy: a value containing a placeholder name (an image called `%%type`) is
//! replaced again; a `%%if…` without `%%endif` hangs the server; nested conditionals cut at the
//! first `%%endif`. Here a template is read once, left to right: values are never re-read,
//! conditionals nest, and a bad template is refused with the field and position named.
//!
//! A placeholder is the longest known name after `%%` (so `%%imagenamefoo` is `%%imagename`
//! followed by `foo`, as in EXACT). `%%` followed by a letter that starts no known name is an
//! error (EXACT would leave a typo in the output); `%%` followed by anything else is text.
//!
//! ```
//! use exact_core::export_template::{Piece, Placeholder, TemplateKind, parse};
//! let t = parse("annotation_format", TemplateKind::Annotation, "%%type|{%%vector}").unwrap();
//! assert_eq!(t.pieces[0], Piece::Value(Placeholder::Type));
//! assert!(parse("base_format", TemplateKind::Base, "%%vector").is_err());
//! assert!(parse("annotation_format", TemplateKind::Annotation, "%%ifblurred x").is_err());
//! ```

use crate::{Error, Result};

/// Which of an export format's templates a text is; each allows its own placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// `base_format`: wraps everything.
    Base,
    /// `image_format`: wraps one image's annotations when aggregating by image.
    Image,
    /// `annotation_format`: one annotation with a vector.
    Annotation,
    /// `vector_format`: one node, repeated and concatenated into `%%vector`.
    Vector,
    /// `not_in_image_format`: one annotation without a vector.
    NotInImage,
    /// `name_format`: the export's file name.
    FileName,
}

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is the placeholder of the same name (see `NAMES`)
pub enum Placeholder {
    Content,
    ImageSet,
    SetDescription,
    Team,
    SetLocation,
    View,
    ImageName,
    ImageWidth,
    ImageHeight,
    Annotations,
    AnnoAmount,
    Frame,
    Type,
    Vector,
    FirstEditor,
    FirstTimepoint,
    LastEditor,
    LastTimepoint,
    Uuid,
    MetaData,
    Deleted,
    Rad,
    Dia,
    Cx,
    Cy,
    MinX,
    MaxX,
    MinY,
    MaxY,
    Width,
    Height,
    RelRad,
    RelDia,
    RelCx,
    RelCy,
    RelMinX,
    RelMaxX,
    RelMinY,
    RelMaxY,
    RelWidth,
    RelHeight,
    Count0,
    Count1,
    X,
    Y,
    RelX,
    RelY,
    Br,
    ExportId,
}

/// A conditional of `annotation_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// `%%ifblurred`: kept when the annotation is blurred.
    Blurred,
    /// `%%ifnotblurred`.
    NotBlurred,
    /// `%%ifconcealed`: kept when the annotation is concealed.
    Concealed,
    /// `%%ifnotconcealed`.
    NotConcealed,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// Text written as is.
    Text(String),
    /// A placeholder's value.
    Value(Placeholder),
    /// Pieces written only when the condition holds.
    If(Cond, Vec<Piece>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    /// Its pieces, in order.
    pub pieces: Vec<Piece>,
}

impl Template {
    /// Whether `p` occurs anywhere (also inside conditionals).
    pub fn uses(&self, p: Placeholder) -> bool {
        fn any(pieces: &[Piece], p: Placeholder) -> bool {
            pieces.iter().any(|x| match x {
                Piece::Value(v) => *v == p,
                Piece::If(_, inner) => any(inner, p),
                Piece::Text(_) => false,
            })
        }
        any(&self.pieces, p)
    }
}

enum Token {
    Value(Placeholder),
    If(Cond),
    EndIf,
}

use Placeholder as P;

/// Every name after `%%`, with what it stands for.
const NAMES: &[(&str, Token)] = &[
    ("content", Token::Value(P::Content)),
    ("imageset", Token::Value(P::ImageSet)),
    ("setdescription", Token::Value(P::SetDescription)),
    ("team", Token::Value(P::Team)),
    ("setlocation", Token::Value(P::SetLocation)),
    ("view", Token::Value(P::View)),
    ("imagename", Token::Value(P::ImageName)),
    ("imagewidth", Token::Value(P::ImageWidth)),
    ("imageheight", Token::Value(P::ImageHeight)),
    ("annotations", Token::Value(P::Annotations)),
    ("annoamount", Token::Value(P::AnnoAmount)),
    ("frame", Token::Value(P::Frame)),
    ("type", Token::Value(P::Type)),
    ("vector", Token::Value(P::Vector)),
    ("first_editor", Token::Value(P::FirstEditor)),
    ("first_timepoint", Token::Value(P::FirstTimepoint)),
    ("last_editor", Token::Value(P::LastEditor)),
    ("last_timepoint", Token::Value(P::LastTimepoint)),
    ("UUID", Token::Value(P::Uuid)),
    ("meta_data", Token::Value(P::MetaData)),
    ("deleted", Token::Value(P::Deleted)),
    ("rad", Token::Value(P::Rad)),
    ("dia", Token::Value(P::Dia)),
    ("cx", Token::Value(P::Cx)),
    ("cy", Token::Value(P::Cy)),
    ("minx", Token::Value(P::MinX)),
    ("maxx", Token::Value(P::MaxX)),
    ("miny", Token::Value(P::MinY)),
    ("maxy", Token::Value(P::MaxY)),
    ("width", Token::Value(P::Width)),
    ("height", Token::Value(P::Height)),
    ("relrad", Token::Value(P::RelRad)),
    ("reldia", Token::Value(P::RelDia)),
    ("relcx", Token::Value(P::RelCx)),
    ("relcy", Token::Value(P::RelCy)),
    ("relminx", Token::Value(P::RelMinX)),
    ("relmaxx", Token::Value(P::RelMaxX)),
    ("relminy", Token::Value(P::RelMinY)),
    ("relmaxy", Token::Value(P::RelMaxY)),
    ("relwidth", Token::Value(P::RelWidth)),
    ("relheight", Token::Value(P::RelHeight)),
    ("count0", Token::Value(P::Count0)),
    ("count1", Token::Value(P::Count1)),
    ("x", Token::Value(P::X)),
    ("y", Token::Value(P::Y)),
    ("relx", Token::Value(P::RelX)),
    ("rely", Token::Value(P::RelY)),
    ("br", Token::Value(P::Br)),
    ("exportid", Token::Value(P::ExportId)),
    ("ifblurred", Token::If(Cond::Blurred)),
    ("ifnotblurred", Token::If(Cond::NotBlurred)),
    ("ifconcealed", Token::If(Cond::Concealed)),
    ("ifnotconcealed", Token::If(Cond::NotConcealed)),
    ("endif", Token::EndIf),
];

/// The name of a placeholder (without `%%`).
pub fn name(p: Placeholder) -> &'static str {
    NAMES
        .iter()
        .find(|(_, t)| matches!(t, Token::Value(v) if *v == p))
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// The placeholders `kind` may use.
pub fn allowed(kind: TemplateKind) -> Vec<Placeholder> {
    const ANNOTATION_INFO: &[Placeholder] = &[
        P::ImageSet,
        P::ImageName,
        P::ImageWidth,
        P::ImageHeight,
        P::Type,
        P::Frame,
        P::FirstEditor,
        P::FirstTimepoint,
        P::LastEditor,
        P::LastTimepoint,
        P::Uuid,
        P::MetaData,
        P::Deleted,
    ];
    const GEOMETRY: &[Placeholder] = &[
        P::Vector,
        P::Rad,
        P::Dia,
        P::Cx,
        P::Cy,
        P::MinX,
        P::MaxX,
        P::MinY,
        P::MaxY,
        P::Width,
        P::Height,
        P::RelRad,
        P::RelDia,
        P::RelCx,
        P::RelCy,
        P::RelMinX,
        P::RelMaxX,
        P::RelMinY,
        P::RelMaxY,
        P::RelWidth,
        P::RelHeight,
    ];
    let only: &[Placeholder] = match kind {
        TemplateKind::Base => &[
            P::Content,
            P::ImageSet,
            P::SetDescription,
            P::Team,
            P::SetLocation,
            P::View,
        ],
        TemplateKind::Image => &[
            P::ImageName,
            P::ImageWidth,
            P::ImageHeight,
            P::ImageSet,
            P::Annotations,
            P::AnnoAmount,
            P::Frame,
        ],
        // The annotation's own fields, then its geometry.
        TemplateKind::Annotation => return [ANNOTATION_INFO, GEOMETRY].concat(),
        TemplateKind::Vector => &[P::Count0, P::Count1, P::X, P::Y, P::RelX, P::RelY, P::Br],
        // EXACT offers only the first five here; the rest of the annotation's own fields (not
        // its geometry, which it has none of) are an extension.
        TemplateKind::NotInImage => ANNOTATION_INFO,
        TemplateKind::FileName => &[P::ExportId, P::ImageSet, P::Team, P::SetLocation],
    };
    only.to_vec()
}

/// Longest template text accepted, in bytes.
pub const MAX_TEMPLATE: usize = 64 * 1024;

/// Parses `text` as a template of `kind`; errors name `field`, the position (1-based
/// character) and what is wrong.
pub fn parse(field: &str, kind: TemplateKind, text: &str) -> Result<Template> {
    if text.len() > MAX_TEMPLATE {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_TEMPLATE} bytes, got {}", text.len()),
        ));
    }
    let ok = allowed(kind);
    // Stack of open conditionals: (condition, pieces before it, where it opened).
    let mut stack: Vec<(Cond, Vec<Piece>, usize)> = Vec::new();
    let mut cur: Vec<Piece> = Vec::new();
    let mut text_buf = String::new();
    let mut rest = text;
    let at = |rest: &str| text[..text.len() - rest.len()].chars().count() + 1;
    while let Some(i) = rest.find("%%") {
        text_buf.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            text_buf.push_str("%%");
            rest = after;
            continue;
        }
        let pos = at(&rest[i..]);
        let found = NAMES
            .iter()
            .filter(|(n, _)| after.starts_with(n))
            .max_by_key(|(n, _)| n.len());
        let Some((n, token)) = found else {
            let word: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            return Err(Error::invalid(
                field,
                format!(
                    "unknown placeholder %%{word} at character {pos}; {}",
                    available(kind)
                ),
            ));
        };
        if !text_buf.is_empty() {
            cur.push(Piece::Text(std::mem::take(&mut text_buf)));
        }
        match token {
            Token::Value(p) => {
                if !ok.contains(p) {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "%%{n} at character {pos} is not available here; {}",
                            available(kind)
                        ),
                    ));
                }
                cur.push(Piece::Value(*p));
            }
            Token::If(c) => {
                if kind != TemplateKind::Annotation {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "%%{n} at character {pos}: conditionals are only available in annotation_format"
                        ),
                    ));
                }
                stack.push((*c, std::mem::take(&mut cur), pos));
            }
            Token::EndIf => {
                let Some((c, before, _)) = stack.pop() else {
                    return Err(Error::invalid(
                        field,
                        format!("%%endif at character {pos} closes no %%if…"),
                    ));
                };
                let inner = std::mem::replace(&mut cur, before);
                cur.push(Piece::If(c, inner));
            }
        }
        rest = &after[n.len()..];
    }
    text_buf.push_str(rest);
    if let Some((c, _, pos)) = stack.pop() {
        let n = NAMES
            .iter()
            .find(|(_, t)| matches!(t, Token::If(x) if *x == c))
            .map(|(n, _)| *n)
            .unwrap_or("if");
        return Err(Error::invalid(
            field,
            format!("%%{n} at character {pos} has no %%endif"),
        ));
    }
    if !text_buf.is_empty() {
        cur.push(Piece::Text(text_buf));
    }
    Ok(Template { pieces: cur })
}

fn available(kind: TemplateKind) -> String {
    let names: Vec<String> = allowed(kind)
        .iter()
        .map(|p| format!("%%{}", name(*p)))
        .collect();
    let mut s = format!("available here: {}", names.join(" "));
    if kind == TemplateKind::Annotation {
        s.push_str(" and %%ifblurred %%ifnotblurred %%ifconcealed %%ifnotconcealed … %%endif");
    }
    s
}

/// The six templates of an export format, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// `base_format`.
    pub base: Template,
    /// `image_format` (`%%annotations` when the format has none).
    pub image: Template,
    /// `annotation_format`.
    pub annotation: Template,
    /// `vector_format`.
    pub vector: Template,
    /// `not_in_image_format`.
    pub not_in_image: Template,
    /// `name_format`.
    pub name: Template,
}

impl Templates {
    /// Parses every template of `f`; the error names the first bad one.
    pub fn of(f: &crate::model::ExportFormat) -> Result<Templates> {
        let image = match f.image_format.as_deref() {
            Some(t) => parse("image_format", TemplateKind::Image, t)?,
            None if f.image_aggregation => Template {
                pieces: vec![Piece::Value(Placeholder::Annotations)],
            },
            None => Template::default(),
        };
        Ok(Templates {
            base: parse("base_format", TemplateKind::Base, &f.base_format)?,
            image,
            annotation: parse(
                "annotation_format",
                TemplateKind::Annotation,
                &f.annotation_format,
            )?,
            vector: parse("vector_format", TemplateKind::Vector, &f.vector_format)?,
            not_in_image: parse(
                "not_in_image_format",
                TemplateKind::NotInImage,
                &f.not_in_image_format,
            )?,
            name: parse("name_format", TemplateKind::FileName, &f.name_format)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_name_wins_and_text_stays() {
        let t = parse("f", TemplateKind::Annotation, "%%imagenamefoo 100%% %%relx").unwrap_err();
        assert!(t.to_string().contains("%%relx"), "{t}");
        let t = parse("f", TemplateKind::Annotation, "%%imagenamefoo 100%% ok").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Value(P::ImageName),
                Piece::Text("foo 100%% ok".into())
            ]
        );
    }

    #[test]
    fn conditionals_nest() {
        let t = parse(
            "f",
            TemplateKind::Annotation,
            "a%%ifblurred b%%ifnotconcealed c%%endif%%endif",
        )
        .unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Text("a".into()),
                Piece::If(
                    Cond::Blurred,
                    vec![
                        Piece::Text(" b".into()),
                        Piece::If(Cond::NotConcealed, vec![Piece::Text(" c".into())])
                    ]
                )
            ]
        );
    }

    #[test]
    fn errors_name_what_and_where() {
        let e = parse("annotation_format", TemplateKind::Annotation, "ab%%typo").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown placeholder %%typo at character 3"),
            "{e}"
        );
        let e = parse("f", TemplateKind::Annotation, "%%endif").unwrap_err();
        assert!(e.to_string().contains("closes no"), "{e}");
        let e = parse("f", TemplateKind::Annotation, "x%%ifconcealed y").unwrap_err();
        assert!(
            e.to_string()
                .contains("%%ifconcealed at character 2 has no %%endif"),
            "{e}"
        );
        let e = parse("f", TemplateKind::Base, "%%ifblurred%%endif").unwrap_err();
        assert!(
            e.to_string()
                .contains("only available in annotation_format"),
            "{e}"
        );
        let e = parse("name_format", TemplateKind::FileName, "%%type.txt").unwrap_err();
        assert!(e.to_string().contains("not available here"), "{e}");
    }
}
