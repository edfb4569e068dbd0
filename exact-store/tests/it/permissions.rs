//! The permission matrix: one test per rule of `exact_core::permissions`.

use crate::common::{World, memory};
use exact_core::catalog::{
    AnnotationPatch, AnnotationQuery, ImagePatch, ImageSetPatch, NewAnnotation, NewImage,
    TeamPatch, UserPatch,
};
use exact_core::model::{Annotation, CollaborationType, ImageType};
use exact_core::{Actor, ErrorKind, Vector, VectorType};

fn boxed(w: &World, actor: &Actor, x: f64) -> Annotation {
    let t = w.ty(VectorType::BoundingBox).id;
    w.c.annotations()
        .create(
            actor,
            NewAnnotation::new(t, w.image.id, Some(Vector::rect(x, x, x + 10.0, x + 10.0))),
        )
        .unwrap()
}

fn visible(w: &World, actor: &Actor) -> Vec<u64> {
    w.c.annotations()
        .query(actor, w.image.id, &AnnotationQuery::default())
        .unwrap()
        .iter()
        .map(|a| a.id.0)
        .collect()
}

#[test]
fn outsiders_see_nothing_of_a_team() {
    let w = World::new(memory());
    let out = w.actor(&w.outsider);
    assert_eq!(
        w.c.image_sets().get(&out, w.set.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.images().get(&out, w.image.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.teams().get(&out, w.team.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(w.c.image_sets().list(&out).unwrap().is_empty());
    assert!(w.c.products().list(&out).unwrap().is_empty());
    let a = boxed(&w, &w.actor(&w.admin), 100.0);
    assert_eq!(
        w.c.annotations().get(&out, a.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.annotations()
            .query(&out, w.image.id, &AnnotationQuery::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // Users are visible only to those sharing a team.
    assert_eq!(
        w.c.users().get(&out, w.admin.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(w.c.users().list(&w.actor(&w.member)).unwrap().len(), 2);
}

#[test]
fn writes_are_team_scoped_too() {
    let w = World::new(memory());
    let other = w.actor(&w.other_admin);
    w.c.image_sets().get(&other, w.other_set.id).unwrap();
    w.c.teams().get(&other, w.other_team.id).unwrap();
    assert_eq!(
        w.c.image_sets().get(&other, w.set.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // EXACT accepts a foreign image id on create; we refuse without revealing it.
    let t = w.other_box.id;
    let e =
        w.c.annotations()
            .create(
                &other,
                NewAnnotation::new(t, w.image.id, Some(Vector::rect(0.0, 0.0, 5.0, 5.0))),
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("image"), "{e}");
    // Nor may one use another team's annotation type on one's own image.
    let admin = w.actor(&w.admin);
    let e =
        w.c.annotations()
            .create(
                &admin,
                NewAnnotation::new(t, w.image.id, Some(Vector::rect(0.0, 0.0, 5.0, 5.0))),
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // Nor edit, delete or verify another team's annotation.
    let a = boxed(&w, &admin, 10.0);
    assert_eq!(
        w.c.annotations().delete(&other, a.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.verifications()
            .verify(&other, a.id, true)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.images()
            .add(&other, NewImage::new(w.set.id, "x", 5, 5))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.image_sets()
            .update(&other, w.set.id, ImageSetPatch::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn members_annotate_but_only_admins_manage_the_team() {
    let w = World::new(memory());
    let member = w.actor(&w.member);
    let admin = w.actor(&w.admin);
    boxed(&w, &member, 50.0);
    let e =
        w.c.teams()
            .update(
                &member,
                w.team.id,
                TeamPatch {
                    name: Some("mine".into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e =
        w.c.teams()
            .add_member(&member, w.team.id, w.outsider.id, false)
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    w.c.teams()
        .add_member(&admin, w.team.id, w.outsider.id, false)
        .unwrap();
    // The last admin can neither leave nor be demoted; members may leave.
    assert_eq!(
        w.c.teams()
            .remove_member(&admin, w.team.id, w.admin.id)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        w.c.teams()
            .set_admin(&admin, w.team.id, w.admin.id, false)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    w.c.teams()
        .remove_member(&member, w.team.id, w.member.id)
        .unwrap();
    let gone = w.actor(&w.member);
    assert_eq!(
        w.c.image_sets().get(&gone, w.set.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn set_rights_differ_for_members_and_admins() {
    let w = World::new(memory());
    let member = w.actor(&w.member);
    let admin = w.actor(&w.admin);
    let m = member.rights(&w.set);
    assert!(m.read && m.annotate && m.verify && m.edit_set && !m.delete_images && !m.delete_set);
    let a = admin.rights(&w.set);
    assert!(a.delete_images && a.delete_set && a.see_all);
    // Only admins hand a set to another creator.
    let e =
        w.c.image_sets()
            .update(
                &member,
                w.set.id,
                ImageSetPatch {
                    creator: Some(Some(w.member.id)),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    w.c.image_sets()
        .update(
            &admin,
            w.set.id,
            ImageSetPatch {
                creator: Some(Some(w.member.id)),
                ..Default::default()
            },
        )
        .unwrap();
    // Users change only their own e-mail; flags are for superusers.
    assert_eq!(
        w.c.users()
            .update(
                &member,
                w.member.id,
                UserPatch {
                    is_superuser: Some(true),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    w.c.users()
        .update(
            &member,
            w.member.id,
            UserPatch {
                email: Some("m@lab.org".into()),
                ..Default::default()
            },
        )
        .unwrap();
}

#[test]
fn locked_sets_take_no_images() {
    let w = World::new(memory());
    let admin = w.actor(&w.admin);
    w.c.image_sets()
        .update(
            &admin,
            w.set.id,
            ImageSetPatch {
                image_lock: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    let e =
        w.c.images()
            .add(&admin, NewImage::new(w.set.id, "late.svs", 10, 10))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("locked"), "{e}");
}

#[test]
fn only_superusers_decide_where_pixels_come_from() {
    let w = World::new(memory());
    let admin = w.actor(&w.admin);
    let mut link = NewImage::new(w.set.id, "linked.svs", 10, 10);
    link.image_type = ImageType::FileLink;
    link.filename = "s3://archive/linked.svs".into();
    let e = w.c.images().add(&admin, link.clone()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    for patch in [
        ImagePatch {
            filename: Some("/etc/passwd".into()),
            ..Default::default()
        },
        ImagePatch {
            image_type: Some(ImageType::FileLink),
            ..Default::default()
        },
    ] {
        let e = w.c.images().update(&admin, w.image.id, patch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    }
    // Other metadata stays the members' to change.
    w.c.images()
        .update(
            &admin,
            w.image.id,
            ImagePatch {
                mpp: Some(0.25),
                ..Default::default()
            },
        )
        .unwrap();
    let root =
        w.c.users()
            .register(exact_core::catalog::NewUser {
                username: "root".into(),
                is_superuser: true,
                ..Default::default()
            })
            .unwrap();
    w.c.images().add(&w.actor(&root), link).unwrap();
}

#[test]
fn public_sets_are_readable_and_public_collaboration_annotatable() {
    let w = World::new(memory());
    let admin = w.actor(&w.admin);
    let out = w.actor(&w.outsider);
    w.c.image_sets()
        .update(
            &admin,
            w.set.id,
            ImageSetPatch {
                public: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    w.c.image_sets().get(&out, w.set.id).unwrap();
    let t = w.ty(VectorType::BoundingBox).id;
    let new = NewAnnotation::new(t, w.image.id, Some(Vector::rect(0.0, 0.0, 5.0, 5.0)));
    assert_eq!(
        w.c.annotations()
            .create(&out, new.clone())
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    w.c.image_sets()
        .update(
            &admin,
            w.set.id,
            ImageSetPatch {
                public_collaboration: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    w.c.annotations().create(&out, new).unwrap();
    // Public readers still cannot change the set.
    assert_eq!(
        w.c.image_sets()
            .update(
                &out,
                w.set.id,
                ImageSetPatch {
                    name: Some("x".into()),
                    ..Default::default()
                }
            )
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn collaborative_sets_share_everything() {
    let w = World::new(memory());
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let a = boxed(&w, &admin, 10.0);
    let b = boxed(&w, &member, 20.0);
    assert_eq!(visible(&w, &member), vec![a.id.0, b.id.0]);
    w.c.annotations()
        .update(
            &member,
            a.id,
            AnnotationPatch {
                description: Some("checked".into()),
                ..Default::default()
            },
        )
        .unwrap();
}

#[test]
fn competitive_sets_hide_others_annotations_from_members() {
    let w = World::with(memory(), CollaborationType::Competitive);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let a = boxed(&w, &admin, 10.0);
    let b = boxed(&w, &member, 20.0);
    assert_eq!(visible(&w, &member), vec![b.id.0]);
    assert_eq!(
        visible(&w, &admin),
        vec![a.id.0, b.id.0],
        "team admins run the study and see all"
    );
    assert_eq!(
        w.c.annotations().get(&member, a.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        w.c.annotations().delete(&member, a.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Global labels are per user in competitive sets.
    let g = w.ty(VectorType::Global).id;
    w.c.annotations()
        .create(&admin, NewAnnotation::new(g, w.image.id, None))
        .unwrap();
    w.c.annotations()
        .create(&member, NewAnnotation::new(g, w.image.id, None))
        .unwrap();
}

#[test]
fn second_opinion_sets_show_all_but_edit_only_ones_own() {
    let w = World::with(memory(), CollaborationType::SecondOpinion);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let a = boxed(&w, &admin, 10.0);
    let b = boxed(&w, &member, 20.0);
    assert_eq!(visible(&w, &member), vec![a.id.0, b.id.0]);
    let e =
        w.c.annotations()
            .update(
                &member,
                a.id,
                AnnotationPatch {
                    deleted: Some(true),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    w.c.annotations()
        .update(
            &member,
            b.id,
            AnnotationPatch {
                blurred: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    // The second reader gives a verdict on the first reader's annotation.
    w.c.verifications().verify(&member, a.id, false).unwrap();
}

#[test]
fn one_verdict_per_user_and_points_follow_it() {
    let w = World::new(memory());
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let a = boxed(&w, &admin, 10.0);
    let first = w.c.verifications().verify(&member, a.id, true).unwrap();
    let again = w.c.verifications().verify(&member, a.id, false).unwrap();
    assert_eq!(first.id, again.id, "a second verdict replaces the first");
    w.c.verifications().verify(&admin, a.id, true).unwrap();
    let all = w.c.verifications().of_annotation(&admin, a.id).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(w.c.users().get(&admin, w.admin.id).unwrap().points, 1);
}

#[test]
fn superusers_see_everything() {
    let w = World::new(memory());
    let root =
        w.c.users()
            .register(exact_core::catalog::NewUser {
                username: "root".into(),
                is_superuser: true,
                ..Default::default()
            })
            .unwrap();
    let root = w.actor(&root);
    assert_eq!(w.c.image_sets().list(&root).unwrap().len(), 2);
    w.c.images().get(&root, w.other_image.id).unwrap();
    assert_eq!(w.c.teams().list(&root).unwrap().len(), 2);
}

#[test]
fn teams_and_sets_are_deleted_only_by_admins_and_only_when_empty() {
    use exact_core::catalog::{NewImageSet, NewTeam};
    let w = World::new(memory());
    let admin = w.actor(&w.admin);
    let member = w.actor(&w.member);
    // A set with an image is refused, also to its admin; a member may not delete at all.
    assert_eq!(
        w.c.image_sets()
            .delete(&admin, w.set.id)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let empty =
        w.c.image_sets()
            .create(&member, NewImageSet::new("empty", w.team.id))
            .unwrap();
    w.c.set_tags().tag(&admin, empty.id, "tagged").unwrap();
    let other = w.actor(&w.other_admin);
    assert_eq!(
        w.c.image_sets()
            .delete(&other, empty.id)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // A member may not delete a set someone else created.
    let admins_set =
        w.c.image_sets()
            .create(&admin, NewImageSet::new("admins", w.team.id))
            .unwrap();
    assert_eq!(
        w.c.image_sets()
            .delete(&member, admins_set.id)
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    w.c.image_sets().delete(&admin, empty.id).unwrap();
    assert_eq!(
        w.c.image_sets().get(&admin, empty.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(
        w.c.set_tags()
            .list(&admin)
            .unwrap()
            .iter()
            .all(|t| !t.imagesets.contains(&empty.id))
    );
    // Teams: non-empty refused, members refused, an empty one goes with its memberships.
    assert_eq!(
        w.c.teams().delete(&admin, w.team.id).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let t = w.c.teams().create(&admin, NewTeam::new("scratch")).unwrap();
    let admin = w.actor(&w.admin);
    w.c.teams()
        .add_member(&admin, t.id, w.member.id, false)
        .unwrap();
    let member = w.actor(&w.member);
    assert_eq!(
        w.c.teams().delete(&member, t.id).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    w.c.teams().delete(&admin, t.id).unwrap();
    let admin = w.actor(&w.admin);
    assert!(!admin.member_of(Some(t.id)));
    assert!(
        w.c.teams()
            .list(&admin)
            .unwrap()
            .iter()
            .all(|x| x.id != t.id)
    );
}

#[test]
fn nobody_locks_themself_out() {
    use exact_core::catalog::NewUser;
    let w = World::new(memory());
    let root =
        w.c.users()
            .register(NewUser {
                username: "root".into(),
                is_superuser: true,
                ..Default::default()
            })
            .unwrap();
    let r = w.c.actor(root.id).unwrap();
    for patch in [
        UserPatch {
            is_active: Some(false),
            ..Default::default()
        },
        UserPatch {
            is_superuser: Some(false),
            ..Default::default()
        },
    ] {
        assert_eq!(
            w.c.users().update(&r, root.id, patch).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    // Other users' flags remain the superuser's to change.
    w.c.users()
        .update(
            &r,
            w.member.id,
            UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
}
