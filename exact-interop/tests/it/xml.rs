//! ASAP and Aperio ImageScope XML: files written from the formats' documentation (ASAP's
//! `XmlRepository`, ImageScope's annotation files) read as those tools mean them, round trips,
//! and malformed files refused naming the annotation or region, with nothing written.

use crate::world;
use exact_core::ErrorKind;
use exact_interop::{Format, ImportOptions};
use std::path::PathBuf;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn on_a(format: Option<Format>, create: bool) -> ImportOptions {
    ImportOptions {
        format,
        image: Some("slide_a.svs".into()),
        create_missing: create,
        ..Default::default()
    }
}

#[test]
fn asap_documented_file_reads_as_asap_means_it() {
    let w = world();
    let file = read("asap.xml");
    assert_eq!(Format::detect(&file), Some(Format::Asap));
    let r = w.import(w.set, &file, &on_a(None, true)).unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!((r.format, r.created), ("asap", 6), "{r:?}");
    assert_eq!(r.created_types, ["Lymphocyte", "unclassified"]);
    assert_eq!(w.type_named("Lymphocyte").color_code, "#0000FF");
    assert_eq!(
        w.type_named("Lymphocyte").vector_type,
        exact_core::VectorType::Point
    );
    assert_eq!(w.type_named("unclassified").color_code, "#64FE2E");
    let got = w.snapshot(w.set).join("\n");
    for want in [
        // Coordinates put in their Order; ASAP's default name is no remark.
        r##"slide_a.svs|tumor|{"x1":1000,"y1":1000,"x2":2000,"y2":1000,"x3":2000,"y3":2000,"x4":1000,"y4":2000}|"##,
        r##"|d=false b=false c=false|""|null|"##,
        // A Rectangle into a box type, sub-pixel; its Name is the remark.
        r##"slide_a.svs|mitosis|{"x1":100.5,"y1":200,"x2":150.5,"y2":260}|"##,
        r##"|"big one"|null|"##,
        // A PointSet: one point per coordinate.
        r##"{"part":[1,2]}"##,
        r##"{"part":[2,2]}"##,
        // A Spline in no group: its control points as a polygon, type unclassified.
        r##"slide_a.svs|unclassified|{"x1":500,"y1":500,"x2":900,"y2":520,"x3":700,"y3":800}|"##,
    ] {
        assert!(got.contains(want), "missing\n{want}\nin\n{got}");
    }
    assert!(
        got.lines().any(|l| l
            .starts_with(r#"slide_a.svs|Lymphocyte|{"x1":2975,"y1":3075,"x2":3025,"y2":3125}"#)),
        "{got}"
    );
    // The same file again: nothing new (same image, type and geometry).
    let again = w.import(w.set, &file, &on_a(None, true)).unwrap();
    assert_eq!(
        (again.created, again.skipped_duplicates),
        (0, 6),
        "{again:?}"
    );
}

#[test]
fn imagescope_documented_file_reads_as_imagescope_means_it() {
    let w = world();
    let file = read("imagescope.xml");
    assert_eq!(Format::detect(&file), Some(Format::ImageScope));
    let r = w.import(w.set, &file, &on_a(None, true)).unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!((r.format, r.created), ("imagescope", 6), "{r:?}");
    assert_eq!(r.created_types, ["Tumor", "layer 2"]);
    // LineColor is BGR: 65280 is green, 255 red.
    assert_eq!(w.type_named("Tumor").color_code, "#00FF00");
    assert_eq!(w.type_named("layer 2").color_code, "#FF0000");
    let got = w.snapshot(w.set).join("\n");
    for want in [
        // ISO-8859-1 text decoded; region and layer attributes kept.
        r##"slide_a.svs|Tumor|{"x1":1000,"y1":1000,"x2":2000,"y2":1000,"x3":1500.5,"y3":1800.25}|"##,
        r##"|"invasive 5 µm"|{"imagescope":{"attributes":{"1":"checked"},"layer_attributes":{"Description":"grade 2"}}}|"##,
        // A negative region (cut out of its layer) is marked.
        r##""negative":true"##,
        // A rectangle (polygon type created from it), an ellipse into a point type (its box).
        r##"slide_a.svs|layer 2|{"x1":100,"y1":200,"x2":150,"y2":200,"x3":150,"y3":260,"x4":100,"y4":260}|"##,
        r##"slide_a.svs|cell|{"x1":300,"y1":300,"x2":340,"y2":360}|"##,
        // Arrow and ruler as lines; the arrow says it was one.
        r##"slide_a.svs|ruler|{"x1":10,"y1":10,"x2":90,"y2":40}|"##,
        r##"|"look here"|{"imagescope":{"type":"arrow"}}|"##,
        r##"slide_a.svs|ruler|{"x1":20,"y1":500,"x2":520,"y2":500}|"##,
    ] {
        assert!(got.contains(want), "missing\n{want}\nin\n{got}");
    }
}

#[test]
fn xml_exports_state_their_frame_and_declare_every_group() {
    let w = world();
    w.populate();
    let asap = String::from_utf8(w.export(w.set, Format::Asap)).unwrap();
    assert!(asap.contains("level-0 pixels, origin top-left"), "{asap}");
    for g in ["mitosis", "tumor", "cell", "ruler", "path", "quality"] {
        assert!(
            asap.contains(&format!("<Group Name=\"{g}\" PartOfGroup=\"None\"")),
            "{g}"
        );
    }
    assert!(asap.contains("Type=\"Rectangle\""));
    assert!(asap.contains("Type=\"Dot\""));
    let scope = String::from_utf8(w.export(w.set, Format::ImageScope)).unwrap();
    assert!(scope.contains("level-0 pixels, origin top-left"));
    // mitosis is #FF0000: BGR 255.
    assert!(
        scope.contains("Name=\"mitosis\" ReadOnly=\"0\" NameReadOnly=\"0\" LineColorReadOnly=\"0\" Incremental=\"0\" Type=\"4\" LineColor=\"255\""),
        "{scope}"
    );
    assert!(scope.contains("Type=\"1\""), "rectangle regions");
    assert!(scope.contains("Type=\"2\""), "ellipse regions for points");
    assert!(scope.contains("Type=\"4\" Zoom"), "ruler regions for lines");
}

fn err(r: exact_core::Result<exact_interop::ImportReport>) -> String {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
            e.to_string()
        }
        Ok(rep) => {
            assert!(!rep.written && rep.created == 0, "{rep:?}");
            assert!(!rep.refused.is_empty(), "{rep:?}");
            format!("{}: {}", rep.refused[0].place, rep.refused[0].reason)
        }
    }
}

