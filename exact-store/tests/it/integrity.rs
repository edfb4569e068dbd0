//! Data integrity (issue 10): write limits, reads that survive a damaged record, `fsck`,
//! moves racing reads, history deltas, atomic bulk writes, and who may change a set's
//! settings — all through the library, on every backend.

use crate::common::{Backend, World};
use crate::per_backend;
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, ImageSetPatch, NewAnnotation};
use exact_core::keys::{Key, prefix_end};
use exact_core::limits::{MAX_DESCRIPTION_CHARS, MAX_META_DATA_BYTES};
use exact_core::model::{Annotation, AnnotationChange, ChangeAction, CollaborationType};
use exact_core::store::{Batch, EntryWrite, Expect, Index};
use exact_core::{BBox, ErrorKind, Vector, VectorType, codec};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn boxed(w: &World, x: f64, y: f64) -> NewAnnotation {
    NewAnnotation::new(
        w.ty(VectorType::BoundingBox).id,
        w.image.id,
        Some(Vector::rect(x, y, x + 50.0, y + 50.0)),
    )
}

fn limits_are_checked_on_write(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let mut big = boxed(&w, 10.0, 10.0);
    big.meta_data = serde_json::Value::String("x".repeat(MAX_META_DATA_BYTES + 1));
    let e = w.c.annotations().create(&admin, big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("meta_data"), "{e}");
    let mut long = boxed(&w, 10.0, 10.0);
    long.description = "d".repeat(MAX_DESCRIPTION_CHARS + 1);
    let e = w.c.annotations().create(&admin, long).unwrap_err();
    assert!(e.to_string().contains("description"), "{e}");
    // PATCH is held to the same limits; the annotation stays as it was.
    let a =
        w.c.annotations()
            .create(&admin, boxed(&w, 10.0, 10.0))
            .unwrap();
    let e =
        w.c.annotations()
            .update(
                &admin,
                a.id,
                AnnotationPatch {
                    meta_data: Some(serde_json::json!({"blob": "y".repeat(MAX_META_DATA_BYTES)})),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(w.c.annotations().get(&admin, a.id).unwrap(), a);
    // A page full of annotations at the limits still reads back.
    let near = serde_json::Value::String("m".repeat(MAX_META_DATA_BYTES - 16));
    let mut news = Vec::new();
    for i in 0..12 {
        let mut n = boxed(&w, 100.0 + i as f64, 100.0);
        n.meta_data = near.clone();
        n.description = "é".repeat(MAX_DESCRIPTION_CHARS);
        news.push(n);
    }
    w.c.annotations().create_many(&admin, news).unwrap();
    let all =
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::default())
            .unwrap();
    assert_eq!(all.len(), 13);
}

/// Puts raw bytes for an annotation id into the page of one of the image's cells.
fn damage_entry(w: &World, victim: &Annotation) {
    let store = w.store();
    let cell = exact_core::grid::cell_key(
        victim.image.0,
        victim.vector.as_ref().and_then(|v| v.bbox()).as_ref(),
    );
    let page = store
        .index_range(Index::AnnotationGrid, &cell, &prefix_end(&cell), 10)
        .unwrap()
        .remove(0);
    let entries = exact_core::pages::entries(&page.value, "t").unwrap();
    let garbage = [1u8, 0xFF, 0xFF, 0xFF];
    let rebuilt: Vec<_> = entries
        .iter()
        .map(|e| exact_core::pages::PageEntry {
            data: if e.id == victim.id.0 {
                &garbage[..]
            } else {
                e.data
            },
            ..*e
        })
        .collect();
    store
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![EntryWrite {
                index: Index::AnnotationGrid,
                key: cell,
                id: page.id,
                value: Some(exact_core::pages::build(&rebuilt)),
                expect: Expect::Exactly(page.value),
            }],
        })
        .unwrap();
}

