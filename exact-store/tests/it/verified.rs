//! Verified counts (`catalog::verified`): after every kind of verdict (accept, reject, change
//! of mind, second acceptance, withdrawal, whole-image verify) and every annotation write that
//! moves an accepted annotation (type change, soft delete, trash, restore), the statistics
//! read from the maintained counts equal a count by scanning; concurrent verdicts and relabels
//! lose nothing; fsck finds wrong acceptances and `--repair` fixes them; a store from before
//! gets them built. On every backend (PostgreSQL with `EXACT_TEST_POSTGRES`).

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationPatch, NewAnnotation, TypeStatistics};
use exact_core::store::{Batch, EntryWrite, Expect, Index};
use exact_core::{Actor, AnnotationId, Catalog, ImageId, Vector, VectorType};

fn rect(i: u64) -> Option<Vector> {
    let x = (i * 7919 % 90_000) as f64;
    let y = (i * 3571 % 70_000) as f64;
    Some(Vector::rect(x, y, x + 40.0, y + 40.0))
}

/// Statistics from the counts equal those by scanning; returns them.
fn check(c: &Catalog, actor: &Actor, image: ImageId, step: &str) -> Vec<TypeStatistics> {
    let fast = c.annotations().statistics(actor, image).unwrap();
    let scan = c.annotations().statistics_by_scan(actor, image).unwrap();
    assert_eq!(fast, scan, "{step}");
    fast
}

fn verified(stats: &[TypeStatistics]) -> usize {
    stats.iter().map(|s| s.verified_count).sum()
}

