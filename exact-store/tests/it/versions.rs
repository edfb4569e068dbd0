//! No lost updates (issue 15): an annotation's version, and writes that only apply at the
//! version the writer last saw (HTTP `If-Match`), checked inside the store's atomic batch so
//! the check holds between two catalogs (two servers) on one store. Without a version the
//! last writer wins, with history, as in EXACT.

use crate::common::{Backend, World};
use crate::per_backend;
use exact_core::catalog::{AnnotationPatch, NewAnnotation};
use exact_core::{Catalog, ErrorKind, Vector, VectorType};
use std::sync::{Arc, Barrier};

fn described(text: &str, if_match: Option<Vec<u64>>) -> AnnotationPatch {
    AnnotationPatch {
        description: Some(text.to_string()),
        if_match,
        ..Default::default()
    }
}

/// Two writers (each through its own catalog, as two servers would be) send the same version
/// at the same instant: exactly one wins, the other is `Stale` and wrote nothing.
fn same_version_writes_race_and_exactly_one_wins(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let a =
        w.c.annotations()
            .create(
                &admin,
                NewAnnotation::new(
                    w.ty(VectorType::BoundingBox).id,
                    w.image.id,
                    Some(Vector::rect(10.0, 10.0, 60.0, 60.0)),
                ),
            )
            .unwrap();
    let servers = [
        Catalog::new(w._backend.as_ref().unwrap().store.clone()),
        Catalog::new(w._backend.as_ref().unwrap().store.clone()),
    ];
    for round in 0..12 {
        let seen = w.c.annotations().get(&admin, a.id).unwrap();
        let version = seen.version();
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = servers
                .iter()
                .enumerate()
                .map(|(n, c)| {
                    let (barrier, admin) = (barrier.clone(), admin.clone());
                    s.spawn(move || {
                        barrier.wait();
                        c.annotations().update(
                            &admin,
                            a.id,
                            described(&format!("round {round} server {n}"), Some(vec![version])),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.kind(), ErrorKind::Stale, "round {round}: {lost}");
        let now = w.c.annotations().get(&admin, a.id).unwrap();
        assert_eq!(
            now.description, won[0].description,
            "the winner's write stays"
        );
        assert_eq!(now.version(), won[0].version());
        assert_ne!(now.version(), version);
    }
    // One history entry per winning write, none for the losers.
    assert_eq!(
        w.c.annotations().history(&admin, a.id).unwrap().len(),
        1 + 12
    );
}

/// A stale version is refused for edits and for EXACT's DELETE alike, naming both versions;
/// the current one works; no version keeps last-writer-wins.
fn stale_versions_are_refused_and_current_ones_apply(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let anns = w.c.annotations();
    let a = anns
        .create(
            &admin,
            NewAnnotation::new(
                w.ty(VectorType::BoundingBox).id,
                w.image.id,
                Some(Vector::rect(10.0, 10.0, 60.0, 60.0)),
            ),
        )
        .unwrap();
    let v0 = a.version();
    assert_eq!(
        anns.get(&admin, a.id).unwrap().version(),
        v0,
        "stable on read"
    );
    let b1 = anns
        .update(&admin, a.id, described("first", Some(vec![v0])))
        .unwrap();
    assert_ne!(b1.version(), v0);
    let e = anns
        .update(&admin, a.id, described("late", Some(vec![v0])))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stale);
    assert!(
        e.to_string().contains(&format!("{:016x}", b1.version())),
        "{e}"
    );
    // Any of several versions may match; an empty list matches none.
    anns.update(
        &admin,
        a.id,
        described("second", Some(vec![v0, b1.version()])),
    )
    .unwrap();
    let e = anns
        .update(&admin, a.id, described("x", Some(vec![])))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stale);
    // Without a version: last writer wins.
    let c = anns.update(&admin, a.id, described("last", None)).unwrap();
    assert_eq!(c.description, "last");
    // DELETE (trash) with a stale version leaves the annotation where it is.
    let e = anns.trash_if(&admin, a.id, Some(vec![v0])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stale);
    assert_eq!(anns.get(&admin, a.id).unwrap().description, "last");
    anns.trash_if(&admin, a.id, Some(vec![c.version()]))
        .unwrap();
    assert_eq!(
        anns.get(&admin, a.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

per_backend!(
    same_version_writes_race_and_exactly_one_wins,
    stale_versions_are_refused_and_current_ones_apply,
);