fn one_bad_record_does_not_break_lists_and_fsck_repairs_it(b: Backend) {
    let w = World::new(b);
    let reports = Arc::new(AtomicUsize::new(0));
    let seen = reports.clone();
    let c = w.c.clone().on_corrupt(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let admin = w.actor(&w.admin);
    let news = (0..5).map(|i| boxed(&w, 10.0 + i as f64, 10.0)).collect();
    let made = c.annotations().create_many(&admin, news).unwrap();
    assert!(c.fsck(false).unwrap().findings.is_empty());
    damage_entry(&w, &made[2]);
    let list = c
        .annotations()
        .query(&admin, w.image.id, &AnnotationQuery::default())
        .unwrap();
    assert_eq!(
        list.len(),
        4,
        "the damaged one is skipped, the others listed"
    );
    assert!(
        reports.load(Ordering::SeqCst) > 0,
        "and the damage is reported"
    );
    let v = BBox::new(0.0, 0.0, 1000.0, 1000.0);
    assert_eq!(
        c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::viewport(v))
            .unwrap()
            .len(),
        4
    );
    // The neighbours stay readable and editable one by one.
    c.annotations().get(&admin, made[3].id).unwrap();
    c.annotations().delete(&admin, made[3].id).unwrap();
    // fsck finds it; --repair quarantines it and relinks the rest; then all is clean.
    let r = c.fsck(false).unwrap();
    assert!(r.problems_left() > 0, "{r:?}");
    let r = c.fsck(true).unwrap();
    assert!(r.findings.iter().all(|f| f.repaired), "{r:?}");
    let again = c.fsck(false).unwrap();
    assert!(again.findings.is_empty(), "{again:?}");
    assert_eq!(
        c.annotations().get(&admin, made[2].id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let key = Key::new().u64(made[2].id.0).build();
    let kept = w
        .store()
        .index_range(Index::Quarantine, &key, &prefix_end(&key), 10)
        .unwrap();
    assert_eq!(kept.len(), 1, "the damaged bytes are kept for forensics");
}

fn fsck_repairs_locators_and_dangling_index_entries(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let a =
        w.c.annotations()
            .create(&admin, boxed(&w, 10.0, 10.0))
            .unwrap();
    let store = w.store();
    // A locator naming a cell the annotation is not in (a loose entry, laid over its block),
    // and an index entry of no record.
    let block = Key::new().u64(a.id.0 >> 8).build();
    store
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![
                EntryWrite {
                    index: Index::AnnotationLocator,
                    key: block,
                    id: a.id.0,
                    value: Some(exact_core::grid::cell_key(w.image.id.0, None)),
                    expect: Expect::Anything,
                },
                EntryWrite {
                    index: Index::ImageBySet,
                    key: Key::new().u64(w.set.id.0).build(),
                    id: 999_999,
                    value: Some(Vec::new()),
                    expect: Expect::Absent,
                },
                // A stale unique name of an existing user (as a half-done rename would leave).
                EntryWrite {
                    index: Index::UserName,
                    key: Key::new().str("ghost").build(),
                    id: w.member.id.0,
                    value: Some(Vec::new()),
                    expect: Expect::Absent,
                },
            ],
        })
        .unwrap();
    assert_eq!(
        w.c.annotations().get(&admin, a.id).unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    // And an annotation filed in a page of the wrong cell (its locator still names the right
    // one): moved back by the repair.
    let b =
        w.c.annotations()
            .create(&admin, boxed(&w, 9000.0, 9000.0))
            .unwrap();
    let right = exact_core::grid::cell_key(
        w.image.id.0,
        b.vector.as_ref().and_then(|v| v.bbox()).as_ref(),
    );
    let wrong = exact_core::grid::cell_key(
        w.image.id.0,
        a.vector.as_ref().and_then(|v| v.bbox()).as_ref(),
    );
    let from = store
        .index_range(Index::AnnotationGrid, &right, &prefix_end(&right), 1)
        .unwrap()
        .remove(0);
    let to = store
        .index_range(Index::AnnotationGrid, &wrong, &prefix_end(&wrong), 1)
        .unwrap()
        .remove(0);
    let mut moved_page = to.value.clone();
    for e in exact_core::pages::entries(&from.value, "t").unwrap() {
        exact_core::pages::push_entry(&mut moved_page, e.id, e.bbox, e.data);
    }
    store
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![
                EntryWrite {
                    index: Index::AnnotationGrid,
                    key: right,
                    id: from.id,
                    value: None,
                    expect: Expect::Exactly(from.value),
                },
                EntryWrite {
                    index: Index::AnnotationGrid,
                    key: wrong,
                    id: to.id,
                    value: Some(moved_page),
                    expect: Expect::Exactly(to.value),
                },
            ],
        })
        .unwrap();
    let r = w.c.fsck(false).unwrap();
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem.contains("filed under the wrong grid cell")),
        "{r:?}"
    );
    assert_eq!(r.problems_left(), 5, "{r:?}");
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem.contains("not one its User record owns")),
        "{r:?}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem.contains("wrong grid cell"))
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem.contains("no Image record"))
    );
    let r = w.c.fsck(true).unwrap();
    assert_eq!(r.problems_left(), 0, "{r:?}");
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
    assert_eq!(w.c.annotations().get(&admin, a.id).unwrap(), a);
    assert_eq!(w.c.annotations().get(&admin, b.id).unwrap(), b);
    w.c.users()
        .register(exact_core::catalog::NewUser::new("ghost"))
        .expect("the stale name is free again");
    let v = BBox::new(8900.0, 8900.0, 9100.0, 9100.0);
    let found =
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::viewport(v))
            .unwrap();
    assert_eq!(found, vec![b]);
    assert_eq!(w.c.images().list(&admin).unwrap().len(), 1);
}

