//! Bad input: a clear error or refusal naming the feature, row or line, and nothing written.

use crate::world;
use exact_core::ErrorKind;
use exact_interop::{Format, ImportOptions};

fn opts(format: Format) -> ImportOptions {
    ImportOptions {
        format: Some(format),
        image: Some("slide_a.svs".into()),
        ..Default::default()
    }
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

const GOOD: &str = r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]},"properties":{"classification":{"name":"cell"}}}"#;

#[test]
fn malformed_geojson_is_refused_naming_the_feature() {
    let w = world();
    let cases = [
        (format!("[{GOOD},{GOOD},{{\"type\":\"Feature\",\"geometry\":"), "feature 3 (line 1"),
        (format!("[{GOOD},{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[\"a\",1]}}}}]"), "feature 2"),
        (format!("[{GOOD},{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Hexagon\",\"coordinates\":[]}}}}]"), "unknown geometry type \"Hexagon\""),
        (format!("[{GOOD},{{\"type\":\"Feature\",\"id\":\"nope\",\"geometry\":null}}]"), "id \"nope\" is not a UUID"),
        ("{\"type\":\"Topology\"}".to_owned(), "neither FeatureCollection nor Feature"),
        // Unknown class without --create-missing: reported, not created.
        (r#"[{"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]},"properties":{"classification":{"name":"Stroma"}}}]"#.to_owned(), "unknown class \"Stroma\""),
        // Outside the 10,000² image.
        (r#"[{"type":"Feature","geometry":{"type":"Point","coordinates":[10001,5]},"properties":{"classification":{"name":"cell"}}}]"#.to_owned(), "outside image \"slide_a.svs\""),
        // A polygon for a box type that is no rectangle.
        (r#"[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[9,0],[5,9],[0,0]]]},"properties":{"classification":{"name":"mitosis"}}}]"#.to_owned(), "not an axis-aligned rectangle"),
    ];
    for (text, want) in cases {
        let got = err(w.import(w.set, text.as_bytes(), &opts(Format::GeoJson)));
        assert!(got.contains(want), "{want:?} not in {got:?}");
    }
    assert_eq!(w.snapshot(w.set), Vec::<String>::new(), "nothing written");
}

#[test]
fn geojson_nested_ten_thousand_deep_is_an_error_not_a_crash() {
    let w = world();
    let deep = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":{}{}}}}}]}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let got = err(w.import(w.set, deep.as_bytes(), &opts(Format::GeoJson)));
    assert!(got.contains("recursion limit"), "{got}");
    let props = format!(
        "[{{\"type\":\"Feature\",\"properties\":{}{}}}]",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    let got = err(w.import(w.set, props.as_bytes(), &opts(Format::GeoJson)));
    assert!(got.contains("feature 1"), "{got}");
}

#[test]
fn absurd_sizes_are_refused() {
    let w = world();
    let many: Vec<String> = (0..100_002)
        .map(|i| format!("[{},{}]", i % 9000, i % 7000))
        .collect();
    let huge = format!(
        r#"[{{"type":"Feature","geometry":{{"type":"LineString","coordinates":[{}]}},"properties":{{"classification":{{"name":"path"}}}}}}]"#,
        many.join(",")
    );
    let got = err(w.import(w.set, huge.as_bytes(), &opts(Format::GeoJson)));
    assert!(got.contains("more than 100000"), "{got}");
    let rle = r#"{"images":[{"id":1,"file_name":"slide_a.svs"}],"categories":[{"id":1,"name":"tumor"}],
        "annotations":[{"id":5,"image_id":1,"category_id":1,"segmentation":{"counts":"0","size":[1000000,1000000]}}]}"#;
    let got = err(w.import(w.set, rle.as_bytes(), &opts(Format::Coco)));
    assert!(
        got.contains("annotation 1 (id 5)") && got.contains("larger than"),
        "{got}"
    );
}

#[test]
fn malformed_csv_coco_and_label_lines_name_their_row() {
    let w = world();
    let csv = "image,type,vector\nslide_a.svs,mitosis,\"{\"\"x1\"\":1,\"\"y1\"\":1,\"\"x2\"\":5,\"\"y2\"\":5}\"\nslide_a.svs,mitosis,{oops\n";
    let got = err(w.import(w.set, csv.as_bytes(), &opts(Format::Csv)));
    assert!(got.contains("row 2 (line 3): vector"), "{got}");
    let got = err(w.import(w.set, b"name,class\nx,y\n", &opts(Format::Csv)));
    assert!(
        got.contains("needs the columns image, type and vector"),
        "{got}"
    );
    let coco = r#"{"images":[{"id":1,"file_name":"slide_a.svs"}],"categories":[],"annotations":[{"id":3,"image_id":1,"category_id":4,"bbox":[1,1,2,2]}]}"#;
    let got = err(w.import(w.set, coco.as_bytes(), &opts(Format::Coco)));
    assert!(
        got.contains("annotation 1 (id 3)") && got.contains("category_id 4"),
        "{got}"
    );
    let got = err(w.import(w.set, b"{\"images\": [", &opts(Format::Coco)));
    assert!(got.contains("line 1"), "{got}");
    let labels = "slide_a.svs|mitosis|{\"x1\":1,\"y1\":1,\"x2\":5,\"y2\":5}||\nslide_a.svs|mitosis|{\"x1\":1}|z|\n";
    let got = err(w.import(w.set, labels.as_bytes(), &opts(Format::ExactLabels)));
    assert!(got.contains("line 2"), "{got}");
    let got = err(w.import(w.set, b"\x00\x01binary", &ImportOptions::default()));
    assert!(got.contains("cannot tell the file's format"), "{got}");
    assert_eq!(w.snapshot(w.set), Vec::<String>::new(), "nothing written");
}

#[test]
fn an_outsider_cannot_import() {
    let w = world();
    let bob = w
        .exact
        .users()
        .register(exact_core::catalog::NewUser::new("bob"))
        .unwrap();
    let bob = w.exact.actor(bob.id).unwrap();
    let r = w.exact.interop().import(
        &bob,
        w.set,
        &mut GOOD.as_bytes(),
        &opts(Format::GeoJson),
        &mut |_| {},
    );
    assert_eq!(
        r.unwrap_err().kind(),
        ErrorKind::NotFound,
        "a set bob cannot see does not exist for him"
    );
    assert_eq!(w.snapshot(w.set), Vec::<String>::new());
}

#[test]
fn a_failed_batch_takes_back_the_batches_before_it() {
    // Two global labels of one class on one image: both pass the checks (distinct UUIDs), but
    // the store refuses the second. With one annotation per batch, the first batch is already
    // written when the second fails: the import must take it back and leave nothing.
    let w = world();
    let label = |n: u32| {
        format!(
            r#"{{"type":"Feature","id":"00000000-0000-4000-8000-00000000000{n}","geometry":null,"properties":{{"classification":{{"name":"quality"}}}}}}"#
        )
    };
    let file = format!("[{},{},{GOOD}]", label(1), label(2));
    let mut seen = Vec::new();
    let r = w.exact.interop().import(
        &w.me,
        w.set,
        &mut file.as_bytes(),
        &ImportOptions {
            batch_size: Some(1),
            ..opts(Format::GeoJson)
        },
        &mut |p| seen.push((p.phase, p.written)),
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(
        seen.contains(&("writing", 1)),
        "the first batch was written before the second failed: {seen:?}"
    );
    assert_eq!(w.snapshot(w.set), Vec::<String>::new());
    // The same file without the clash goes in whole, three batches of one.
    let file = format!("[{},{GOOD}]", label(1));
    let rep = w
        .exact
        .interop()
        .import(
            &w.me,
            w.set,
            &mut file.as_bytes(),
            &ImportOptions {
                batch_size: Some(1),
                ..opts(Format::GeoJson)
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((rep.created, rep.written), (2, true));
    assert_eq!(w.snapshot(w.set).len(), 2);
}
