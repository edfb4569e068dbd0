//! An import that stopped after some batches reads on from the place recorded with its last
//! written batch ([`ImportProgress::resume_at`]): the rest of the file, and nothing before it,
//! so the set ends exactly as one whole import leaves it (verified, when asked).

use crate::world;
use exact_core::catalog::AnnotationQuery;
use exact_interop::{Format, ImportOptions, ResumeAt};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn reads_on(format: Format) {
    let w = world();
    w.populate();
    let file = w.export(w.set, format);
    let opts = ImportOptions {
        batch_size: Some(3),
        verify: true,
        ..Default::default()
    };
    // The whole file at once, for comparison.
    let whole = w.empty_set("whole", true);
    let report = w.import(whole, &file, &opts).unwrap();
    assert_eq!(report.created, 8, "{report:?}");

    // A run that dies right after its first batch (the progress callback unwinds, as a
    // killed process would stop): three written, the place of the fourth recorded.
    let target = w.empty_set("stopped", true);
    let mut recorded: Option<(ResumeAt, u64)> = None;
    let died = catch_unwind(AssertUnwindSafe(|| {
        w.exact
            .interop()
            .import(&w.me, target, &mut &file[..], &opts, &mut |p| {
                if let Some(at) = p.resume_at {
                    recorded = Some((at, p.written));
                    panic!("killed after the first batch");
                }
            })
    }));
    assert!(died.is_err());
    let (at, written) = recorded.expect("a place recorded with the first batch");
    assert_eq!(written, 3);
    assert_eq!(at.items_before(), 3, "{at:?}");
    assert_eq!(w.snapshot(target).len(), 3);

    // Reading on from there writes the other five; nothing is read twice.
    let mut input = &file[at.seek_to().unwrap_or(0) as usize..];
    let on = w
        .exact
        .interop()
        .import_from(&w.me, target, &mut input, &opts, Some(at), &mut |_| {})
        .unwrap();
    assert_eq!(
        (on.read, on.created, on.skipped_duplicates),
        (5, 5, 0),
        "{on:?}"
    );
    assert_eq!(w.snapshot(target), w.snapshot(whole));
    // Every annotation of the stopped and the resumed run is verified.
    for img in w.exact.image_sets().images(&w.me, target).unwrap() {
        let mut ids = Vec::new();
        w.exact
            .annotations()
            .query_each(&w.me, img.id, &AnnotationQuery::everything(), |a| {
                ids.push(a.id)
            })
            .unwrap();
        for id in ids {
            let v = w.exact.verifications().of_annotation(&w.me, id).unwrap();
            assert_eq!(v.len(), 1, "annotation {id:?} verified once");
        }
    }
}

#[test]
fn a_stopped_geojson_import_reads_on_from_its_last_batch() {
    reads_on(Format::GeoJson);
}

#[test]
fn a_stopped_sliderunner_import_reads_on_from_its_last_batch() {
    reads_on(Format::SlideRunner);
}

#[test]
fn a_place_of_another_format_is_refused() {
    let w = world();
    w.populate();
    let file = w.export(w.set, Format::GeoJson);
    let at = ResumeAt::SlideRunner {
        slide: 1,
        uid: 1,
        row: 0,
    };
    let target = w.empty_set("t", true);
    let opts = ImportOptions {
        format: Some(Format::GeoJson),
        ..Default::default()
    };
    let err =
        w.exact
            .interop()
            .import_from(&w.me, target, &mut &file[..], &opts, Some(at), &mut |_| {});
    // The place decides the reader: a SlideRunner place reads the file as a database.
    assert!(err.is_err());
    assert!(w.snapshot(target).is_empty());
}
