//! The maintained annotation counts (`Catalog::annotation_counts`) equal a recount of what is
//! stored after every kind of write — create, bulk create, update (type change, soft delete,
//! geometry removed), bulk update, trash and restore from it, history restore — and under
//! concurrent writers; `fsck` finds wrong or damaged counts and `--repair` rebuilds them; a
//! store without counts gets them built. On every backend (PostgreSQL with
//! `EXACT_TEST_POSTGRES`).

use crate::common::{Backend, World};
use exact_core::catalog::{
    AnnotationList, AnnotationPatch, AnnotationQuery, NewAnnotation, TypeCounts,
};
use exact_core::store::{Batch, EntryWrite, Expect, Index};
use exact_core::{AnnotationId, AnnotationTypeId, BBox, Catalog, ImageId, Vector, VectorType};
use std::collections::BTreeMap;

/// The counts recomputed from every stored annotation of `image` (as its admin sees them).
fn recount(
    c: &Catalog,
    w: &World,
    image: ImageId,
    admin: &exact_core::Actor,
) -> BTreeMap<AnnotationTypeId, TypeCounts> {
    let _ = w;
    let mut out: BTreeMap<AnnotationTypeId, TypeCounts> = BTreeMap::new();
    for a in c
        .annotations()
        .query(admin, image, &AnnotationQuery::everything())
        .unwrap()
    {
        let e = out.entry(a.annotation_type).or_default();
        let geometry = a.vector.as_ref().and_then(|v| v.bbox()).is_some();
        match (a.deleted, geometry) {
            (false, true) => e.live += 1,
            (false, false) => e.live_without_geometry += 1,
            (true, true) => e.deleted += 1,
            (true, false) => e.deleted_without_geometry += 1,
        }
    }
    out
}

fn check(w: &World, image: ImageId, admin: &exact_core::Actor, step: &str) {
    let stored =
        w.c.annotation_counts(image)
            .unwrap()
            .unwrap_or_else(|| panic!("{step}: counts not trusted"));
    assert_eq!(stored, recount(&w.c, w, image, admin), "{step}");
    // The use cases answer from them as the scan did.
    for deleted in [Some(false), Some(true), None] {
        let query = AnnotationQuery {
            deleted,
            ..Default::default()
        };
        let by_type =
            w.c.annotations()
                .count_by_type(admin, image, &query)
                .unwrap();
        let want: BTreeMap<AnnotationTypeId, usize> = stored
            .iter()
            .map(|(t, c)| (*t, c.matching(deleted) as usize))
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(by_type, want, "{step}: count_by_type deleted={deleted:?}");
        // A viewport around the whole slide (the viewer's open) finds those with geometry;
        // one around part of it is counted from the grid.
        for (v, whole) in [
            (BBox::new(-1e7, -1e7, 1e7, 1e7), true),
            (BBox::new(0.0, 0.0, 30_000.0, 50_000.0), false),
        ] {
            let query = AnnotationQuery {
                viewport: Some(v),
                deleted,
                ..Default::default()
            };
            let by_type =
                w.c.annotations()
                    .count_by_type(admin, image, &query)
                    .unwrap();
            let mut want: BTreeMap<AnnotationTypeId, usize> = BTreeMap::new();
            for a in w.c.annotations().query(admin, image, &query).unwrap() {
                *want.entry(a.annotation_type).or_default() += 1;
            }
            assert_eq!(by_type, want, "{step}: viewport {v:?} deleted={deleted:?}");
            if whole {
                let n: u64 = stored
                    .values()
                    .map(|c| c.matching_with_geometry(deleted))
                    .sum();
                assert_eq!(by_type.values().sum::<usize>() as u64, n, "{step}");
            }
        }
        let listed =
            w.c.annotations()
                .list(
                    admin,
                    &AnnotationList {
                        images: vec![image],
                        query,
                        limit: Some(5),
                        ..Default::default()
                    },
                )
                .unwrap();
        assert_eq!(
            listed.count,
            want.values().sum::<usize>(),
            "{step}: list count"
        );
    }
}

fn rect(i: u64) -> Option<Vector> {
    let x = (i * 7919 % 90_000) as f64;
    let y = (i * 3571 % 70_000) as f64;
    Some(Vector::rect(x, y, x + 40.0, y + 40.0))
}

