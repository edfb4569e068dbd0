//! EXACT's export formats (`exact:<name>`) rendered against a real in-memory store: every
//! placeholder one by one against the text EXACT writes (numbers checked against Python's
//! `str()` of the same arithmetic), conditionals, the deleted / blurred / concealed rules,
//! per-image aggregation, the `,}` fix, kept exports and bad templates.

use exact_core::catalog::{
    NewAnnotation, NewAnnotationType, NewExportFormat, NewImage, NewImageSet, NewProduct, NewTeam,
    NewUser,
};
use exact_core::model::VectorType;
use exact_core::{
    Actor, AnnotationTypeId, Clock, ErrorKind, ImageId, ImageSetId, Point, TeamId, Timestamp,
    Vector,
};
use exact_interop::ExportOptions;
use exact_interop::exact_template::{coord, py_float, py_time};
use exact_store::{Exact, ExactConfig};
use serde_json::json;
use std::sync::Arc;

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::parse("t", "2026-01-02T03:04:05.000000").unwrap()
    }
}

struct W {
    exact: Exact,
    me: Actor,
    team: TeamId,
    set: ImageSetId,
    image: ImageId,
    other_image: ImageId,
    boxes: AnnotationTypeId,
    point: AnnotationTypeId,
    poly: AnnotationTypeId,
    global: AnnotationTypeId,
}

const UUID: &str = "8e7f3c2a-0000-4000-8000-000000000001";

/// alice in team "pathology"; set "mitoses" (location "lab 3", description "HE slides") with
/// image `a.svs` (1000 × 500) holding one box (10,20)–(110,70), and an empty `b.svs`.
fn world() -> W {
    let exact = Exact::open(ExactConfig::memory())
        .unwrap()
        .with_clock(Arc::new(Fixed));
    let alice = exact.users().register(NewUser::new("alice")).unwrap();
    let me = exact.actor(alice.id).unwrap();
    let team = exact
        .teams()
        .create(&me, NewTeam::new("pathology"))
        .unwrap();
    let me = exact.actor(alice.id).unwrap();
    let mut ns = NewImageSet::new("mitoses", team.id);
    ns.location = "lab 3".into();
    ns.description = "HE slides".into();
    let set = exact.image_sets().create(&me, ns).unwrap();
    let product = exact
        .products()
        .create(
            &me,
            NewProduct {
                name: "cells".into(),
                team: Some(team.id),
                imagesets: vec![set.id],
                ..Default::default()
            },
        )
        .unwrap();
    let ty = |name: &str, vt| {
        let mut t = NewAnnotationType::new(name, vt, product.id);
        t.enable_concealed = true;
        t.enable_blurred = true;
        exact.annotation_types().create(&me, t).unwrap().id
    };
    let boxes = ty("mitosis", VectorType::BoundingBox);
    let point = ty("cell", VectorType::Point);
    let poly = ty("tumor", VectorType::Polygon);
    let global = ty("quality", VectorType::Global);
    let image = exact
        .images()
        .add(&me, NewImage::new(set.id, "a.svs", 1000, 500))
        .unwrap()
        .id;
    let other_image = exact
        .images()
        .add(&me, NewImage::new(set.id, "b.svs", 2000, 1000))
        .unwrap()
        .id;
    let w = W {
        exact,
        me,
        team: team.id,
        set: set.id,
        image,
        other_image,
        boxes,
        point,
        poly,
        global,
    };
    let mut a = NewAnnotation::new(boxes, image, Some(Vector::rect(10.0, 20.0, 110.0, 70.0)));
    a.meta_data = json!({"score": 0.5});
    a.unique_identifier = Some(UUID.parse().unwrap());
    w.exact.annotations().create_many(&w.me, vec![a]).unwrap();
    w
}

fn format(w: &W, annotation: &str) -> NewExportFormat {
    NewExportFormat {
        name: "t".into(),
        team: Some(w.team),
        annotations_types: vec![w.boxes, w.point, w.poly, w.global],
        base_format: "%%content".into(),
        annotation_format: annotation.into(),
        vector_format: "\"x%%count1\": %%x,\"y%%count1\": %%y,".into(),
        not_in_image_format: "%%imagename|%%type|not in image".into(),
        name_format: "export_%%exportid.txt".into(),
        include_blurred: true,
        include_concealed: true,
        ..Default::default()
    }
}

