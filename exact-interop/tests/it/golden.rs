//! Golden files: inputs written from each format's documentation (QuPath's GeoJSON, COCO's
//! data format, EXACT's label lines) read into the expected annotations, and exports compared
//! byte for byte with the committed files (`UPDATE_GOLDEN=1` rewrites them). The Python tests
//! read the same export files with shapely and pycocotools.

use crate::world;
use exact_interop::{Format, ImportOptions};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn on_a() -> ImportOptions {
    ImportOptions {
        image: Some("slide_a.svs".into()),
        create_missing: true,
        ..Default::default()
    }
}

#[test]
fn qupath_feature_collection_reads_as_qupath_means_it() {
    let w = world();
    let r = w.import(w.set, &read("qupath.geojson"), &on_a()).unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.created, 8, "{r:?}");
    assert_eq!(r.created_types, ["Tumor", "Lymphocyte", "Margin"]);
    let tumor = w.type_named("Tumor");
    assert_eq!(
        (tumor.vector_type, tumor.color_code.as_str()),
        (exact_core::VectorType::Polygon, "#C80000")
    );
    assert_eq!(
        w.type_named("Margin").color_code,
        "#00FF00",
        "colorRGB of QuPath < 0.4"
    );
    assert_eq!(
        w.type_named("Lymphocyte").vector_type,
        exact_core::VectorType::Point
    );
    let got = w.snapshot(w.set).join("\n");
    for want in [
        // A polygon with a hole: the outer ring is the vector, the hole kept in meta_data.
        r#"slide_a.svs|Tumor|{"x1":1000,"y1":1000,"x2":2000,"y2":1000,"x3":2000,"y3":2000,"x4":1000,"y4":2000}|1f0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a01|user=Some(UserId(1))|d=false b=false c=false|"region of interest"|{"holes":[[[1200,1200],[1400,1200],[1400,1400],[1200,1200]]],"qupath":{"isLocked":true}}"#,
        // A detection point: the type's default size, measurements kept.
        r#"slide_a.svs|Lymphocyte|{"x1":1475.5,"y1":1575.25,"x2":1525.5,"y2":1625.25}|1f0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a02|user=Some(UserId(1))|d=false b=false c=false|""|{"measurements":{"Nucleus: Area":31.2,"Nucleus: Circularity":0.91},"qupath":{"objectType":"detection"}}"#,
        // A MultiPolygon: one annotation per part; the list form of measurements.
        r#"slide_a.svs|Tumor|{"x1":3000,"y1":3000,"x2":3100,"y2":3000,"x3":3050,"y3":3100}|1f0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a03|user=Some(UserId(1))|d=false b=false c=false|""|{"measurements":{"Area µm^2":123.0},"part":[1,2]}"#,
        r#"slide_a.svs|Margin|{"x1":10,"y1":10,"x2":500,"y2":20,"x3":800,"y3":600}|1f0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a04|"#,
        r#""qupath":{"nucleusGeometry":{"coordinates":[[[60,60],[70,60],[70,70],[60,60]]],"type":"Polygon"},"objectType":"cell"}"#,
    ] {
        assert!(got.contains(want), "missing\n{want}\nin\n{got}");
    }
    // Again: nothing new (UUIDs, and for the id-less MultiPoint, identical geometry).
    let again = w.import(w.set, &read("qupath.geojson"), &on_a()).unwrap();
    assert_eq!(
        (again.created, again.skipped_duplicates),
        (0, 8),
        "{again:?}"
    );
}

#[test]
fn qupath_bare_list_reads() {
    let w = world();
    let r = w
        .import(w.set, &read("qupath-list.geojson"), &on_a())
        .unwrap();
    assert_eq!(r.created, 2, "{r:?}");
}

#[test]
fn coco_documented_file_reads_with_bbox_polygon_and_rle() {
    let w = world();
    let r = w
        .import(w.set, &read("coco.json"), &ImportOptions::default())
        .unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.created, 4, "{r:?}");
    let got = w.snapshot(w.set).join("\n");
    for want in [
        r#"slide_a.svs|mitosis|{"x1":100,"y1":200,"x2":150,"y2":260}|"#,
        r#"slide_a.svs|tumor|{"x1":1000,"y1":1000,"x2":1500,"y2":1000,"x3":1200,"y3":1800}|"#,
        // No segmentation: the bbox.
        r#"slide_b.tif|mitosis|{"x1":400,"y1":400,"x2":420,"y2":430}|"#,
        // The RLE mask (pixels 1..3 × 1..3) traced along its pixel edges.
        r#"slide_b.tif|tumor|{"x1":1,"y1":1,"x2":3,"y2":1,"x3":3,"y3":3,"x4":1,"y4":3}|"#,
    ] {
        assert!(got.contains(want), "missing\n{want}\nin\n{got}");
    }
}

#[test]
fn exact_label_lines_read_as_exact_reads_them() {
    let w = world();
    let r = w
        .import(w.set, &read("labels.txt"), &ImportOptions::default())
        .unwrap();
    assert!(r.refused.is_empty(), "{:?}", r.refused);
    assert_eq!(r.created, 4);
    let got = w.snapshot(w.set).join("\n");
    assert!(got.contains(r#"slide_a.svs|mitosis|{"x1":100,"y1":200,"x2":150,"y2":260}|8e7f3c2a-0000-4000-8000-0000000000aa|user=Some(UserId(1))|d=false b=true c=false"#), "{got}");
    assert!(
        got.contains(r#"slide_b.tif|mitosis|null|"#),
        "not in image: {got}"
    );
    assert!(got.contains(r#"|d=false b=false c=true|"#), "{got}");
    assert!(got.contains(r#"slide_b.tif|quality|null|"#), "{got}");
}

#[test]
fn exports_match_the_golden_files() {
    let w = world();
    w.populate();
    for (format, name) in [
        (Format::GeoJson, "export.geojson"),
        (Format::Csv, "export.csv"),
        (Format::Coco, "export.coco.json"),
        (Format::ExactLabels, "export.labels.txt"),
        (Format::Asap, "export.asap.xml"),
        (Format::ImageScope, "export.imagescope.xml"),
    ] {
        let got = w.export(w.set, format);
        let path = fixture(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read(&path).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{name}"
        );
    }
}
