//! The id-ordered copies of annotations (`Index::AnnotationById`, the listing's source) equal
//! the grid after every kind of write — bulk create, move between cells, type change, soft
//! delete, trash and restore from it, history restore — so `fsck` finds nothing; pages read
//! from them equal the reference; `fsck` finds missing, stale and extra copies and `--repair`
//! rewrites them; a store without them gets them built. On every backend.

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationList, AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::model::Annotation;
use exact_core::pages;
use exact_core::store::{Batch, EntryWrite, Expect, Index};
use exact_core::vector::Point;
use exact_core::{Catalog, ImageId, Vector, VectorType};
use std::collections::BTreeMap;

/// The stored blocks (and the marker), raw.
fn blocks(w: &World) -> Vec<(Vec<u8>, Vec<u8>)> {
    w.store()
        .index_range(Index::AnnotationById, &[], &[0xFF; 17], usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
}

/// The copies the blocks and their loose entries hold: (image, annotation id) → encoding.
fn copies(w: &World) -> BTreeMap<(u64, u64), Vec<u8>> {
    let mut out = BTreeMap::new();
    for (k, v) in blocks(w) {
        if k.is_empty() {
            continue;
        }
        let image = u64::from_be_bytes(k[..8].try_into().unwrap());
        if k.len() == 24 {
            // A loose entry (a small insert): key image | block | id, value the encoding.
            out.insert((image, u64::from_be_bytes(k[16..].try_into().unwrap())), v);
            continue;
        }
        for e in pages::entries(&v, "test").unwrap() {
            out.entry((image, e.id)).or_insert_with(|| e.data.to_vec());
        }
    }
    out
}

fn loose(w: &World) -> usize {
    blocks(w).iter().filter(|(k, _)| k.len() == 24).count()
}

/// The loose locator entries (id ≠ 0 under a locator block's key).
fn loose_locators(w: &World) -> usize {
    w.store()
        .index_range(Index::AnnotationLocator, &[], &[0xFF; 9], usize::MAX)
        .unwrap()
        .iter()
        .filter(|e| e.id != 0)
        .count()
}

fn marked(w: &World) -> bool {
    blocks(w).iter().any(|(k, _)| k.is_empty())
}

/// The key of the block holding annotation `id` of `image`.
fn key(image: ImageId, id: u64) -> Vec<u8> {
    image
        .0
        .to_be_bytes()
        .into_iter()
        .chain(pages::block_of(id).to_be_bytes())
        .collect()
}

/// Every window of 7 by growing offsets equals the reference (all, by id).
fn pages_match(w: &World, step: &str) {
    let admin = w.actor(&w.admin);
    let mut all =
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::everything())
            .unwrap();
    all.retain(|a| !a.deleted);
    all.sort_by_key(|a| a.id);
    for offset in (0..all.len() + 7).step_by(7) {
        let got =
            w.c.annotations()
                .list(
                    &admin,
                    &AnnotationList {
                        images: vec![w.image.id],
                        offset,
                        limit: Some(7),
                        ..Default::default()
                    },
                )
                .unwrap();
        assert_eq!(got.count, all.len(), "{step}: count at {offset}");
        let want: Vec<&Annotation> = all.iter().skip(offset).take(7).collect();
        assert_eq!(
            got.items.iter().collect::<Vec<_>>(),
            want,
            "{step}: window at {offset}"
        );
    }
    let report = w.c.fsck(false).unwrap();
    assert!(report.findings.is_empty(), "{step}: {:?}", report.findings);
}