const ASAP_GOOD: &str = r##"<Annotation Name="a" Type="Dot" PartOfGroup="cell" Color="#0000FF"><Coordinates><Coordinate Order="0" X="5" Y="5"/></Coordinates></Annotation>"##;

fn asap(annotations: &str, groups: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<ASAP_Annotations>\n<Annotations>\n{ASAP_GOOD}\n{annotations}\n</Annotations>\n<AnnotationGroups>{groups}</AnnotationGroups>\n</ASAP_Annotations>\n"
    )
}

#[test]
fn malformed_asap_is_refused_naming_the_annotation() {
    let w = world();
    let cell = r##"<Group Name="cell" PartOfGroup="None" Color="#0000FF"/>"##;
    let cases = [
        // Truncated inside an annotation.
        (
            asap("", cell)[..90].to_owned(),
            "(line 4): not well-formed XML",
        ),
        (
            asap(
                r##"<Annotation Name="b" Type="Hexagon" PartOfGroup="cell"><Coordinates><Coordinate Order="0" X="1" Y="1"/></Coordinates></Annotation>"##,
                cell,
            ),
            "annotation 2 (line 5): unknown Type \"Hexagon\"",
        ),
        (
            asap(
                r##"<Annotation Name="b" Type="Dot" PartOfGroup="cell"><Coordinates><Coordinate Order="0" X="one" Y="1"/></Coordinates></Annotation>"##,
                cell,
            ),
            "annotation 2: coordinate 1 (line 5): X=\"one\" is not a number",
        ),
        (
            asap(
                r##"<Annotation Name="b" Type="Polygon" PartOfGroup="tumor"><Coordinates><Coordinate Order="0" X="1" Y="1"/><Coordinate Order="0" X="2" Y="1"/><Coordinate Order="2" X="2" Y="2"/></Coordinates></Annotation>"##,
                &format!("{cell}<Group Name=\"tumor\"/>"),
            ),
            "coordinate Order 0 appears twice",
        ),
        (
            asap(
                r##"<Annotation Name="b" Type="Polygon" PartOfGroup="tumor"><Coordinates><Coordinate Order="7" X="1" Y="1"/><Coordinate Order="1" X="2" Y="1"/><Coordinate Order="2" X="2" Y="2"/></Coordinates></Annotation>"##,
                &format!("{cell}<Group Name=\"tumor\"/>"),
            ),
            "coordinate Order 7 is outside 0..3",
        ),
        // A group that is not declared: ASAP refuses the file, so do we.
        (
            asap("", ""),
            "annotation 1 (line 4): PartOfGroup \"cell\" is not declared",
        ),
        // Mismatched tags.
        (
            "<ASAP_Annotations><Annotations></Annotation></ASAP_Annotations>".to_owned(),
            "not well-formed XML",
        ),
        (
            "<Other><Annotations/></Other>".to_owned(),
            "the root element is <Other>",
        ),
        // Outside the 10,000² image.
        (
            asap(
                r##"<Annotation Name="b" Type="Dot" PartOfGroup="cell"><Coordinates><Coordinate Order="0" X="10001" Y="1"/></Coordinates></Annotation>"##,
                cell,
            ),
            "outside image \"slide_a.svs\"",
        ),
    ];
    for (text, want) in cases {
        let got = err(w.import(w.set, text.as_bytes(), &on_a(Some(Format::Asap), false)));
        assert!(got.contains(want), "{want:?} not in {got:?}");
    }
    assert_eq!(w.snapshot(w.set), Vec::<String>::new(), "nothing written");
}