fn verified_counts_follow_every_write(b: Backend) {
    let w = World::new(b);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let made =
        w.c.annotations()
            .create_many(
                &admin,
                (0..40u64)
                    .map(|i| NewAnnotation::new(boxt, img, if i % 8 == 0 { None } else { rect(i) }))
                    .collect(),
            )
            .unwrap();
    let ids: Vec<AnnotationId> = made.iter().map(|a| a.id).collect();
    assert_eq!(verified(&check(&w.c, &admin, img, "created")), 0);
    let v = w.c.verifications();
    for id in &ids[..10] {
        v.verify(&admin, *id, true).unwrap();
    }
    v.verify(&admin, ids[10], false).unwrap();
    assert_eq!(verified(&check(&w.c, &admin, img, "accepted")), 10);
    // A second acceptance counts once; a change of mind counts.
    v.verify(&member, ids[0], true).unwrap();
    v.verify(&admin, ids[1], false).unwrap();
    v.verify(&admin, ids[10], true).unwrap();
    assert_eq!(verified(&check(&w.c, &admin, img, "second, changed")), 10);
    // One of two acceptances withdrawn: still accepted; the only one withdrawn: not.
    let mine = |u: &Actor, a: AnnotationId| {
        v.of_annotation(u, a)
            .unwrap()
            .into_iter()
            .find(|x| x.user == u.user)
            .unwrap()
            .id
    };
    v.delete(&member, mine(&member, ids[0])).unwrap();
    v.delete(&admin, mine(&admin, ids[2])).unwrap();
    assert_eq!(verified(&check(&w.c, &admin, img, "withdrawn")), 9);
    // Annotation writes move accepted ones: relabel, soft delete, trash and back.
    let relabel = AnnotationPatch {
        annotation_type: Some(other),
        ..Default::default()
    };
    w.c.annotations()
        .update(&admin, ids[3], relabel.clone())
        .unwrap();
    w.c.annotations().delete(&admin, ids[4]).unwrap();
    w.c.annotations().trash_many(&admin, &ids[5..7]).unwrap();
    let s = check(&w.c, &admin, img, "relabel, soft delete, trash");
    assert_eq!(verified(&s), 6);
    let o = s.iter().find(|s| s.annotation_type.id == other).unwrap();
    assert_eq!((o.count, o.verified_count), (1, 1));
    w.c.annotations()
        .restore_trashed(&admin, &ids[5..7])
        .unwrap();
    w.c.annotations().restore(&admin, ids[4], 0).unwrap();
    w.c.annotations()
        .update_many(
            &admin,
            vec![
                (
                    ids[3],
                    AnnotationPatch {
                        annotation_type: Some(boxt),
                        ..Default::default()
                    },
                ),
                (ids[8], relabel),
            ],
        )
        .unwrap();
    assert_eq!(verified(&check(&w.c, &admin, img, "restored")), 9);
    // Whole-image verification: every live one accepted, then every one rejected.
    w.c.verifications()
        .verify_image(&member, img, true)
        .unwrap();
    let s = check(&w.c, &admin, img, "verify image");
    assert_eq!(verified(&s), 40);
    assert!(s.iter().all(|s| s.unverified_count == 0));
    w.c.verifications()
        .verify_image(&member, img, false)
        .unwrap();
    w.c.verifications()
        .verify_image(&admin, img, false)
        .unwrap();
    let s = check(&w.c, &admin, img, "rejected");
    assert_eq!(verified(&s), 0);
    assert_eq!(s.iter().map(|s| s.not_in_image_count).sum::<usize>(), 5);
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn concurrent_verdicts_and_relabels_lose_nothing(b: Backend) {
    let w = World::new(b);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let made =
        w.c.annotations()
            .create_many(
                &admin,
                (0..40)
                    .map(|i| NewAnnotation::new(boxt, img, rect(i)))
                    .collect(),
            )
            .unwrap();
    std::thread::scope(|s| {
        for (t, who) in [(0usize, &admin), (1, &member)] {
            // Each its own catalog over the same store, as separate servers are.
            let c = Catalog::new(w.store().clone());
            let made = &made;
            s.spawn(move || {
                for a in made.iter().skip(t).step_by(2).take(15) {
                    c.verifications().verify(who, a.id, true).unwrap();
                }
            });
        }
        let c = Catalog::new(w.store().clone());
        let (admin, made) = (&admin, &made);
        s.spawn(move || {
            for a in made.iter().take(30) {
                let p = AnnotationPatch {
                    annotation_type: Some(other),
                    ..Default::default()
                };
                c.annotations().update(admin, a.id, p).unwrap();
            }
        });
    });
    let s = check(&w.c, &admin, img, "after concurrent writers");
    assert_eq!(verified(&s), 30);
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn acceptance_entries(w: &World) -> Vec<EntryWrite> {
    w.store()
        .index_range(Index::Acceptances, &[], &[0xFF; 9], usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| EntryWrite {
            index: Index::Acceptances,
            key: e.key,
            id: e.id,
            value: None,
            expect: Expect::Exactly(e.value),
        })
        .collect()
}

fn fsck_repairs_and_old_stores_get_them_built(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let boxt = w.ty(VectorType::BoundingBox).id;
    let img = w.image.id;
    let made =
        w.c.annotations()
            .create_many(
                &admin,
                (0..20)
                    .map(|i| NewAnnotation::new(boxt, img, rect(i)))
                    .collect(),
            )
            .unwrap();
    for a in &made[..7] {
        w.c.verifications().verify(&admin, a.id, true).unwrap();
    }
    let right = check(&w.c, &admin, img, "before");
    assert_eq!(verified(&right), 7);

    // An acceptance entry lost (the marker kept): fsck names it, --repair rebuilds it and
    // recounts the image.
    let mut lost = acceptance_entries(&w);
    lost.retain(|e| !e.key.is_empty());
    lost.truncate(1);
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: lost,
        })
        .unwrap();
    let report = w.c.fsck(false).unwrap();
    assert!(
        report.findings.iter().any(|f| f.what == "acceptances"),
        "{:?}",
        report.findings
    );
    assert_eq!(w.c.fsck(true).unwrap().problems_left(), 0);
    assert_eq!(check(&w.c, &admin, img, "repaired"), right);
    assert!(w.c.fsck(false).unwrap().findings.is_empty());

    // A store from before: no acceptance entries, no marker. Statistics scan (still right)
    // until the build; writes meanwhile are not lost.
    let all = acceptance_entries(&w);
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: all,
        })
        .unwrap();
    let c = Catalog::new(w.store().clone());
    assert_eq!(check(&c, &admin, img, "not built"), right);
    assert!(c.fsck(false).unwrap().problems_left() > 0);
    c.verifications().verify(&admin, made[10].id, true).unwrap();
    assert!(c.build_counts().unwrap() >= 1);
    assert_eq!(verified(&check(&c, &admin, img, "built")), 8);
    assert_eq!(c.build_counts().unwrap(), 0, "built once");
    assert!(c.fsck(false).unwrap().findings.is_empty());
}

crate::per_backend!(
    verified_counts_follow_every_write,
    concurrent_verdicts_and_relabels_lose_nothing,
    fsck_repairs_and_old_stores_get_them_built,
);
