//! Nothing lost: soft delete, history with before/after and restore, set versions and diffs.

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation, VersionChange};
use exact_core::model::ChangeAction;
use exact_core::{ErrorKind, Vector, VectorType};

fn history_and_restore(b: Backend) {
    let w = World::new(b);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let t = w.ty(VectorType::Polygon).id;
    let tri = Vector::new(vec![
        exact_core::Point::new(0.0, 0.0),
        exact_core::Point::new(100.0, 0.0),
        exact_core::Point::new(0.0, 100.0),
    ]);
    let a =
        w.c.annotations()
            .create(&admin, NewAnnotation::new(t, w.image.id, Some(tri.clone())))
            .unwrap();
    let moved = Vector::new(
        tri.points
            .iter()
            .map(|p| exact_core::Point::new(p.x + 500.0, p.y))
            .collect(),
    );
    let u =
        w.c.annotations()
            .update(
                &member,
                a.id,
                AnnotationPatch {
                    vector: Some(Some(moved.clone())),
                    ..Default::default()
                },
            )
            .unwrap();
    assert_eq!(u.last_editor, Some(w.member.id));
    assert_eq!(u.user, Some(w.admin.id));
    let d = w.c.annotations().delete(&member, a.id).unwrap();
    assert!(d.deleted);
    // Soft delete: gone from queries, still readable and in the history.
    assert!(
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::default())
            .unwrap()
            .is_empty()
    );
    let deleted = AnnotationQuery {
        deleted: Some(true),
        ..Default::default()
    };
    assert_eq!(
        w.c.annotations()
            .query(&admin, w.image.id, &deleted)
            .unwrap()
            .len(),
        1
    );
    let h = w.c.annotations().history(&admin, a.id).unwrap();
    let actions: Vec<_> = h.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        vec![
            ChangeAction::Created,
            ChangeAction::Updated,
            ChangeAction::Deleted
        ]
    );
    assert_eq!(h[0].after.vector, Some(tri.clone()));
    assert_eq!(h[0].user, Some(w.admin.id));
    assert_eq!(h[1].before.as_ref().unwrap().vector, Some(tri.clone()));
    assert_eq!(h[1].after.vector, Some(moved.clone()));
    assert_eq!(h[1].user, Some(w.member.id));
    assert!(!h[1].after.deleted && h[2].after.deleted);
    // Restore the original state: undeleted, original geometry, recorded as a new entry.
    let r = w.c.annotations().restore(&admin, a.id, 0).unwrap();
    assert!(!r.deleted);
    assert_eq!(r.vector, Some(tri));
    assert_eq!(r.last_editor, Some(w.admin.id));
    let h = w.c.annotations().history(&admin, a.id).unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(h[3].action, ChangeAction::Restored);
    assert_eq!(h[3].after, r);
    assert_eq!(
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::default())
            .unwrap(),
        vec![r]
    );
    assert_eq!(
        w.c.annotations()
            .restore(&admin, a.id, 9)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

fn synced_times_and_uuids_are_kept(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let t = w.ty(VectorType::BoundingBox).id;
    let mut new = NewAnnotation::new(t, w.image.id, Some(Vector::rect(1.0, 2.0, 30.0, 40.0)));
    let uuid = uuid::Uuid::from_u128(0xfeed);
    new.unique_identifier = Some(uuid);
    new.time = Some(exact_core::Timestamp::parse("time", "2021-06-15T10:20:30.123456").unwrap());
    new.last_edit_time =
        Some(exact_core::Timestamp::parse("t", "2021-06-16T10:20:30.000001").unwrap());
    let a = w.c.annotations().create(&admin, new).unwrap();
    let back = w.c.annotations().get(&admin, a.id).unwrap();
    assert_eq!(back.time.to_string(), "2021-06-15T10:20:30.123456");
    assert_eq!(
        back.last_edit_time.to_string(),
        "2021-06-16T10:20:30.000001"
    );
    assert_eq!(
        w.c.annotations().by_uuid(&admin, w.image.id, uuid).unwrap(),
        vec![back]
    );
}

fn versions_snapshot_and_diff(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let t = w.ty(VectorType::BoundingBox).id;
    let mk = |x: f64| NewAnnotation::new(t, w.image.id, Some(Vector::rect(x, x, x + 5.0, x + 5.0)));
    let made =
        w.c.annotations()
            .create_many(&admin, vec![mk(0.0), mk(10.0), mk(20.0)])
            .unwrap();
    let v = w.c.versions().create(&admin, "v1", &[w.set.id]).unwrap();
    assert_eq!(w.c.versions().annotations(&admin, v.id).unwrap().len(), 3);
    assert!(w.c.versions().diff(&admin, v.id).unwrap().is_empty());
    w.c.annotations()
        .update(
            &admin,
            made[0].id,
            AnnotationPatch {
                vector: Some(Some(Vector::rect(1.0, 1.0, 9.0, 9.0))),
                ..Default::default()
            },
        )
        .unwrap();
    w.c.annotations().delete(&admin, made[1].id).unwrap();
    // A description change is not a dataset change.
    w.c.annotations()
        .update(
            &admin,
            made[2].id,
            AnnotationPatch {
                description: Some("fine".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let added = w.c.annotations().create(&admin, mk(30.0)).unwrap();
    let diff = w.c.versions().diff(&admin, v.id).unwrap();
    let got: Vec<_> = diff.iter().map(|d| (d.annotation, d.change)).collect();
    assert_eq!(
        got,
        vec![
            (made[0].id, VersionChange::Changed),
            (made[1].id, VersionChange::Changed),
            (added.id, VersionChange::Added)
        ]
    );
    assert!(diff[1].live.as_ref().unwrap().deleted && !diff[1].snapshot.as_ref().unwrap().deleted);
    assert_eq!(
        w.c.versions()
            .create(&admin, "v1", &[w.set.id])
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let out = w.actor(&w.outsider);
    assert_eq!(
        w.c.versions().get(&out, v.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

crate::per_backend!(
    history_and_restore,
    synced_times_and_uuids_are_kept,
    versions_snapshot_and_diff,
    concurrent_writers_lose_nothing
);

/// Concurrent writers into the same cells: optimistic retries keep every annotation.
fn concurrent_writers_lose_nothing(b: Backend) {
    let w = World::new(b);
    let t = w.ty(VectorType::BoundingBox).id;
    let image = w.image.id;
    std::thread::scope(|scope| {
        for thread in 0..4u32 {
            let (c, admin) = (w.c.clone(), w.actor(&w.admin));
            scope.spawn(move || {
                for round in 0..10u32 {
                    let news = (0..50u32)
                        .map(|i| {
                            let x = f64::from((thread * 7 + round * 13 + i * 31) % 3000);
                            NewAnnotation::new(t, image, Some(Vector::rect(x, x, x + 4.0, x + 4.0)))
                        })
                        .collect();
                    let made = c.annotations().create_many(&admin, news).unwrap();
                    // Edits race with the other threads' inserts into the same pages.
                    let patch = AnnotationPatch {
                        description: Some(format!("t{thread}")),
                        ..Default::default()
                    };
                    c.annotations().update(&admin, made[0].id, patch).unwrap();
                }
            });
        }
    });
    let admin = w.actor(&w.admin);
    let all =
        w.c.annotations()
            .query(&admin, image, &AnnotationQuery::default())
            .unwrap();
    assert_eq!(all.len(), 4 * 10 * 50);
    assert_eq!(
        all.iter()
            .filter(|a| a.description.starts_with('t'))
            .count(),
        40
    );
    for a in all.iter().step_by(37) {
        assert_eq!(&w.c.annotations().get(&admin, a.id).unwrap(), a);
    }
}
