//! Export → import into an empty set gives back the same annotations, for every format that
//! can carry them; a second import of the same file creates nothing.

use crate::world;
use exact_interop::{Format, ImportOptions};

fn round_trip(format: Format) {
    let w = world();
    w.populate();
    let before = w.snapshot(w.set);
    assert_eq!(before.len(), 8);
    let file = w.export(w.set, format);
    let target = w.empty_set(&format!("copy-{}", format.name()), true);
    let report = w.import(target, &file, &ImportOptions::default()).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.created, 8, "{report:?}");
    assert_eq!(
        w.snapshot(target),
        before,
        "{}",
        String::from_utf8_lossy(&file)
    );
    // Idempotent: the same file again creates nothing, and says so.
    let again = w.import(target, &file, &ImportOptions::default()).unwrap();
    assert_eq!(
        (again.created, again.skipped_duplicates),
        (0, 8),
        "{again:?}"
    );
    assert_eq!(w.snapshot(target), before);
    // Detected from content when no format is named.
    assert_eq!(Format::detect(&file), Some(format));
}

#[test]
fn geojson_round_trips() {
    round_trip(Format::GeoJson);
}

#[test]
fn csv_round_trips() {
    round_trip(Format::Csv);
}

#[test]
fn coco_round_trips() {
    round_trip(Format::Coco);
}

#[test]
fn exact_label_lines_round_trip_what_they_carry() {
    // Label lines carry image, type, vector, flags and UUID; not remarks, meta_data, users
    // or times (README: "what each format cannot carry").
    let w = world();
    w.populate();
    let file = w.export(w.set, Format::ExactLabels);
    let target = w.empty_set("copy-labels", true);
    let report = w.import(target, &file, &ImportOptions::default()).unwrap();
    assert_eq!(report.created, 8, "{report:?}");
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|l| l.split('|').take(6).collect::<Vec<_>>().join("|"))
            .collect()
    };
    assert_eq!(strip(w.snapshot(target)), strip(w.snapshot(w.set)));
}

#[test]
fn export_to_an_empty_set_creates_types_and_images_by_flag() {
    let w = world();
    w.populate();
    let file = w.export(w.set, Format::GeoJson);
    // A set in another team without the product: types and images are missing.
    let other = w
        .exact
        .teams()
        .create(&w.me, exact_core::catalog::NewTeam::new("elsewhere"))
        .unwrap();
    let me = w.exact.actor(w.me.user).unwrap();
    let bare = w
        .exact
        .image_sets()
        .create(&me, exact_core::catalog::NewImageSet::new("bare", other.id))
        .unwrap();
    let w2 = crate::World { me, ..w };
    let refused = w2
        .import(bare.id, &file, &ImportOptions::default())
        .unwrap();
    assert_eq!(refused.created, 0);
    assert!(!refused.written);
    assert!(
        refused.refused[0].reason.contains("matches no image"),
        "{:?}",
        refused.refused
    );
    assert!(
        w2.exact
            .image_sets()
            .images(&w2.me, bare.id)
            .unwrap()
            .is_empty(),
        "nothing written"
    );
    let opts = ImportOptions {
        create_missing: true,
        ..Default::default()
    };
    let dry = w2
        .import(
            bare.id,
            &file,
            &ImportOptions {
                dry_run: true,
                ..opts.clone()
            },
        )
        .unwrap();
    assert_eq!(
        (dry.created, dry.written, dry.created_types.len()),
        (0, false, 6),
        "{dry:?}"
    );
    assert!(
        w2.exact
            .image_sets()
            .images(&w2.me, bare.id)
            .unwrap()
            .is_empty(),
        "dry run wrote"
    );
    let done = w2.import(bare.id, &file, &opts).unwrap();
    assert_eq!(done.created, 8, "{done:?}");
    assert_eq!(done.created_images, vec!["slide_a.svs", "slide_b.tif"]);
    let mut names: Vec<String> = w2
        .exact
        .annotation_types()
        .of_set(&w2.me, bare.id)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["cell", "mitosis", "path", "quality", "ruler", "tumor"]
    );
    assert_eq!(w2.snapshot(bare.id), w2.snapshot(w2.set));
}

#[test]
fn sliderunner_round_trips_what_it_carries() {
    // SlideRunner keeps integer coordinates, one time (lastModified), no meta_data, no
    // blurred/concealed flags; lines travel as 2-node polygons.
    let w = world();
    w.populate();
    let file = w.export(w.set, Format::SlideRunner);
    assert!(file.starts_with(b"SQLite format 3\0"));
    assert_eq!(Format::detect(&file), Some(Format::SlideRunner));
    let target = w.empty_set("copy-sliderunner", true);
    let report = w.import(target, &file, &ImportOptions::default()).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.created, 8, "{report:?}");
    let key = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                let vector: serde_json::Value = serde_json::from_str(f[2]).unwrap();
                let rounded = match vector {
                    serde_json::Value::Object(m) => m
                        .into_iter()
                        .map(|(k, v)| {
                            format!("{k}={}", v.as_f64().map(|c| c.round()).unwrap_or(-1.0))
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => "null".into(),
                };
                format!(
                    "{}|{}|{}|{}|{}|{}",
                    f[0],
                    f[1],
                    rounded,
                    f[3],
                    f[5].split(' ').next().unwrap(),
                    f[6]
                )
            })
            .collect()
    };
    let (mut a, mut b) = (key(w.snapshot(w.set)), key(w.snapshot(target)));
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let again = w.import(target, &file, &ImportOptions::default()).unwrap();
    assert_eq!((again.created, again.skipped_duplicates), (0, 8));
}

#[test]
fn asap_round_trips() {
    round_trip(Format::Asap);
}

#[test]
fn imagescope_round_trips() {
    round_trip(Format::ImageScope);
}