fn scope(regions: &str) -> String {
    format!(
        "<Annotations>\n<Annotation Id=\"1\" Name=\"tumor\" LineColor=\"255\">\n<Regions>\n<Region Id=\"1\" Type=\"0\"><Vertices><Vertex X=\"1\" Y=\"1\"/><Vertex X=\"9\" Y=\"1\"/><Vertex X=\"5\" Y=\"9\"/></Vertices></Region>\n{regions}\n</Regions>\n</Annotation>\n</Annotations>\n"
    )
}

#[test]
fn malformed_imagescope_is_refused_naming_the_region() {
    let w = world();
    let cases = [
        (
            scope(
                r##"<Region Id="7" Type="9"><Vertices><Vertex X="1" Y="1"/></Vertices></Region>"##,
            ),
            "layer 1 (\"tumor\") region 2 (Id 7, line 5): unknown region Type \"9\"",
        ),
        (
            scope(
                r##"<Region Id="7" Type="1"><Vertices><Vertex X="1" Y="1"/><Vertex X="2" Y="1"/><Vertex X="2" Y="2"/></Vertices></Region>"##,
            ),
            "a rectangle (Type 1) with 3 vertices",
        ),
        (
            scope(
                r##"<Region Id="7" Type="0"><Vertices><Vertex X="1" Y="1"/><Vertex X="NaN" Y="1"/></Vertices></Region>"##,
            ),
            "region 2 (Id 7, line 5): vertex 2: X=\"NaN\" is not a number",
        ),
        (scope("")[..120].to_owned(), "(line 4): not well-formed XML"),
        (
            scope("")
                .split("<Vertex X=\"9\"")
                .next()
                .unwrap()
                .to_owned(),
            "(line 4): the file ends inside <Vertices> (truncated?)",
        ),
        (
            r#"<Annotations><Region Id="1"/></Annotations>"#.to_owned(),
            "a <Region> outside an <Annotation>",
        ),
        // An arrow into a polygon type.
        (
            scope(
                r##"<Region Id="7" Type="3"><Vertices><Vertex X="1" Y="1"/><Vertex X="2" Y="1"/></Vertices></Region>"##,
            ),
            "a line cannot be an annotation of type \"tumor\"",
        ),
        // A layer that names an unknown class, without --create-missing.
        (
            scope("").replace("Name=\"tumor\"", "Name=\"Stroma\""),
            "unknown class \"Stroma\"",
        ),
    ];
    for (text, want) in cases {
        let got = err(w.import(
            w.set,
            text.as_bytes(),
            &on_a(Some(Format::ImageScope), false),
        ));
        assert!(got.contains(want), "{want:?} not in {got:?}");
    }
    assert_eq!(w.snapshot(w.set), Vec::<String>::new(), "nothing written");
}

#[test]
fn xml_nested_ten_thousand_deep_is_an_error_not_a_crash() {
    let w = world();
    let deep = format!(
        "<ASAP_Annotations><Annotations>{}{}</Annotations></ASAP_Annotations>",
        "<a>".repeat(10_000),
        "</a>".repeat(9_999)
    );
    let got = err(w.import(w.set, deep.as_bytes(), &on_a(Some(Format::Asap), false)));
    assert!(got.contains("not well-formed XML"), "{got}");
    // Well-formed but deep: read through, nothing in it.
    let deep = format!(
        "<Annotations>{}{}</Annotations>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    let r = w
        .import(
            w.set,
            deep.as_bytes(),
            &on_a(Some(Format::ImageScope), false),
        )
        .unwrap();
    assert_eq!(r.read, 0);
}