/// One thread moves an annotation back and forth between grid cells while others read it
/// and move it too: every call succeeds or reports a conflict, never a missing record.
fn moves_race_reads(b: Backend) {
    let w = Arc::new(World::new(b));
    let admin = w.actor(&w.admin);
    let a =
        w.c.annotations()
            .create(&admin, boxed(&w, 10.0, 10.0))
            .unwrap();
    // Neighbours in both cells, so pages are shared and rewritten.
    let news = (0..20)
        .map(|i| boxed(&w, 20.0 + i as f64, if i % 2 == 0 { 10.0 } else { 5000.0 }))
        .collect();
    w.c.annotations().create_many(&admin, news).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let moves = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..4 {
        let (w, stop, failures, moves) = (w.clone(), stop.clone(), failures.clone(), moves.clone());
        let admin = admin.clone();
        threads.push(std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let r = if t < 2 {
                    let y = if n.is_multiple_of(2) {
                        10.0
                    } else {
                        5000.0 + f64::from(t)
                    };
                    moves.fetch_add(1, Ordering::Relaxed);
                    w.c.annotations()
                        .update(
                            &admin,
                            a.id,
                            AnnotationPatch {
                                vector: Some(Some(Vector::rect(10.0, y, 60.0, y + 50.0))),
                                ..Default::default()
                            },
                        )
                        .map(|_| ())
                } else {
                    w.c.annotations().get(&admin, a.id).map(|_| ())
                };
                if let Err(e) = r
                    && e.kind() != ErrorKind::Conflict
                {
                    eprintln!("thread {t}: {e}");
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // At least 1.5 s, and until enough moves raced (a database backend is slower per call).
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1500)
        || (moves.load(Ordering::Relaxed) < 200
            && started.elapsed() < std::time::Duration::from_secs(15))
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        moves.load(Ordering::Relaxed) > 50,
        "the test moved too little: {}",
        moves.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    let list =
        w.c.annotations()
            .query(&admin, w.image.id, &AnnotationQuery::default())
            .unwrap();
    assert_eq!(list.iter().filter(|x| x.id == a.id).count(), 1);
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn bulk_writes_are_atomic_and_checked_for_edit_rights(b: Backend) {
    let w = World::with(b, CollaborationType::SecondOpinion);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let theirs =
        w.c.annotations()
            .create(&admin, boxed(&w, 10.0, 10.0))
            .unwrap();
    let mine =
        w.c.annotations()
            .create(&member, boxed(&w, 200.0, 10.0))
            .unwrap();
    let e =
        w.c.annotations()
            .delete_many(&member, &[mine.id, theirs.id])
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("[1]"), "names the element: {e}");
    assert!(!w.c.annotations().get(&member, mine.id).unwrap().deleted);
    assert!(!w.c.annotations().get(&member, theirs.id).unwrap().deleted);
    let e =
        w.c.annotations()
            .update_many(
                &member,
                vec![
                    (
                        mine.id,
                        AnnotationPatch {
                            concealed: Some(true),
                            ..Default::default()
                        },
                    ),
                    (
                        theirs.id,
                        AnnotationPatch {
                            concealed: Some(true),
                            ..Default::default()
                        },
                    ),
                ],
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(!w.c.annotations().get(&member, mine.id).unwrap().concealed);
    // Own annotations, one moving to another cell: one batch, each with its history.
    let more =
        w.c.annotations()
            .create(&member, boxed(&w, 210.0, 10.0))
            .unwrap();
    let done =
        w.c.annotations()
            .update_many(
                &member,
                vec![
                    (
                        mine.id,
                        AnnotationPatch {
                            vector: Some(Some(Vector::rect(9000.0, 9000.0, 9050.0, 9050.0))),
                            ..Default::default()
                        },
                    ),
                    (
                        more.id,
                        AnnotationPatch {
                            blurred: Some(true),
                            ..Default::default()
                        },
                    ),
                ],
            )
            .unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(
        w.c.annotations().get(&member, mine.id).unwrap().vector,
        Some(Vector::rect(9000.0, 9000.0, 9050.0, 9050.0))
    );
    assert_eq!(
        w.c.annotations().history(&member, more.id).unwrap().len(),
        2
    );
    let gone =
        w.c.annotations()
            .delete_many(&member, &[mine.id, more.id, mine.id])
            .unwrap();
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().all(|a| a.deleted));
    assert!(w.c.fsck(false).unwrap().findings.is_empty());
}

fn history_stores_deltas_and_restores_old_full_copies(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let mut n = boxed(&w, 10.0, 10.0);
    n.meta_data = serde_json::json!({"blob": "z".repeat(500_000)});
    let a = w.c.annotations().create(&admin, n).unwrap();
    for i in 0..12 {
        w.c.annotations()
            .update(
                &admin,
                a.id,
                AnnotationPatch {
                    description: Some(format!("edit {i}")),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let key = Key::new().u64(a.id.0).build();
    let entries = w
        .store()
        .index_range(Index::Changes, &key, &prefix_end(&key), usize::MAX)
        .unwrap();
    assert_eq!(entries.len(), 12);
    let total: usize = entries.iter().map(|e| e.value.len()).sum();
    assert!(
        total < 2_000,
        "12 small edits stored {total} bytes of history"
    );
    let h = w.c.annotations().history(&admin, a.id).unwrap();
    assert_eq!(h.len(), 13);
    assert_eq!(h[0].after.description, "");
    assert_eq!(h[5].after.description, "edit 4");
    assert_eq!(h[5].after.meta_data, a.meta_data);
    // An entry as older versions wrote it (a full copy) still reads and restores.
    let old_style = AnnotationChange {
        id: exact_core::ChangeId(
            exact_core::store::MetaStore::allocate_ids(
                &**w.store(),
                exact_core::store::Kind::AnnotationChange,
                1,
            )
            .unwrap(),
        ),
        annotation: a.id,
        user: Some(w.admin.id),
        time: w.c.now(),
        action: ChangeAction::Updated,
        before: Some(Annotation {
            description: "full copy".into(),
            ..h[12].after.clone()
        }),
    };
    let current = w.c.annotations().get(&admin, a.id).unwrap();
    w.store()
        .commit(Batch {
            writes: Vec::new(),
            entries: vec![exact_core::record::change_entry(&old_style)],
        })
        .unwrap();
    let h = w.c.annotations().history(&admin, a.id).unwrap();
    assert_eq!(h.len(), 14);
    assert_eq!(h[13].before.as_ref().unwrap().description, "full copy");
    assert_eq!(h[12].after.description, "full copy");
    assert_eq!(h[13].after, current);
    let r = w.c.annotations().restore(&admin, a.id, 12).unwrap();
    assert_eq!(r.description, "full copy");
    let r = w.c.annotations().restore(&admin, a.id, 3).unwrap();
    assert_eq!(r.description, "edit 2");
    assert_eq!(
        codec::decode_annotation(0, &codec::encode_annotation(&r), "t")
            .unwrap()
            .meta_data,
        a.meta_data
    );
}

fn set_settings_are_for_team_admins(b: Backend) {
    let w = World::with(b, CollaborationType::Competitive);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    for patch in [
        ImageSetPatch {
            collaboration_type: Some(CollaborationType::Collaborative),
            ..Default::default()
        },
        ImageSetPatch {
            public: Some(true),
            ..Default::default()
        },
        ImageSetPatch {
            public_collaboration: Some(true),
            ..Default::default()
        },
        ImageSetPatch {
            team: Some(w.other_team.id),
            ..Default::default()
        },
    ] {
        let e =
            w.c.image_sets()
                .update(&member, w.set.id, patch)
                .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::PermissionDenied), "{e}");
    }
    // No way around it: a member's own new set cannot be public, and images do not move
    // out of the competitive set into a set the member controls.
    let mut public = exact_core::catalog::NewImageSet::new("exposed", w.team.id);
    public.public = true;
    let e = w.c.image_sets().create(&member, public).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let own =
        w.c.image_sets()
            .create(
                &member,
                exact_core::catalog::NewImageSet::new("mine", w.team.id),
            )
            .unwrap();
    let e =
        w.c.images()
            .update(
                &member,
                w.image.id,
                exact_core::catalog::ImagePatch {
                    image_set: Some(own.id),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let unchanged = w.c.image_sets().get(&member, w.set.id).unwrap();
    assert_eq!(unchanged.collaboration_type, CollaborationType::Competitive);
    assert!(!unchanged.public);
    // Sending the current values (a full PUT) and plain fields is fine for members.
    w.c.image_sets()
        .update(
            &member,
            w.set.id,
            ImageSetPatch {
                collaboration_type: Some(CollaborationType::Competitive),
                public: Some(false),
                description: Some("member notes".into()),
                team: Some(w.team.id),
                ..Default::default()
            },
        )
        .unwrap();
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
    // Set versions of a competitive set show a member only their own annotations.
    let theirs =
        w.c.annotations()
            .create(&admin, boxed(&w, 10.0, 10.0))
            .unwrap();
    let mine =
        w.c.annotations()
            .create(&member, boxed(&w, 300.0, 10.0))
            .unwrap();
    let v = w.c.versions().create(&admin, "v1", &[w.set.id]).unwrap();
    let snaps = w.c.versions().annotations(&member, v.id).unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.annotation).collect::<Vec<_>>(),
        vec![mine.id]
    );
    assert_eq!(w.c.versions().annotations(&admin, v.id).unwrap().len(), 2);
    w.c.annotations().delete(&admin, theirs.id).unwrap();
    assert!(w.c.versions().diff(&member, v.id).unwrap().is_empty());
    assert_eq!(w.c.versions().diff(&admin, v.id).unwrap().len(), 1);
}

fn image_sizes_and_viewports_are_bounded(b: Backend) {
    let w = World::new(b);
    let (admin, member) = (w.actor(&w.admin), w.actor(&w.member));
    let huge = exact_core::catalog::NewImage::new(w.set.id, "huge.svs", 1 << 31, 100);
    let e = w.c.images().add(&member, huge).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("width"), "{e}");
    let e =
        w.c.images()
            .update(
                &member,
                w.image.id,
                exact_core::catalog::ImagePatch {
                    height: Some(1 << 30),
                    ..Default::default()
                },
            )
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    w.c.annotations()
        .create(&admin, boxed(&w, 10.0, 10.0))
        .unwrap();
    let t = std::time::Instant::now();
    let v = BBox::new(-1e18, -1e18, 1e18, 1e18);
    let found =
        w.c.annotations()
            .query(&member, w.image.id, &AnnotationQuery::viewport(v))
            .unwrap();
    assert_eq!(found.len(), 1);
    assert!(t.elapsed().as_millis() < 500, "took {:?}", t.elapsed());
    let nan = AnnotationQuery::viewport(BBox {
        min_x: f64::NAN,
        min_y: 0.0,
        max_x: 10.0,
        max_y: 10.0,
    });
    let e =
        w.c.annotations()
            .query(&member, w.image.id, &nan)
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("viewport.min_x"), "{e}");
}

fn damaged_records_are_skipped_by_lists(b: Backend) {
    let w = World::new(b);
    let admin = w.actor(&w.admin);
    let second =
        w.c.images()
            .add(
                &admin,
                exact_core::catalog::NewImage::new(w.set.id, "second.svs", 10, 10),
            )
            .unwrap();
    w.store()
        .commit(Batch {
            writes: vec![exact_core::store::Write {
                kind: exact_core::store::Kind::Image,
                id: second.id.0,
                data: Some(b"{not json".to_vec()),
                expect: Expect::Anything,
                remove: Vec::new(),
                add: Vec::new(),
            }],
            entries: Vec::new(),
        })
        .unwrap();
    let images = w.c.images().list(&admin).unwrap();
    assert_eq!(
        images.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![w.image.id]
    );
    let r = w.c.fsck(true).unwrap();
    assert_eq!(
        r.problems_left(),
        1,
        "a record is reported, never guessed at: {r:?}"
    );
    assert!(r.findings[0].what.contains("Image"), "{r:?}");
}

per_backend!(
    damaged_records_are_skipped_by_lists,
    limits_are_checked_on_write,
    one_bad_record_does_not_break_lists_and_fsck_repairs_it,
    fsck_repairs_locators_and_dangling_index_entries,
    moves_race_reads,
    bulk_writes_are_atomic_and_checked_for_edit_rights,
    history_stores_deltas_and_restores_old_full_copies,
    set_settings_are_for_team_admins,
    image_sizes_and_viewports_are_bounded,
);
