//! Annotation lists (`Annotations::list`) equal the reference: every visible annotation of the
//! images, filtered by [`AnnotationQuery::matches`] and EXACT's further filters, in id order,
//! windowed — on every backend, in a collaborative and a competitive set.

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationList, AnnotationQuery, NewAnnotation};
use exact_core::model::{Annotation, CollaborationType};
use exact_core::{AnnotationId, BBox, ImageId, Point, Vector, VectorType};

fn check(b: Backend, collaboration: CollaborationType) {
    let w = World::with(b, collaboration);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let (boxt, poly) = (
        w.ty(VectorType::BoundingBox).id,
        w.ty(VectorType::Polygon).id,
    );
    let mut made = Vec::new();
    for (who, n) in [(&admin, 0u64), (&member, 1)] {
        let news: Vec<NewAnnotation> = (0..120u64)
            .map(|i| {
                let x = ((i * 7919 + n * 104_729) % 90_000) as f64;
                let y = ((i * 3571) % 70_000) as f64;
                if i % 4 == 0 {
                    NewAnnotation::new(
                        poly,
                        w.image.id,
                        Some(Vector::new(vec![
                            Point::new(x, y),
                            Point::new(x + 30.0, y),
                            Point::new(x + 15.0, y + 60.0),
                        ])),
                    )
                } else {
                    NewAnnotation::new(
                        boxt,
                        w.image.id,
                        Some(Vector::rect(x, y, x + 40.0, y + 40.0)),
                    )
                }
            })
            .collect();
        made.extend(w.c.annotations().create_many(who, news).unwrap());
    }
    // Some deleted, some verified by the member.
    let gone: Vec<AnnotationId> = made.iter().step_by(9).map(|a| a.id).collect();
    w.c.annotations().delete_many(&admin, &gone).unwrap();
    for a in made.iter().step_by(5) {
        let _ = w.c.verifications().verify(&member, a.id, true);
    }
    let verified: Vec<AnnotationId> = made
        .iter()
        .filter(|a| {
            w.c.verifications()
                .of_annotation(&admin, a.id)
                .is_ok_and(|v| v.iter().any(|v| v.user == w.member.id))
        })
        .map(|a| a.id)
        .collect();

    let lists = [
        AnnotationList::default(),
        AnnotationList {
            query: AnnotationQuery::everything(),
            ..Default::default()
        },
        AnnotationList {
            vector_types: Some(vec![VectorType::Polygon]),
            ..Default::default()
        },
        AnnotationList {
            query: AnnotationQuery::viewport(BBox::new(0.0, 0.0, 40_000.0, 40_000.0)),
            limit: Some(7),
            offset: 3,
            ..Default::default()
        },
        AnnotationList {
            verified_by: Some((w.member.id, w.member.id)),
            query: AnnotationQuery::everything(),
            ..Default::default()
        },
        AnnotationList {
            ids: Some(made.iter().step_by(3).map(|a| a.id).collect()),
            limit: Some(10),
            offset: 20,
            ..Default::default()
        },
        AnnotationList {
            images: vec![w.image.id],
            limit: Some(0),
            ..Default::default()
        },
    ];
    for who in [&admin, &member] {
        let mut all =
            w.c.annotations()
                .query(who, w.image.id, &AnnotationQuery::everything())
                .unwrap();
        all.sort_by_key(|a| a.id);
        for list in &lists {
            let types = list.vector_types.as_ref().map(|vts| {
                w.types
                    .iter()
                    .filter(|t| vts.contains(&t.vector_type))
                    .map(|t| t.id)
                    .collect::<Vec<_>>()
            });
            let want: Vec<&Annotation> = all
                .iter()
                .filter(|a| list.query.matches(a))
                .filter(|a| list.ids.as_ref().is_none_or(|ids| ids.contains(&a.id)))
                .filter(|a| {
                    types
                        .as_ref()
                        .is_none_or(|ts| ts.contains(&a.annotation_type))
                })
                .filter(|a| list.verified_by.is_none() || verified.contains(&a.id))
                .collect();
            let got = w.c.annotations().list(who, list).unwrap();
            assert_eq!(got.count, want.len(), "{list:?}");
            let window: Vec<&Annotation> = want
                .iter()
                .skip(list.offset)
                .take(list.limit.unwrap_or(usize::MAX))
                .copied()
                .collect();
            assert_eq!(got.items.iter().collect::<Vec<_>>(), window, "{list:?}");
        }
    }
    // Another team's image is not found, whatever the list asks.
    let e =
        w.c.annotations()
            .list(
                &admin,
                &AnnotationList {
                    images: vec![w.other_image.id, ImageId(w.image.id.0)],
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), exact_core::ErrorKind::NotFound);
}

fn collaborative(b: Backend) {
    check(b, CollaborationType::Collaborative)
}

fn competitive(b: Backend) {
    check(b, CollaborationType::Competitive)
}

crate::per_backend!(collaborative, competitive);