fn counts_follow_every_write(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let news: Vec<NewAnnotation> = (0..60u64)
        .map(|i| match i % 6 {
            0 => NewAnnotation::new(boxt, img, None),
            1 | 2 => NewAnnotation::new(other, img, rect(i)),
            _ => NewAnnotation::new(boxt, img, rect(i)),
        })
        .collect();
    let made = w.c.annotations().create_many(&admin, news).unwrap();
    check(&w, img, &admin, "bulk create");
    let one =
        w.c.annotations()
            .create(&admin, NewAnnotation::new(other, img, rect(99)))
            .unwrap();
    check(&w, img, &admin, "create");
    let ids: Vec<AnnotationId> = made.iter().map(|a| a.id).collect();

    // Type change, soft delete, geometry removed (and moved between grid cells).
    let patch = |f: fn(&mut AnnotationPatch)| {
        let mut p = AnnotationPatch::default();
        f(&mut p);
        p
    };
    let p = AnnotationPatch {
        annotation_type: Some(other),
        ..Default::default()
    };
    w.c.annotations().update(&admin, ids[3], p).unwrap();
    w.c.annotations().delete(&admin, ids[4]).unwrap();
    w.c.annotations()
        .update(&admin, ids[5], patch(|p| p.vector = Some(None)))
        .unwrap();
    w.c.annotations()
        .update(&admin, ids[7], patch(|p| p.vector = Some(rect(12_345))))
        .unwrap();
    check(&w, img, &admin, "updates");

    // Bulk update: relabel and soft-delete in one batch.
    let relabel = AnnotationPatch {
        annotation_type: Some(boxt),
        ..Default::default()
    };
    w.c.annotations()
        .update_many(
            &admin,
            vec![
                (ids[8], relabel),
                (ids[9], patch(|p| p.deleted = Some(true))),
                (ids[10], patch(|p| p.deleted = Some(true))),
            ],
        )
        .unwrap();
    w.c.annotations().delete_many(&admin, &ids[11..15]).unwrap();
    check(&w, img, &admin, "bulk update");

    // EXACT's DELETE (the trash) and back.
    w.c.annotations().trash_many(&admin, &ids[20..30]).unwrap();
    w.c.annotations().trash(&admin, one.id).unwrap();
    check(&w, img, &admin, "trash");
    w.c.annotations()
        .restore_trashed(&admin, &ids[20..24])
        .unwrap();
    check(&w, img, &admin, "restore from the trash");

    // History restore: the soft-deleted one back to its first state (live).
    w.c.annotations().restore(&admin, ids[4], 0).unwrap();
    check(&w, img, &admin, "history restore");

    // The other image's counts are its own.
    let o = w.actor(&w.other_admin);
    w.c.annotations()
        .create_many(
            &o,
            (0..3)
                .map(|i| NewAnnotation::new(w.other_box.id, w.other_image.id, rect(i)))
                .collect(),
        )
        .unwrap();
    check(&w, w.other_image.id, &o, "another image");
    check(&w, img, &admin, "untouched by another image");
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn concurrent_writers_lose_no_increment(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let seed =
        w.c.annotations()
            .create_many(
                &admin,
                (0..20)
                    .map(|i| NewAnnotation::new(boxt, img, rect(i)))
                    .collect(),
            )
            .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            // Each thread its own catalog over the same store, as separate servers are.
            let c = Catalog::new(w.store().clone());
            let admin = admin.clone();
            s.spawn(move || {
                for i in 0..15 {
                    c.annotations()
                        .create(&admin, NewAnnotation::new(other, img, rect(t * 100 + i)))
                        .unwrap();
                }
            });
        }
        let c = w.c.clone();
        let admin = admin.clone();
        let seed = &seed;
        s.spawn(move || {
            for a in seed.iter().take(15) {
                let p = AnnotationPatch {
                    annotation_type: Some(other),
                    ..Default::default()
                };
                c.annotations().update(&admin, a.id, p).unwrap();
            }
        });
    });
    check(&w, img, &admin, "after concurrent writers");
    let n: u64 =
        w.c.annotation_counts(img)
            .unwrap()
            .unwrap()
            .values()
            .map(|c| c.matching(None))
            .sum();
    assert_eq!(n, 20 + 4 * 15);
}

fn all_count_entries(w: &World) -> Vec<EntryWrite> {
    w.store()
        .index_range(Index::AnnotationCounts, &[], &[0xFF; 9], usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| EntryWrite {
            index: Index::AnnotationCounts,
            key: e.key,
            id: e.id,
            value: None,
            expect: Expect::Exactly(e.value),
        })
        .collect()
}

