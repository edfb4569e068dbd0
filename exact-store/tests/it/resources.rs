//! The smaller resources: set tags, the image log, screening progress, media files, export
//! formats — each with its team scoping.

use crate::common::{World, memory};
use exact_core::catalog::{AnnotationTypePatch, NewAnnotation, NewExportFormat};
use exact_core::model::{LogAction, MediaFileType};
use exact_core::{ErrorKind, Vector, VectorType};

#[test]
fn set_tags_are_shared_by_name_and_scoped_by_set() {
    let w = World::new(memory());
    let (admin, other) = (w.actor(&w.admin), w.actor(&w.other_admin));
    let t = w.c.set_tags().tag(&admin, w.set.id, "mitosis").unwrap();
    let t2 =
        w.c.set_tags()
            .tag(&other, w.other_set.id, "mitosis")
            .unwrap();
    assert_eq!(t.id, t2.id, "one tag per name");
    // Each team only sees its own sets under the tag.
    let mine = w.c.set_tags().list(&admin).unwrap();
    assert_eq!(mine[0].imagesets, vec![w.set.id]);
    assert_eq!(
        w.c.set_tags()
            .tag(&other, w.set.id, "x")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let untagged = w.c.set_tags().untag(&admin, w.set.id, t.id).unwrap();
    assert_eq!(untagged.imagesets, vec![w.other_set.id]);
}

#[test]
fn image_log_and_screening_progress() {
    let w = World::new(memory());
    let member = w.actor(&w.member);
    w.c.log_image_actions()
        .log(&member, w.image.id, LogAction::Open, "10.0.0.7")
        .unwrap();
    w.c.log_image_actions()
        .log(&member, w.image.id, LogAction::Closed, "10.0.0.7")
        .unwrap();
    let log =
        w.c.log_image_actions()
            .of_image(&member, w.image.id)
            .unwrap();
    assert_eq!(
        log.iter().map(|l| l.action).collect::<Vec<_>>(),
        vec![LogAction::Open, LogAction::Closed]
    );
    let out = w.actor(&w.outsider);
    assert_eq!(
        w.c.log_image_actions()
            .log(&out, w.image.id, LogAction::Open, "")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    let m =
        w.c.screening_modes()
            .open(&member, w.image.id, 1000, 1000)
            .unwrap();
    assert_eq!((m.x_steps, m.y_steps), (100, 80));
    assert_eq!(
        w.c.screening_modes()
            .open(&member, w.image.id, 5, 5)
            .unwrap()
            .id,
        m.id,
        "one per user and image"
    );
    let m =
        w.c.screening_modes()
            .advance(&member, m.id, 7, None)
            .unwrap();
    assert_eq!(m.current_index, 7);
    assert_eq!(m.screening_tiles["7"]["Screened"], true);
    assert_eq!(
        w.c.screening_modes()
            .advance(&member, m.id, 8000, None)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let admin = w.actor(&w.admin);
    assert_eq!(
        w.c.screening_modes()
            .advance(&admin, m.id, 1, None)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn media_files_and_export_formats() {
    let w = World::new(memory());
    let (admin, other) = (w.actor(&w.admin), w.actor(&w.other_admin));
    let t = w.ty(VectorType::BoundingBox).id;
    let a =
        w.c.annotations()
            .create(
                &admin,
                NewAnnotation::new(t, w.image.id, Some(Vector::rect(0.0, 0.0, 9.0, 9.0))),
            )
            .unwrap();
    let f =
        w.c.media_files()
            .attach(
                &admin,
                a.id,
                "cell.png",
                MediaFileType::Image,
                "media/1/cell.png",
            )
            .unwrap();
    assert_eq!(
        w.c.media_files().of_annotation(&admin, a.id).unwrap(),
        vec![f]
    );
    assert_eq!(
        w.c.media_files()
            .attach(&admin, a.id, "cell.png", MediaFileType::Image, "x")
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        w.c.media_files()
            .attach(&other, a.id, "y.png", MediaFileType::Image, "y")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    let new = NewExportFormat {
        name: "csv".into(),
        team: Some(w.team.id),
        annotations_types: vec![t],
        base_format: "%%content".into(),
        annotation_format: "%%imagename,%%type,%%vector\n".into(),
        vector_format: "%%x,%%y,".into(),
        not_in_image_format: "%%imagename,%%type,not in image\n".into(),
        name_format: "export_%%exportid.csv".into(),
        ..Default::default()
    };
    let fmt = w.c.export_formats().create(&admin, new.clone()).unwrap();
    assert_eq!(
        w.c.export_formats().list(&admin).unwrap(),
        vec![fmt.clone()]
    );
    assert!(w.c.export_formats().list(&other).unwrap().is_empty());
    assert_eq!(
        w.c.export_formats().get(&other, fmt.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let foreign = NewExportFormat {
        name: "mine".into(),
        team: Some(w.other_team.id),
        annotations_types: vec![t],
        ..new
    };
    assert_eq!(
        w.c.export_formats()
            .create(&other, foreign)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn inactive_types_take_no_new_annotations() {
    let w = World::new(memory());
    let admin = w.actor(&w.admin);
    let t = w.ty(VectorType::Line).id;
    w.c.annotation_types()
        .update(
            &admin,
            t,
            AnnotationTypePatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        w.c.annotation_types()
            .of_set(&admin, w.set.id)
            .unwrap()
            .iter()
            .all(|x| x.id != t)
    );
    let e =
        w.c.annotations()
            .create(
                &admin,
                NewAnnotation::new(t, w.image.id, Some(Vector::rect(0.0, 0.0, 1.0, 1.0))),
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("inactive"), "{e}");
    let member = w.actor(&w.member);
    let bad = AnnotationTypePatch {
        color_code: Some("red".into()),
        ..Default::default()
    };
    assert_eq!(
        w.c.annotation_types()
            .update(&member, t, bad)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn annotation_extras_media_list_and_get() {
    let w = World::new(memory());
    let (admin, member, other) = (
        w.actor(&w.admin),
        w.actor(&w.member),
        w.actor(&w.other_admin),
    );
    let t = w.ty(VectorType::BoundingBox).id;
    let mk = |x: f64| {
        w.c.annotations()
            .create(
                &admin,
                NewAnnotation::new(t, w.image.id, Some(Vector::rect(x, x, x + 9.0, x + 9.0))),
            )
            .unwrap()
    };
    let (a, b) = (mk(0.0), mk(100.0));
    // Nothing verified, attached or versioned yet.
    let none =
        w.c.annotations()
            .extras(&admin, &[a.clone(), b.clone()])
            .unwrap();
    assert!(none.iter().all(|x| *x == Default::default()));
    w.c.verifications().verify(&admin, a.id, true).unwrap();
    w.c.verifications().verify(&member, b.id, true).unwrap();
    let f =
        w.c.media_files()
            .attach(&admin, a.id, "a.png", MediaFileType::Image, "media/a")
            .unwrap();
    w.c.versions().create(&admin, "v1", &[w.set.id]).unwrap();
    let x =
        w.c.annotations()
            .extras(&admin, &[a.clone(), b.clone()])
            .unwrap();
    assert!(x[0].verified_by_user && !x[1].verified_by_user);
    assert_eq!(x[0].uploaded_media_files, vec![f.id]);
    assert!(x[1].uploaded_media_files.is_empty());
    assert_eq!(x[0].annotationversion_set.len(), 1);
    assert_eq!(x[1].annotationversion_set.len(), 1);
    // Another team neither gets extras nor sees the file.
    assert_eq!(
        w.c.annotations()
            .extras(&other, std::slice::from_ref(&a))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(w.c.media_files().list(&admin).unwrap(), vec![f.clone()]);
    assert!(w.c.media_files().list(&other).unwrap().is_empty());
    assert_eq!(w.c.media_files().get(&member, f.id).unwrap(), f);
    assert_eq!(
        w.c.media_files().get(&other, f.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