fn follow_every_write(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let (boxt, other) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::FixedSizeBoundingBox).id,
    );
    let img = w.image.id;
    let news: Vec<NewAnnotation> = (0..40u64)
        .map(|i| {
            let x = ((i * 7919) % 90_000) as f64;
            let vector = (i % 10 != 3).then(|| Vector::rect(x, x / 2.0, x + 40.0, x / 2.0 + 40.0));
            NewAnnotation::new(boxt, img, vector)
        })
        .collect();
    let mut news = news;
    // A polygon too large to copy: its block names it and the listing reads it from the grid.
    let ring: Vec<Point> = (0..600)
        .map(|i| {
            let t = f64::from(i) * std::f64::consts::TAU / 600.0;
            Point::new(50_000.0 + 900.0 * t.cos(), 50_000.0 + 900.0 * t.sin())
        })
        .collect();
    news.push(NewAnnotation::new(
        w.ty(VectorType::Polygon).id,
        img,
        Some(Vector::new(ring)),
    ));
    let made = w.c.annotations().create_many(&admin, news).unwrap();
    let big = made.last().unwrap().id.0;
    assert!(copies(&w)[&(img.0, big)].is_empty(), "named, not copied");
    assert_eq!(copies(&w).len(), 41, "a copy each");
    assert!(marked(&w), "and the marker");
    assert!(blocks(&w).len() <= 3, "in blocks, not an entry each");
    assert_eq!(loose(&w), 0, "a bulk insert writes blocks");
    // Single saves go to loose entries (no block to contend for), listed in order.
    let singles: Vec<_> = (0..3)
        .map(|i| {
            w.c.annotations()
                .create(
                    &admin,
                    NewAnnotation::new(
                        boxt,
                        img,
                        Some(Vector::rect(70_000.0 + f64::from(i), 10.0, 70_040.0, 50.0)),
                    ),
                )
                .unwrap()
        })
        .collect();
    assert_eq!(loose(&w), 3, "a loose entry each");
    assert_eq!(loose_locators(&w), 3, "a loose locator entry each");
    pages_match(&w, "single saves");
    for s in &singles {
        assert_eq!(&w.c.annotations().get(&admin, s.id).unwrap(), s);
    }
    // A move of one rewrites its locator block, folding the loose locator entries in.
    let away = AnnotationPatch {
        vector: Some(Some(Vector::rect(90_000.0, 90_000.0, 90_040.0, 90_040.0))),
        ..Default::default()
    };
    let far =
        w.c.annotations()
            .update(&admin, singles[2].id, away)
            .unwrap();
    assert_eq!(loose_locators(&w), 0, "folded into the locator block");
    assert_eq!(w.c.annotations().get(&admin, far.id).unwrap(), far);
    for s in &singles[..2] {
        assert_eq!(&w.c.annotations().get(&admin, s.id).unwrap(), s);
    }
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
    // An edit of one folds its block's loose entries in.
    w.c.annotations()
        .update(
            &admin,
            singles[0].id,
            AnnotationPatch {
                annotation_type: Some(other),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(loose(&w) < 3, "folded into the block");
    pages_match(&w, "an edit folds loose entries");
    pages_match(&w, "bulk create");
    // Moved to another cell, and relabelled.
    let moved = AnnotationPatch {
        vector: Some(Some(Vector::rect(95_000.0, 95_000.0, 95_040.0, 95_040.0))),
        ..Default::default()
    };
    w.c.annotations().update(&admin, made[4].id, moved).unwrap();
    let relabel = AnnotationPatch {
        annotation_type: Some(other),
        ..Default::default()
    };
    w.c.annotations()
        .update(&admin, made[5].id, relabel)
        .unwrap();
    pages_match(&w, "move and relabel");
    w.c.annotations()
        .delete_many(&admin, &[made[6].id, made[7].id])
        .unwrap();
    pages_match(&w, "soft delete");
    w.c.annotations()
        .trash_many(&admin, &[made[0].id, made[8].id])
        .unwrap();
    assert!(
        !copies(&w).contains_key(&(img.0, made[0].id.0)),
        "a trashed annotation's copy is gone"
    );
    pages_match(&w, "trash");
    w.c.annotations()
        .restore_trashed(&admin, &[made[0].id])
        .unwrap();
    pages_match(&w, "restore from the trash");
    w.c.annotations().restore(&admin, made[4].id, 0).unwrap();
    pages_match(&w, "history restore");
}

fn fsck_repairs_and_open_builds(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let boxt = w.ty(VectorType::BoundingBox).id;
    let img = w.image.id;
    // 40 in one batch: written as a block (see `LOOSE_BELOW`).
    let news: Vec<NewAnnotation> = (0..40u64)
        .map(|i| {
            let x = (i * 2001) as f64;
            NewAnnotation::new(boxt, img, Some(Vector::rect(x, x, x + 30.0, x + 30.0)))
        })
        .collect();
    let made = w.c.annotations().create_many(&admin, news).unwrap();
    // One copy missing, one stale (another's bytes), one extra (an id the grid lacks, in a
    // block of its own).
    let held = copies(&w);
    let (a, b, c3) = (made[1].id.0, made[2].id.0, made[3].id.0);
    let block_key = key(img, a);
    let old = blocks(&w)
        .into_iter()
        .find(|(k, _)| *k == block_key)
        .unwrap()
        .1;
    let mut damaged = Vec::new();
    for e in pages::entries(&old, "test").unwrap() {
        match e.id {
            id if id == a => {}
            id if id == c3 => pages::push_entry(&mut damaged, id, None, &held[&(img.0, b)]),
            id => pages::push_entry(&mut damaged, id, None, e.data),
        }
    }
    assert_eq!(key(img, b), block_key, "the test's ids share a block");
    assert_eq!(key(img, c3), block_key, "the test's ids share a block");
    let mut extra = Vec::new();
    pages::push_entry(&mut extra, 999_999, None, &held[&(img.0, a)]);
    let entry = |key: Vec<u8>, value: Option<Vec<u8>>| EntryWrite {
        index: Index::AnnotationById,
        key,
        id: 0,
        value,
        expect: Expect::Anything,
    };
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![
                entry(block_key, Some(damaged)),
                entry(key(img, 999_999), Some(extra)),
            ],
        })
        .unwrap();
    let report = w.c.fsck(false).unwrap();
    assert_eq!(report.problems_left(), 1, "{:?}", report.findings);
    assert!(
        report.findings[0].problem.contains("3 copies"),
        "{:?}",
        report.findings
    );
    let report = w.c.fsck(true).unwrap();
    assert_eq!(report.problems_left(), 0, "{:?}", report.findings);
    pages_match(&w, "repaired");

    // As a store written before the copies existed: none at all, no marker.
    let all: Vec<EntryWrite> = blocks(&w)
        .into_iter()
        .map(|(k, v)| EntryWrite {
            expect: Expect::Exactly(v),
            ..entry(k, None)
        })
        .collect();
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: all,
        })
        .unwrap();
    // And with the one-entry-per-annotation copies an earlier version kept.
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![EntryWrite {
                index: Index::RetiredAnnotationCopies,
                ..entry(img.0.to_be_bytes().repeat(2), Some(vec![7; 40]))
            }],
        })
        .unwrap();
    let c = Catalog::new(w.store().clone());
    // Listed right meanwhile (by walking the grid), and fsck says what is missing.
    let list = AnnotationList {
        images: vec![img],
        limit: Some(5),
        ..Default::default()
    };
    let walked = c.annotations().list(&admin, &list).unwrap();
    assert_eq!(walked.count, 40);
    let report = c.fsck(false).unwrap();
    assert_eq!(report.problems_left(), 1, "{:?}", report.findings);
    // A write before the build is kept.
    c.annotations()
        .create(
            &admin,
            NewAnnotation::new(boxt, img, Some(Vector::rect(5.0, 5.0, 9.0, 9.0))),
        )
        .unwrap();
    assert!(c.build_by_id().unwrap() >= 1, "the image copied");
    assert_eq!(c.build_by_id().unwrap(), 0, "built once");
    assert_eq!(copies(&w).len(), 41);
    assert!(marked(&w));
    let retired = w
        .store()
        .index_range(Index::RetiredAnnotationCopies, &[], &[0xFF; 17], 10)
        .unwrap();
    assert!(retired.is_empty(), "the retired copies are dropped");
    assert_eq!(c.annotations().list(&admin, &list).unwrap().items, {
        let mut w5 = walked.items.clone();
        w5.truncate(5);
        w5
    });
    assert!(c.fsck(false).unwrap().findings.is_empty());
}

crate::per_backend!(follow_every_write, fsck_repairs_and_open_builds);