fn fsck_checks_and_rebuilds_counts(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let boxt = w.ty(VectorType::BoundingBox).id;
    let img = w.image.id;
    w.c.annotations()
        .create_many(
            &admin,
            (0..25)
                .map(|i| NewAnnotation::new(boxt, img, rect(i)))
                .collect(),
        )
        .unwrap();
    let right = recount(&w.c, &w, img, &admin);

    // The image's counts lost (the marker kept): fsck reports, --repair rebuilds.
    let image_entries: Vec<EntryWrite> = all_count_entries(&w)
        .into_iter()
        .filter(|e| !e.key.is_empty())
        .collect();
    assert!(!image_entries.is_empty());
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: image_entries,
        })
        .unwrap();
    assert_eq!(w.c.annotation_counts(img).unwrap(), Some(BTreeMap::new()));
    let report = w.c.fsck(false).unwrap();
    assert_eq!(report.problems_left(), 1, "{:?}", report.findings);
    assert!(
        report.findings[0]
            .what
            .contains("annotation counts of image")
    );
    let report = w.c.fsck(true).unwrap();
    assert_eq!(report.problems_left(), 0, "{:?}", report.findings);
    assert_eq!(w.c.annotation_counts(img).unwrap(), Some(right.clone()));
    assert!(w.c.fsck(false).unwrap().findings.is_empty());

    // A damaged shard: not trusted (reads count by scanning), and writes go on.
    let shard = w
        .store()
        .index_range(
            Index::AnnotationCounts,
            &img.0.to_be_bytes(),
            &(img.0 + 1).to_be_bytes(),
            1,
        )
        .unwrap()
        .remove(0);
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![EntryWrite {
                index: Index::AnnotationCounts,
                key: shard.key,
                id: shard.id,
                value: Some(vec![1, 2, 3]),
                expect: Expect::Anything,
            }],
        })
        .unwrap();
    assert_eq!(w.c.annotation_counts(img).unwrap(), None);
    let q = AnnotationQuery::default();
    assert_eq!(w.c.annotations().count(&admin, img, &q).unwrap(), 25);
    assert!(w.c.fsck(false).unwrap().problems_left() > 0);
    assert_eq!(w.c.fsck(true).unwrap().problems_left(), 0);
    assert_eq!(w.c.annotation_counts(img).unwrap(), Some(right));
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn a_store_without_counts_gets_them_built(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let boxt = w.ty(VectorType::BoundingBox).id;
    let img = w.image.id;
    w.c.annotations()
        .create_many(
            &admin,
            (0..30)
                .map(|i| NewAnnotation::new(boxt, img, rect(i)))
                .collect(),
        )
        .unwrap();
    let right = recount(&w.c, &w, img, &admin);
    // As a store written before counts existed: no entry at all, no marker.
    let entries = all_count_entries(&w);
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries,
        })
        .unwrap();
    let c = Catalog::new(w.store().clone());
    assert_eq!(c.annotation_counts(img).unwrap(), None);
    // Still counted right, by scanning; and writes before the build are not lost.
    let q = AnnotationQuery::default();
    assert_eq!(c.annotations().count(&admin, img, &q).unwrap(), 30);
    let report = c.fsck(false).unwrap();
    assert_eq!(report.problems_left(), 1, "{:?}", report.findings);
    c.annotations()
        .create(&admin, NewAnnotation::new(boxt, img, rect(77)))
        .unwrap();
    assert_eq!(c.build_counts().unwrap(), 1);
    let mut right = right;
    right.entry(boxt).or_default().live += 1;
    assert_eq!(c.annotation_counts(img).unwrap(), Some(right));
    assert_eq!(c.build_counts().unwrap(), 0, "built once");
    assert!(c.fsck(false).unwrap().findings.is_empty());
}

/// Pages by growing offsets (as EXACT-Sync follows `next`) continue from where the previous
/// page ended; each equals the reference window, also after writes between pages (a trashed
/// annotation before the window, a type change) and for a page asked again.
fn pages_continue_and_follow_writes(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let made = w
        .c
        .annotations()
        .create_many(
            &admin,
            (0..90u64)
                .map(|i| NewAnnotation::new(if i % 3 == 0 { other } else { boxt }, img, rect(i)))
                .collect(),
        )
        .unwrap();
    let reference = |types: Option<Vec<AnnotationTypeId>>| -> Vec<AnnotationId> {
        let mut all: Vec<_> =
            w.c.annotations()
                .query(&admin, img, &AnnotationQuery::default())
                .unwrap()
                .into_iter()
                .filter(|a| {
                    types
                        .as_ref()
                        .is_none_or(|t| t.contains(&a.annotation_type))
                })
                .map(|a| a.id)
                .collect();
        all.sort();
        all
    };
    let page = |types: Option<Vec<AnnotationTypeId>>, offset: usize| {
        let p =
            w.c.annotations()
                .list(
                    &admin,
                    &AnnotationList {
                        images: vec![img],
                        query: AnnotationQuery {
                            annotation_types: types,
                            ..Default::default()
                        },
                        offset,
                        limit: Some(7),
                        ..Default::default()
                    },
                )
                .unwrap();
        (p.count, p.items.iter().map(|a| a.id).collect::<Vec<_>>())
    };
    for types in [None, Some(vec![boxt])] {
        for step in 0..16 {
            let offset = step * 7;
            if step == 4 {
                // Before the next window: one trashed, one relabelled.
                w.c.annotations().trash(&admin, made[2].id).unwrap();
                let p = AnnotationPatch {
                    annotation_type: Some(other),
                    ..Default::default()
                };
                w.c.annotations()
                    .update(&admin, made[5 + step].id, p)
                    .unwrap();
            }
            let want = reference(types.clone());
            let end = (offset + 7).min(want.len());
            let got = page(types.clone(), offset);
            assert_eq!(got.0, want.len(), "count at {offset}");
            assert_eq!(got.1, want[offset.min(end)..end], "window at {offset}");
            // The same page again (a cursor at its start).
            assert_eq!(page(types.clone(), offset), got, "again at {offset}");
        }
        w.c.annotations()
            .restore_trashed(&admin, &[made[2].id])
            .unwrap();
    }
}

crate::per_backend!(
    pages_continue_and_follow_writes,
    counts_follow_every_write,
    concurrent_writers_lose_no_increment,
    fsck_checks_and_rebuilds_counts,
    a_store_without_counts_gets_them_built,
);
