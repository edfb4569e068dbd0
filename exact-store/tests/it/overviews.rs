//! Stored overview summaries (`Catalog::overview_summary`): kept under the image's write stamp,
//! which every annotation write bumps — through this catalog or another one on the same store
//! (two servers sharing PostgreSQL) — so a summary written before a write reads back as stale;
//! one built while a write landed is refused; only actors who see every annotation of the
//! image read or store them. On every backend (PostgreSQL with `EXACT_TEST_POSTGRES`).

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationPatch, NewAnnotation};
use exact_core::model::CollaborationType;
use exact_core::{Catalog, ErrorKind, Vector, VectorType};

fn summaries_follow_writes_of_every_catalog(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let img = w.image.id;
    let ty = w.ty(VectorType::BoundingBox).id;
    let c = &w.c;
    let (none, s0) = c.overview_summary(&admin, img, None).unwrap();
    assert_eq!(none, None, "nothing stored yet");
    let s0 = s0.expect("counts are built in a fresh store");
    assert!(
        c.store_overview_summary(&admin, img, None, s0, b"v1")
            .unwrap()
    );
    let (got, now) = c.overview_summary(&admin, img, None).unwrap();
    let got = got.unwrap();
    assert_eq!(
        (got.stamp, got.bytes.as_slice(), now),
        (s0, &b"v1"[..], Some(s0))
    );
    // Per plane: frame 2 has none of its own.
    assert_eq!(c.overview_summary(&admin, img, Some(2)).unwrap().0, None);

    // A write through another catalog on the same store (another server) makes it stale.
    let other = Catalog::new(w.store().clone());
    let a = other
        .annotations()
        .create(
            &admin,
            NewAnnotation::new(ty, img, Some(Vector::rect(10.0, 10.0, 50.0, 50.0))),
        )
        .unwrap();
    let (got, now) = c.overview_summary(&admin, img, None).unwrap();
    let s1 = now.unwrap();
    assert_ne!(s1, s0, "a create bumps the stamp");
    assert_eq!(got.unwrap().stamp, s0, "the stored one is now stale");
    // Built under the old stamp: refused.
    assert!(
        !c.store_overview_summary(&admin, img, None, s0, b"late")
            .unwrap()
    );
    assert!(
        c.store_overview_summary(&admin, img, None, s1, b"v2")
            .unwrap()
    );
    // Updates and deletes bump it too.
    let p = AnnotationPatch {
        vector: Some(Some(Vector::rect(60.0, 60.0, 90.0, 90.0))),
        ..Default::default()
    };
    other.annotations().update(&admin, a.id, p).unwrap();
    let s2 = c.overview_stamp(&admin, img).unwrap().unwrap();
    assert_ne!(s2, s1, "an update bumps the stamp");
    other.annotations().delete(&admin, a.id).unwrap();
    let s3 = c.overview_stamp(&admin, img).unwrap().unwrap();
    assert!(s3 != s2 && s3 != s1, "a delete bumps the stamp");
    let (got, _) = other.overview_summary(&admin, img, None).unwrap();
    assert_eq!(got.unwrap().bytes, b"v2", "the other catalog reads it too");

    // Outsiders see no image; oversized summaries are not kept.
    let outsider = w.actor(&w.outsider);
    let e = c.overview_summary(&outsider, img, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let big = vec![0u8; exact_core::catalog::MAX_SUMMARY_BYTES + 1];
    assert!(
        !c.store_overview_summary(&admin, img, None, s3, &big)
            .unwrap()
    );
}

fn members_of_competitive_sets_get_no_summary(b: Backend) {
    let w = World::with(b, CollaborationType::Competitive);
    let member = w.actor(&w.member);
    let e = w.c.overview_summary(&member, w.image.id, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = w.c.overview_stamp(&member, w.image.id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}

crate::per_backend!(
    summaries_follow_writes_of_every_catalog,
    members_of_competitive_sets_get_no_summary
);