fn render_with(w: &W, f: NewExportFormat) -> String {
    let mut f = f;
    f.name = format!("f{}", w.exact.export_formats().list(&w.me).unwrap().len());
    let f = w.exact.export_formats().create(&w.me, f).unwrap();
    let mut out = Vec::new();
    w.exact
        .interop()
        .export_template(&w.me, w.set, &f, &mut out, &mut |_| {})
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// The single annotation rendered through `annotation_format` alone.
fn one(w: &W, annotation: &str) -> String {
    let s = render_with(w, format(w, annotation));
    s.strip_prefix('\n')
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{s:?}"))
        .to_owned()
}

#[test]
fn python_number_and_time_forms() {
    for (f, s) in [
        (75.0, "75.0"),
        (0.1, "0.1"),
        (1e-5, "1e-05"),
        (0.00012, "0.00012"),
        (1.5e16, "1.5e+16"),
        (1e16, "1e+16"),
        (123456789012345.0, "123456789012345.0"),
        (0.056249999999999994, "0.056249999999999994"),
    ] {
        assert_eq!(py_float(f), s);
    }
    assert_eq!(coord(12.0), "12");
    assert_eq!(coord(12.5), "12.5");
    assert_eq!(
        py_time(Timestamp::parse("t", "2026-01-02T03:04:05.000000").unwrap()),
        "2026-01-02 03:04:05"
    );
    assert_eq!(
        py_time(Timestamp::parse("t", "2026-01-02T03:04:05.000120").unwrap()),
        "2026-01-02 03:04:05.000120"
    );
}

#[test]
fn every_annotation_placeholder() {
    let w = world();
    // Expected values: Python's str() of EXACT's arithmetic for a 100 × 50 box at (10, 20)
    // on a 1000 × 500 image.
    for (t, want) in [
        ("%%imageset", "mitoses"),
        ("%%imagename", "a.svs"),
        ("%%imagewidth", "1000"),
        ("%%imageheight", "500"),
        ("%%type", "mitosis"),
        ("%%frame", "1"),
        ("%%first_editor", "alice"),
        ("%%last_editor", "alice"),
        ("%%first_timepoint", "2026-01-02 03:04:05"),
        ("%%last_timepoint", "2026-01-02 03:04:05"),
        ("%%UUID", UUID),
        ("%%meta_data", r#"{"score":0.5}"#),
        ("%%deleted", "False"),
        ("%%rad", "37.5"),
        ("%%dia", "75.0"),
        ("%%cx", "60.0"),
        ("%%cy", "45.0"),
        ("%%minx", "10"),
        ("%%maxx", "110"),
        ("%%miny", "20"),
        ("%%maxy", "70"),
        ("%%width", "100"),
        ("%%height", "50"),
        ("%%relrad", "0.056249999999999994"),
        ("%%reldia", "0.11249999999999999"),
        ("%%relcx", "0.06"),
        ("%%relcy", "0.09"),
        ("%%relminx", "0.01"),
        ("%%relmaxx", "0.11"),
        ("%%relminy", "0.04"),
        ("%%relmaxy", "0.14"),
        ("%%relwidth", "0.1"),
        ("%%relheight", "0.1"),
        ("%%vector", "\"x1\": 10,\"y1\": 20,\"x2\": 110,\"y2\": 70,"),
    ] {
        assert_eq!(one(&w, &format!("<{t}>")), format!("<{want}>"), "{t}");
    }
}

#[test]
fn every_vector_placeholder() {
    let w = world();
    for (t, want) in [
        ("%%count0;", "0;1;"),
        ("%%count1;", "1;2;"),
        ("%%x;", "10;110;"),
        ("%%y;", "20;70;"),
        ("%%relx;", "0.01;0.11;"),
        ("%%rely;", "0.04;0.14;"),
        ("%%br", "\n\n"),
    ] {
        let mut f = format(&w, "%%vector");
        f.vector_format = t.into();
        let s = render_with(&w, f);
        assert_eq!(s, format!("\n{want}\n"), "{t}");
    }
}

#[test]
fn exacts_default_format_and_the_trailing_comma_fix() {
    let w = world();
    // EXACT's defaults: `%%imagename|%%type|{%%vector}|` with `"x%%count1": %%x,…,`.
    assert_eq!(
        one(&w, "%%imagename|%%type|{%%vector}|"),
        r#"a.svs|mitosis|{"x1": 10,"y1": 20,"x2": 110,"y2": 70}|"#
    );
    // Commas inside the template text before `}` go too; values are left alone.
    assert_eq!(one(&w, "{a,},{%%type,,}"), "{a},{mitosis}");
    let mut f = format(&w, "[%%imageset]{%%vector}");
    f.vector_format = "%%x,".into();
    // Base and image templates keep their commas.
    f.base_format = "{x,}%%content".into();
    let s = render_with(&w, f);
    assert_eq!(s, "{x,}\n[mitoses]{10,110}\n");
}

#[test]
fn values_are_not_read_as_placeholders() {
    let w = world();
    let p = exact_core::catalog::ImageSetPatch {
        name: Some("%%type,}".into()),
        ..Default::default()
    };
    w.exact.image_sets().update(&w.me, w.set, p).unwrap();
    // EXACT would replace `%%type` inside the set's name and drop its comma.
    assert_eq!(one(&w, "%%imageset|%%type"), "%%type,}|mitosis");
}

#[test]
fn conditionals_and_flags() {
    let w = world();
    let t = "%%ifblurred B%%endif%%ifnotblurred nb%%endif%%ifconcealed C%%endif%%ifnotconcealed nc%%endif";
    assert_eq!(one(&w, t), " nb nc");
    let mut a = NewAnnotation::new(
        w.point,
        w.other_image,
        Some(Vector::rect(1.0, 2.0, 3.0, 4.0)),
    );
    a.blurred = true;
    a.concealed = true;
    w.exact.annotations().create_many(&w.me, vec![a]).unwrap();
    let s = render_with(&w, format(&w, &format!("%%imagename{t}")));
    assert_eq!(s, "\na.svs nb nc\nb.svs B C\n");
    // Nested conditionals work (EXACT cuts at the first %%endif).
    let s = render_with(
        &w,
        format(&w, "%%ifblurred[b%%ifconcealed c%%endif]%%endif"),
    );
    assert_eq!(s, "\n\n[b c]\n");
    // Left out unless included.
    let mut f = format(&w, "%%imagename");
    f.include_blurred = false;
    assert_eq!(render_with(&w, f), "\na.svs\n");
    let mut f = format(&w, "%%imagename");
    f.include_concealed = false;
    assert_eq!(render_with(&w, f), "\na.svs\n");
}

#[test]
fn deleted_types_and_not_in_image() {
    let w = world();
    let mut d = NewAnnotation::new(
        w.poly,
        w.image,
        Some(Vector::new(vec![
            Point::new(0.0, 0.0),
            Point::new(10.0, 0.0),
            Point::new(0.0, 10.5),
        ])),
    );
    d.deleted = true;
    let g = NewAnnotation::new(w.global, w.other_image, None);
    w.exact
        .annotations()
        .create_many(&w.me, vec![d, g])
        .unwrap();
    // Deleted annotations only when the annotation template says "deleted".
    assert_eq!(
        render_with(&w, format(&w, "%%type")),
        "\nmitosis\nb.svs|quality|not in image\n"
    );
    assert_eq!(
        render_with(&w, format(&w, "%%type %%deleted %%maxy")),
        "\nmitosis False 70\ntumor True 10.5\nb.svs|quality|not in image\n"
    );
    // Only the format's types.
    let mut f = format(&w, "%%type");
    f.annotations_types = vec![w.global];
    assert_eq!(render_with(&w, f), "\nb.svs|quality|not in image\n");
    // Not-in-image placeholders.
    let mut f = format(&w, "%%type");
    f.annotations_types = vec![w.global];
    f.not_in_image_format = "%%imageset|%%imagename|%%imagewidth|%%imageheight|%%type".into();
    assert_eq!(render_with(&w, f), "\nmitoses|b.svs|2000|1000|quality\n");
}

#[test]
fn point_centre_and_diameter() {
    let w = world();
    let p = NewAnnotation::new(
        w.point,
        w.other_image,
        Some(Vector::rect(30.0, 40.0, 50.0, 60.0)),
    );
    w.exact.annotations().create_many(&w.me, vec![p]).unwrap();
    let mut f = format(&w, "%%cx,%%cy,%%dia,%%rad,%%width");
    f.annotations_types = vec![w.point];
    // EXACT: a point's centre is its first node, its diameter 0.
    assert_eq!(render_with(&w, f), "\n30,40,0.0,0.0,20\n");
}

#[test]
fn base_placeholders_view_and_aggregation() {
    let w = world();
    w.exact
        .log_image_actions()
        .log(
            &w.me,
            w.image,
            exact_core::model::LogAction::Open,
            "127.0.0.1",
        )
        .unwrap();
    let mut f = format(&w, "%%type");
    f.base_format = "%%imageset|%%setdescription|%%team|%%setlocation\n%%view--%%content--".into();
    assert_eq!(
        render_with(&w, f),
        "mitoses|HE slides|pathology|lab 3\n[a.svs|alice|2026-01-02 03:04:05|1]\n--\nmitosis\n--"
    );
    // Per image: images without exported annotations are left out; the count may come first.
    let b = NewAnnotation::new(w.boxes, w.image, Some(Vector::rect(0.0, 0.0, 5.0, 5.0)));
    w.exact.annotations().create_many(&w.me, vec![b]).unwrap();
    let mut f = format(&w, "  %%minx");
    f.image_aggregation = true;
    f.image_format =
        Some("%%imagename (%%imagewidth×%%imageheight, %%imageset, frame %%frame): %%annoamount\n%%annotations".into());
    let s = render_with(&w, f);
    let mut lines: Vec<&str> = s.lines().collect();
    lines[2..4].sort();
    assert_eq!(
        lines,
        vec![
            "",
            "a.svs (1000×500, mitoses, frame 1): 2",
            "  0",
            "  10",
            "",
        ]
    );
    assert!(s.ends_with("  10\n\n") || s.ends_with("  0\n\n"), "{s:?}");
    // Aggregated without an image template: the annotations themselves.
    let mut f = format(&w, "%%minx");
    f.image_aggregation = true;
    assert!(render_with(&w, f).starts_with('\n'));
}

#[test]
fn kept_exports_and_names() {
    let w = world();
    let mut f = format(&w, "%%imagename|%%type|{%%vector}|");
    f.name_format = "%%imageset-%%team-%%setlocation-%%exportid.txt".into();
    let f = w.exact.export_formats().create(&w.me, f).unwrap();
    let e = w.exact.interop().create_export(&w.me, w.set, f.id).unwrap();
    assert_eq!(e.annotation_count, 1);
    assert_eq!(
        e.filename,
        format!("mitoses-pathology-lab 3-{}.txt", e.id.0)
    );
    assert_eq!(
        e.export_text,
        "\na.svs|mitosis|{\"x1\": 10,\"y1\": 20,\"x2\": 110,\"y2\": 70}|\n"
    );
    assert_eq!(w.exact.exports().get(&w.me, e.id).unwrap(), e);
    assert_eq!(
        w.exact.exports().of_set(&w.me, w.set).unwrap(),
        vec![e.clone()]
    );
    assert!(!w.exact.exports().deprecated(&e).unwrap());
    // By name, through the same entry point as the other formats.
    let mut out = Vec::new();
    w.exact
        .interop()
        .export_named(
            &w.me,
            w.set,
            "exact:t",
            &ExportOptions::default(),
            &mut out,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), e.export_text);
    let err = w
        .exact
        .interop()
        .export_named(
            &w.me,
            w.set,
            "exact:nope",
            &ExportOptions::default(),
            &mut Vec::new(),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("no export format named \"nope\""),
        "{err}"
    );
    // Deleting keeps the record restorable.
    w.exact.exports().delete(&w.me, e.id).unwrap();
    assert_eq!(
        w.exact.exports().get(&w.me, e.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    w.exact.exports().restore(&w.me, e.id).unwrap();
    w.exact.export_formats().delete(&w.me, f.id).unwrap();
    assert!(w.exact.exports().deprecated(&e).unwrap());
    assert!(w.exact.export_formats().list(&w.me).unwrap().is_empty());
    w.exact.export_formats().restore(&w.me, f.id).unwrap();
    // Another user sees neither the format nor the export.
    let bob = w.exact.users().register(NewUser::new("bob")).unwrap();
    let bob = w.exact.actor(bob.id).unwrap();
    assert_eq!(
        w.exact.exports().get(&bob, e.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.exact
            .export_formats()
            .update(&bob, f.id, format(&w, "x"))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn bad_templates_are_refused_naming_field_and_place() {
    let w = world();
    for (f, field, says) in [
        (
            format(&w, "%%type %%typo"),
            "annotation_format",
            "unknown placeholder %%typo at character 8",
        ),
        (
            format(&w, "%%ifblurred x"),
            "annotation_format",
            "has no %%endif",
        ),
        (
            NewExportFormat {
                base_format: "%%vector".into(),
                ..format(&w, "")
            },
            "base_format",
            "%%vector at character 1 is not available here",
        ),
        (
            NewExportFormat {
                vector_format: "%%type".into(),
                ..format(&w, "")
            },
            "vector_format",
            "not available here",
        ),
        (
            NewExportFormat {
                name_format: "%%x.txt".into(),
                ..format(&w, "")
            },
            "name_format",
            "not available here",
        ),
        (
            NewExportFormat {
                image_format: Some("%%endif".into()),
                ..format(&w, "")
            },
            "image_format",
            "closes no",
        ),
    ] {
        let e = w.exact.export_formats().create(&w.me, f).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let s = e.to_string();
        assert!(s.contains(field) && s.contains(says), "{s}");
    }
    assert!(w.exact.export_formats().list(&w.me).unwrap().is_empty());
}
