//! `exact migrate --from --to` (issue 15): a populated store copied into an empty one of
//! another backend answers the same, counts and checksums match, an interrupted copy resumes,
//! and the copy's id counters never hand out an id the source used. Sled to PostgreSQL and
//! back when `EXACT_TEST_POSTGRES` is set; sled to sled always.

use crate::common::{Backend, World, postgres, sled};
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::store::MetaStore;
use exact_core::{Actor, Catalog, ErrorKind, Vector, VectorType};
use exact_store::meta::copy::{self, Phase};
use std::sync::Arc;

/// A world with a few hundred annotations, an edit history, a soft delete and a trashed one.
fn populated() -> (World, Arc<dyn MetaStore>) {
    let source = sled();
    let store = source.store.clone();
    let w = World::new(source);
    let admin = w.actor(&w.admin);
    let anns = w.c.annotations();
    let news = (0..600)
        .map(|i| {
            let (x, y) = (f64::from(i % 30) * 900.0, f64::from(i / 30) * 900.0);
            NewAnnotation::new(
                w.ty(VectorType::BoundingBox).id,
                w.image.id,
                Some(Vector::rect(x, y, x + 40.0, y + 40.0)),
            )
        })
        .collect();
    let made = anns.create_many(&admin, news).unwrap();
    for a in &made[..20] {
        anns.update(
            &admin,
            a.id,
            AnnotationPatch {
                description: Some(format!("edited {}", a.id)),
                ..Default::default()
            },
        )
        .unwrap();
    }
    anns.delete(&admin, made[20].id).unwrap();
    anns.trash(&admin, made[21].id).unwrap();
    (w, store)
}

/// What the API would answer, read through a catalog on `store`.
fn answers(store: Arc<dyn MetaStore>, w: &World) -> String {
    let c = Catalog::new(store);
    let admin: Actor = c.actor(w.admin.id).unwrap();
    let all = AnnotationQuery {
        deleted: None,
        ..Default::default()
    };
    let anns = c.annotations().query(&admin, w.image.id, &all).unwrap();
    let history = c.annotations().history(&admin, anns[0].id).unwrap();
    let trashed = c.annotations().trashed(&admin, w.image.id).unwrap();
    let sets = c.image_sets().list(&admin).unwrap();
    let images = c.images().list(&admin).unwrap();
    format!("{anns:?}\n{history:?}\n{trashed:?}\n{sets:?}\n{images:?}")
}

fn round_trip(target: Backend, back: Backend) {
    let (w, source) = populated();
    let expected = answers(source.clone(), &w);
    let to = target.store.clone();

    // Interrupted part way through copying, then resumed.
    let mut calls = 0;
    let e = copy::copy(source.as_ref(), to.as_ref(), false, &mut |phase, _, _| {
        calls += usize::from(phase == Phase::Copying);
        calls < 3
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    // Not empty any more: a fresh copy is refused, a resumed one finishes.
    let e = copy::copy(source.as_ref(), to.as_ref(), false, &mut |_, _, _| true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let report = copy::copy(source.as_ref(), to.as_ref(), true, &mut |_, _, _| true).unwrap();
    assert!(report.mismatches().is_empty(), "{report:?}");
    assert!(report.skipped > 0 && report.copied > 0, "{report:?}");
    assert_eq!(answers(to.clone(), &w), expected);

    // New writes on the copy get fresh ids (its counters are past the source's).
    let c = Catalog::new(to.clone());
    let admin = c.actor(w.admin.id).unwrap();
    let before = c
        .annotations()
        .query(&admin, w.image.id, &AnnotationQuery::default())
        .unwrap()
        .len();
    c.annotations()
        .create(
            &admin,
            NewAnnotation::new(
                w.ty(VectorType::BoundingBox).id,
                w.image.id,
                Some(Vector::rect(5.0, 5.0, 9.0, 9.0)),
            ),
        )
        .unwrap();
    let after = c
        .annotations()
        .query(&admin, w.image.id, &AnnotationQuery::default())
        .unwrap()
        .len();
    assert_eq!(after, before + 1);

    // And back into another backend: the same answers again.
    let report = copy::copy(to.as_ref(), back.store.as_ref(), false, &mut |_, _, _| true).unwrap();
    assert!(report.mismatches().is_empty(), "{report:?}");
    assert_eq!(answers(back.store.clone(), &w), answers(to, &w));
}

#[test]
fn sled_to_postgres_and_back() {
    let Some(pg) = postgres() else { return };
    round_trip(pg, sled());
}

#[test]
fn sled_to_sled() {
    round_trip(sled(), sled());
}
