//! Viewport queries equal a brute-force scan, on random data, on every backend.

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::model::Annotation;
use exact_core::{BBox, Point, Vector, VectorType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Shape {
    Rect(f64, f64, f64, f64),
    Poly(Vec<(f64, f64)>),
    Nothing,
}

fn shape() -> impl Strategy<Value = Shape> {
    let coord = -2_000.0..120_000.0f64;
    prop_oneof![
        4 => (coord.clone(), coord.clone(), 1.0..3_000.0f64, 1.0..3_000.0f64).prop_map(|(x, y, w, h)| Shape::Rect(x.round(), y.round(), w.round().max(1.0), h.round().max(1.0))),
        // Long thin multi-lines cross many cells and start far from where they end (random
        // nodes cross themselves, which polygons may not).
        3 => (coord.clone(), coord, proptest::collection::vec((-40_000.0..40_000.0f64, -40_000.0..40_000.0f64), 3..12))
            .prop_map(|(x, y, d)| Shape::Poly(d.into_iter().map(|(dx, dy)| (x + dx, y + dy)).collect())),
        1 => Just(Shape::Nothing),
    ]
}

fn viewport() -> impl Strategy<Value = BBox> {
    (
        -5_000.0..110_000.0f64,
        -5_000.0..90_000.0f64,
        0.0..30_000.0f64,
        0.0..30_000.0f64,
    )
        .prop_map(|(x, y, w, h)| BBox::new(x, y, x + w, y + h))
}

fn check(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let (boxt, poly) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::MultiLine).id,
    );
    let mut runner = TestRunner::new(Config {
        cases: 8,
        ..Config::default()
    });
    let round = std::cell::Cell::new(0);
    runner
        .run(
            &(
                proptest::collection::vec(shape(), 1..150),
                proptest::collection::vec(viewport(), 1..8),
                any::<u64>(),
            ),
            |(shapes, views, seed)| {
                round.set(round.get() + 1);
                let news: Vec<NewAnnotation> = shapes
                    .iter()
                    .map(|s| match s {
                        Shape::Rect(x, y, ww, hh) => NewAnnotation::new(
                            boxt,
                            w.image.id,
                            Some(Vector::rect(*x, *y, x + ww, y + hh)),
                        ),
                        Shape::Poly(p) => NewAnnotation::new(
                            poly,
                            w.image.id,
                            Some(Vector::new(
                                p.iter().map(|(x, y)| Point::new(*x, *y)).collect(),
                            )),
                        ),
                        Shape::Nothing => NewAnnotation::new(boxt, w.image.id, None),
                    })
                    .collect();
                let made = w.c.annotations().create_many(&admin, news).unwrap();
                // Move and delete some, so the index must follow updates.
                for (i, a) in made.iter().enumerate() {
                    match (seed >> (i % 60)) & 7 {
                        0 => {
                            w.c.annotations().delete(&admin, a.id).unwrap();
                        }
                        1 if a.annotation_type == boxt => {
                            let v = Vector::rect(
                                1000.0 * i as f64,
                                50.0,
                                1000.0 * i as f64 + 9_000.0,
                                60.0,
                            );
                            w.c.annotations()
                                .update(
                                    &admin,
                                    a.id,
                                    AnnotationPatch {
                                        vector: Some(Some(v)),
                                        ..Default::default()
                                    },
                                )
                                .unwrap();
                        }
                        _ => {}
                    }
                }
                let everything =
                    w.c.annotations()
                        .query(
                            &admin,
                            w.image.id,
                            &AnnotationQuery {
                                deleted: None,
                                ..Default::default()
                            },
                        )
                        .unwrap();
                for v in &views {
                    let brute: Vec<&Annotation> = everything
                        .iter()
                        .filter(|a| {
                            !a.deleted
                                && a.vector
                                    .as_ref()
                                    .and_then(|x| x.bbox())
                                    .is_some_and(|b| b.intersects(v))
                        })
                        .collect();
                    let got =
                        w.c.annotations()
                            .query(&admin, w.image.id, &AnnotationQuery::viewport(*v))
                            .unwrap();
                    prop_assert_eq!(
                        got.iter().collect::<Vec<_>>(),
                        brute,
                        "round {} viewport {:?}",
                        round.get(),
                        v
                    );
                    // Filters combine with the viewport.
                    let q = AnnotationQuery {
                        viewport: Some(*v),
                        annotation_types: Some(vec![poly]),
                        deleted: None,
                        ..Default::default()
                    };
                    let got = w.c.annotations().query(&admin, w.image.id, &q).unwrap();
                    let brute: Vec<&Annotation> =
                        everything.iter().filter(|a| q.matches(a)).collect();
                    prop_assert_eq!(got.iter().collect::<Vec<_>>(), brute);
                    // Counts read only record heads, yet agree with the full decode.
                    for q in [
                        AnnotationQuery::viewport(*v),
                        q,
                        AnnotationQuery::everything(),
                    ] {
                        let mut brute = std::collections::BTreeMap::new();
                        for a in everything.iter().filter(|a| q.matches(a)) {
                            *brute.entry(a.annotation_type).or_insert(0usize) += 1;
                        }
                        let counts =
                            w.c.annotations()
                                .count_by_type(&admin, w.image.id, &q)
                                .unwrap();
                        prop_assert_eq!(counts, brute, "counts of {:?}", q);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

fn polling_filters(b: Backend) {
    let w = World::new(b);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let t = w.ty(VectorType::BoundingBox).id;
    let mk = |x: f64| NewAnnotation::new(t, w.image.id, Some(Vector::rect(x, x, x + 5.0, x + 5.0)));
    let first = w.c.annotations().create(&admin, mk(0.0)).unwrap();
    let mine = w.c.annotations().create(&member, mk(10.0)).unwrap();
    let since = AnnotationQuery {
        edited_since: Some(mine.last_edit_time),
        ..Default::default()
    };
    let got = w.c.annotations().query(&admin, w.image.id, &since).unwrap();
    assert!(got.iter().any(|a| a.id == mine.id));
    assert!(got.iter().all(|a| a.last_edit_time >= mine.last_edit_time));
    let by_member = AnnotationQuery {
        user: Some(w.member.id),
        ..Default::default()
    };
    assert_eq!(
        w.c.annotations()
            .query(&admin, w.image.id, &by_member)
            .unwrap(),
        vec![mine]
    );
    assert_eq!(
        w.c.annotations()
            .count(&admin, w.image.id, &AnnotationQuery::default())
            .unwrap(),
        2
    );
    let _ = first;
}

crate::per_backend!(check, polling_filters, crowded_cells);

/// Hundreds of annotations in a few cells: pages fill up and split, updates move annotations
/// between full pages and cells, and queries still equal a brute-force scan.
fn crowded_cells(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    // Multi-lines: the zigzags below cross themselves, which polygons may not.
    let t = w.ty(VectorType::MultiLine).id;
    let mut rng = 12345u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut made = Vec::new();
    for _ in 0..4 {
        let news: Vec<NewAnnotation> = (0..400)
            .map(|_| {
                let (x, y) = ((next() % 4000) as f64, (next() % 4000) as f64);
                let n = 8 + (next() % 33) as usize;
                let pts = (0..n)
                    .map(|i| Point::new(x + (i as f64 * 7.0) % 60.0, y + (i * i) as f64 % 50.0))
                    .collect();
                NewAnnotation::new(t, w.image.id, Some(Vector::new(pts)))
            })
            .collect();
        made.extend(w.c.annotations().create_many(&admin, news).unwrap());
    }
    for (i, a) in made.iter().enumerate().step_by(7) {
        let dx = if i % 2 == 0 { 50_000.0 } else { 3.0 };
        let v = a.vector.as_ref().unwrap();
        let moved = Vector::new(v.points.iter().map(|p| Point::new(p.x + dx, p.y)).collect());
        w.c.annotations()
            .update(
                &admin,
                a.id,
                AnnotationPatch {
                    vector: Some(Some(moved)),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    for a in made.iter().skip(3).step_by(11) {
        w.c.annotations().delete(&admin, a.id).unwrap();
    }
    let all = AnnotationQuery {
        deleted: None,
        ..Default::default()
    };
    let everything = w.c.annotations().query(&admin, w.image.id, &all).unwrap();
    assert_eq!(everything.len(), made.len());
    for a in &made {
        let got = w.c.annotations().get(&admin, a.id).unwrap();
        assert_eq!(everything.iter().find(|e| e.id == a.id), Some(&got));
    }
    for v in [
        BBox::new(0.0, 0.0, 1000.0, 1000.0),
        BBox::new(1900.0, 1900.0, 2200.0, 2200.0),
        BBox::new(50_000.0, 0.0, 54_000.0, 4_100.0),
        BBox::new(-10.0, -10.0, 100_000.0, 100_000.0),
    ] {
        let brute: Vec<&Annotation> = everything
            .iter()
            .filter(|a| AnnotationQuery::viewport(v).matches(a))
            .collect();
        let got =
            w.c.annotations()
                .query(&admin, w.image.id, &AnnotationQuery::viewport(v))
                .unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), brute, "viewport {v:?}");
    }
}
