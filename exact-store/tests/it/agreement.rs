//! Agreement statistics (issue 16) on a hand-computed example: a member and a model's
//! proposals against the admin, boxes matched by IoU ≥ 0.5 and points by centre distance
//! (the point type's default width 50 → 25 px), one-to-one, classes compared by kappa.

use crate::common::{Backend, World};
use crate::per_backend;
use exact_core::catalog::{AgreementOptions, NewAnnotation, NewAnnotationType, PairAgreement};
use exact_core::vector::Vector;
use exact_core::{AnnotationTypeId, ErrorKind, ImageId, VectorType};
use serde_json::json;

fn add(
    w: &World,
    who: &exact_core::model::User,
    ty: AnnotationTypeId,
    image: ImageId,
    v: Vector,
    meta: serde_json::Value,
) {
    let mut n = NewAnnotation::new(ty, image, Some(v));
    n.meta_data = meta;
    w.c.annotations().create(&w.actor(who), n).unwrap();
}

fn pair<'a>(pairs: &'a [PairAgreement], a: &str, r: &str) -> &'a PairAgreement {
    pairs
        .iter()
        .find(|p| p.annotator == a && p.reference == r)
        .unwrap_or_else(|| panic!("no pair {a} vs {r} in {pairs:?}"))
}

fn check(p: &PairAgreement, tp: u64, fp: u64, fn_: u64, kappa: Option<f64>) {
    assert_eq!(
        (p.true_positives, p.false_positives, p.false_negatives),
        (tp, fp, fn_),
        "{p:?}"
    );
    let (t, f, n) = (tp as f64, fp as f64, fn_ as f64);
    assert_eq!(p.precision, Some(t / (t + f)), "{p:?}");
    assert_eq!(p.recall, Some(t / (t + n)), "{p:?}");
    assert_eq!(p.f1, Some(2.0 * t / (2.0 * t + f + n)), "{p:?}");
    match (p.kappa, kappa) {
        (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{p:?}"),
        (a, b) => assert_eq!(a, b, "{p:?}"),
    }
}

fn hand_computed_example(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    let class_a = w.ty(VectorType::BoundingBox).id;
    let class_b =
        w.c.annotation_types()
            .create(
                &a,
                NewAnnotationType::new("other box", VectorType::BoundingBox, w.product.id),
            )
            .unwrap()
            .id;
    let point = w.ty(VectorType::Point).id;
    let img = w.image.id;
    let none = json!({});
    let model = json!({"generated": true, "model": "colour", "score": 0.9});
    let pt = |x: f64| Vector::rect(x - 25.0, 975.0, x + 25.0, 1025.0);
    // The reference (admin): R1 A, R2 A, R3 B, R4 point at (1000, 1000).
    add(
        &w,
        &w.admin,
        class_a,
        img,
        Vector::rect(0.0, 0.0, 100.0, 100.0),
        none.clone(),
    );
    add(
        &w,
        &w.admin,
        class_a,
        img,
        Vector::rect(200.0, 0.0, 300.0, 100.0),
        none.clone(),
    );
    add(
        &w,
        &w.admin,
        class_b,
        img,
        Vector::rect(400.0, 0.0, 500.0, 100.0),
        none.clone(),
    );
    add(&w, &w.admin, point, img, pt(1000.0), none.clone());
    // The member: = R1 (IoU 1); over R2 by a third (IoU 1/3: no match); the top half of R3
    // (IoU exactly 0.5: a match); a point 10 px from R4.
    add(
        &w,
        &w.member,
        class_a,
        img,
        Vector::rect(0.0, 0.0, 100.0, 100.0),
        none.clone(),
    );
    add(
        &w,
        &w.member,
        class_b,
        img,
        Vector::rect(250.0, 0.0, 350.0, 100.0),
        none.clone(),
    );
    add(
        &w,
        &w.member,
        class_b,
        img,
        Vector::rect(400.0, 0.0, 500.0, 50.0),
        none.clone(),
    );
    add(&w, &w.member, point, img, pt(1010.0), none.clone());
    // The model (proposals the admin's job wrote): R1 as B, R2 as A, a point 30 px from R4
    // (too far), R3 as A.
    add(
        &w,
        &w.admin,
        class_b,
        img,
        Vector::rect(0.0, 0.0, 100.0, 100.0),
        model.clone(),
    );
    add(
        &w,
        &w.admin,
        class_a,
        img,
        Vector::rect(200.0, 0.0, 300.0, 100.0),
        model.clone(),
    );
    add(&w, &w.admin, point, img, pt(1030.0), model.clone());
    add(
        &w,
        &w.admin,
        class_a,
        img,
        Vector::rect(400.0, 0.0, 500.0, 100.0),
        model.clone(),
    );

    let p = w.c.processing();
    let vs_admin = AgreementOptions {
        reference: Some(w.admin.id),
        ..Default::default()
    };
    let r = p.agreement(&a, w.set.id, None, &vs_admin).unwrap();
    assert_eq!(r.images, 1);
    assert_eq!(r.reference.as_deref(), Some("admin"));
    assert_eq!(r.pairs.len(), 2, "{:?}", r.pairs);
    // member: TP 3 (R1, R3, R4), FP 1, FN 1 (R2); classes (A,A) (B,B) (P,P): kappa 1.
    check(pair(&r.pairs, "member", "admin"), 3, 1, 1, Some(1.0));
    // model: TP 3 (R1, R2, R3), FP 1 (the far point), FN 1 (R4); classes (B,A) (A,A)
    // (A,B): po = 1/3, pe = 2/3·2/3 + 1/3·1/3 = 5/9, kappa = (1/3 − 5/9) / (4/9) = −1/2.
    let m = pair(&r.pairs, "model:colour", "admin");
    assert!(m.model);
    check(m, 3, 1, 1, Some(-0.5));

    // Against every human: also admin vs member and the model vs member, whose classes
    // (B,A) (A,B) (P,P) give po = 1/3 = pe, kappa 0.
    let all = p
        .agreement(&a, w.set.id, Some(img), &AgreementOptions::default())
        .unwrap();
    assert_eq!(all.pairs.len(), 4, "{:?}", all.pairs);
    check(pair(&all.pairs, "admin", "member"), 3, 1, 1, Some(1.0));
    check(
        pair(&all.pairs, "model:colour", "member"),
        3,
        1,
        1,
        Some(0.0),
    );

    // A stricter point distance (5 px) loses the member's point; a stricter IoU (0.6) the
    // half box.
    let strict = AgreementOptions {
        distance: Some(5.0),
        iou: 0.6,
        ..vs_admin.clone()
    };
    let s = p.agreement(&a, w.set.id, None, &strict).unwrap();
    check(pair(&s.pairs, "member", "admin"), 1, 3, 3, None);

    // Refusals: bad threshold, an image of another set, a set the actor cannot read.
    let bad = AgreementOptions {
        iou: 0.0,
        ..Default::default()
    };
    assert_eq!(
        p.agreement(&a, w.set.id, None, &bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let o = w.actor(&w.other_admin);
    let e = p
        .agreement(&o, w.other_set.id, Some(img), &Default::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let out = w.actor(&w.outsider);
    let e = p
        .agreement(&out, w.set.id, None, &Default::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

per_backend!(hand_computed_example);
