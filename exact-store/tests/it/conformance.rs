//! The MetaStore conformance suite: the trait's contract, then the use cases over it. A new
//! backend is done when it passes this module.

use crate::common::{Backend, World};
use exact_core::catalog::{AnnotationQuery, NewAnnotation, NewImage, NewTeam, NewUser, TeamPatch};
use exact_core::store::{Batch, EntryWrite, Expect, Index, Kind, Term, Write};
use exact_core::{ErrorKind, Vector, VectorType};

fn put(kind: Kind, id: u64, data: &[u8], expect: Expect, add: Vec<Term>) -> Write {
    Write {
        kind,
        id,
        data: Some(data.to_vec()),
        expect,
        remove: vec![],
        add,
    }
}

fn term(index: Index, key: &[u8], value: &[u8]) -> Term {
    Term {
        index,
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

fn records_round_trip(b: Backend) {
    let s = &b.store;
    assert_eq!(s.get(Kind::Team, 1).unwrap(), None);
    let batch = Batch {
        entries: vec![],
        writes: vec![
            put(Kind::Team, 1, b"one", Expect::Absent, vec![]),
            put(Kind::Team, 2, b"two", Expect::Anything, vec![]),
        ],
    };
    s.commit(batch).unwrap();
    assert_eq!(s.get(Kind::Team, 1).unwrap().as_deref(), Some(&b"one"[..]));
    // Kinds are separate id spaces.
    assert_eq!(s.get(Kind::User, 1).unwrap(), None);
    let all = s.scan(Kind::Team, 0, 10).unwrap();
    assert_eq!(all, vec![(1, b"one".to_vec()), (2, b"two".to_vec())]);
    assert_eq!(
        s.scan(Kind::Team, 1, 10).unwrap(),
        vec![(2, b"two".to_vec())]
    );
    assert_eq!(s.scan(Kind::Team, 0, 1).unwrap().len(), 1);
    assert_eq!(
        s.get_many(Kind::Team, &[2, 9, 1]).unwrap(),
        vec![Some(b"two".to_vec()), None, Some(b"one".to_vec())]
    );
    // Hard delete.
    s.commit(Batch {
        entries: vec![],
        writes: vec![Write {
            kind: Kind::Team,
            id: 2,
            data: None,
            expect: Expect::Anything,
            remove: vec![],
            add: vec![],
        }],
    })
    .unwrap();
    assert_eq!(s.get(Kind::Team, 2).unwrap(), None);
}

fn preconditions_fail_the_whole_batch(b: Backend) {
    let s = &b.store;
    s.commit(Batch {
        entries: vec![],
        writes: vec![put(Kind::Team, 1, b"v1", Expect::Absent, vec![])],
    })
    .unwrap();
    let stale = Batch {
        entries: vec![],
        writes: vec![
            put(
                Kind::Team,
                5,
                b"new",
                Expect::Anything,
                vec![term(Index::TeamName, b"x", b"")],
            ),
            put(
                Kind::Team,
                1,
                b"v2",
                Expect::Exactly(b"v0".to_vec()),
                vec![],
            ),
        ],
    };
    assert_eq!(s.commit(stale).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(
        s.get(Kind::Team, 5).unwrap(),
        None,
        "nothing of a failed batch is written"
    );
    assert!(
        s.index_range(Index::TeamName, b"", b"\xff", 10)
            .unwrap()
            .is_empty()
    );
    let absent = Batch {
        entries: vec![],
        writes: vec![put(Kind::Team, 1, b"v3", Expect::Absent, vec![])],
    };
    assert_eq!(s.commit(absent).unwrap_err().kind(), ErrorKind::Conflict);
    let fresh = Batch {
        entries: vec![],
        writes: vec![put(
            Kind::Team,
            1,
            b"v2",
            Expect::Exactly(b"v1".to_vec()),
            vec![],
        )],
    };
    s.commit(fresh).unwrap();
    assert_eq!(s.get(Kind::Team, 1).unwrap().as_deref(), Some(&b"v2"[..]));
}

fn indexes_order_and_uniqueness(b: Backend) {
    let s = &b.store;
    s.commit(Batch {
        entries: vec![],
        writes: vec![
            put(
                Kind::Image,
                3,
                b"c",
                Expect::Anything,
                vec![term(Index::ImageBySet, b"\x02", b"vc")],
            ),
            put(
                Kind::Image,
                1,
                b"a",
                Expect::Anything,
                vec![term(Index::ImageBySet, b"\x01", b"va")],
            ),
            put(
                Kind::Image,
                2,
                b"b",
                Expect::Anything,
                vec![term(Index::ImageBySet, b"\x01", b"vb")],
            ),
        ],
    })
    .unwrap();
    let e = s
        .index_range(Index::ImageBySet, b"\x01", b"\x02", 10)
        .unwrap();
    assert_eq!(
        e.iter()
            .map(|e| (e.id, e.value.clone()))
            .collect::<Vec<_>>(),
        vec![(1, b"va".to_vec()), (2, b"vb".to_vec())]
    );
    assert_eq!(e[0].key, b"\x01".to_vec());
    assert_eq!(
        s.index_range(Index::ImageBySet, b"\x00", b"\xff", 2)
            .unwrap()
            .len(),
        2
    );
    // Other indexes do not see these entries.
    assert!(
        s.index_range(Index::ImageName, b"", b"\xff", 10)
            .unwrap()
            .is_empty()
    );
    // A unique key cannot point at two ids, neither across batches nor inside one.
    s.commit(Batch {
        entries: vec![],
        writes: vec![put(
            Kind::Team,
            1,
            b"t",
            Expect::Anything,
            vec![term(Index::TeamName, b"lab\0\0", b"")],
        )],
    })
    .unwrap();
    let dup = Batch {
        entries: vec![],
        writes: vec![put(
            Kind::Team,
            2,
            b"t",
            Expect::Anything,
            vec![term(Index::TeamName, b"lab\0\0", b"")],
        )],
    };
    assert_eq!(s.commit(dup).unwrap_err().kind(), ErrorKind::AlreadyExists);
    let twice = Batch {
        entries: vec![],
        writes: vec![
            put(
                Kind::Team,
                3,
                b"t",
                Expect::Anything,
                vec![term(Index::TeamName, b"x\0\0", b"")],
            ),
            put(
                Kind::Team,
                4,
                b"t",
                Expect::Anything,
                vec![term(Index::TeamName, b"x\0\0", b"")],
            ),
        ],
    };
    assert_eq!(
        s.commit(twice).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(s.get(Kind::Team, 3).unwrap(), None);
    // The owner may re-add its own key, and removing frees it.
    let same = Write {
        kind: Kind::Team,
        id: 1,
        data: Some(b"t2".to_vec()),
        expect: Expect::Anything,
        remove: vec![term(Index::TeamName, b"lab\0\0", b"")],
        add: vec![term(Index::TeamName, b"lab\0\0", b"")],
    };
    s.commit(Batch {
        entries: vec![],
        writes: vec![same],
    })
    .unwrap();
    let freed = Write {
        kind: Kind::Team,
        id: 1,
        data: Some(b"t3".to_vec()),
        expect: Expect::Anything,
        remove: vec![term(Index::TeamName, b"lab\0\0", b"")],
        add: vec![term(Index::TeamName, b"lab2\0\0", b"")],
    };
    s.commit(Batch {
        entries: vec![],
        writes: vec![freed],
    })
    .unwrap();
    s.commit(Batch {
        entries: vec![],
        writes: vec![put(
            Kind::Team,
            2,
            b"t",
            Expect::Anything,
            vec![term(Index::TeamName, b"lab\0\0", b"")],
        )],
    })
    .unwrap();
}

fn entry_writes_have_preconditions(b: Backend) {
    let s = &b.store;
    let entry = |value: Option<&[u8]>, expect: Expect| EntryWrite {
        index: Index::AnnotationGrid,
        key: b"cell".to_vec(),
        id: 7,
        value: value.map(|v| v.to_vec()),
        expect,
    };
    s.commit(Batch {
        writes: vec![],
        entries: vec![entry(Some(b"page1"), Expect::Absent)],
    })
    .unwrap();
    let got = s
        .index_range(Index::AnnotationGrid, b"cell", b"celm", 10)
        .unwrap();
    assert_eq!((got[0].id, got[0].value.clone()), (7, b"page1".to_vec()));
    // A stale precondition fails the batch, record writes included.
    let stale = Batch {
        writes: vec![put(Kind::Team, 1, b"t", Expect::Anything, vec![])],
        entries: vec![entry(Some(b"page2"), Expect::Exactly(b"page0".to_vec()))],
    };
    assert_eq!(s.commit(stale).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(s.get(Kind::Team, 1).unwrap(), None);
    assert_eq!(
        s.commit(Batch {
            writes: vec![],
            entries: vec![entry(Some(b"x"), Expect::Absent)]
        })
        .unwrap_err()
        .kind(),
        ErrorKind::Conflict
    );
    s.commit(Batch {
        writes: vec![],
        entries: vec![entry(Some(b"page2"), Expect::Exactly(b"page1".to_vec()))],
    })
    .unwrap();
    s.commit(Batch {
        writes: vec![],
        entries: vec![entry(None, Expect::Exactly(b"page2".to_vec()))],
    })
    .unwrap();
    assert!(
        s.index_range(Index::AnnotationGrid, b"cell", b"celm", 10)
            .unwrap()
            .is_empty()
    );
}

fn ids_are_fresh(b: Backend) {
    let s = &b.store;
    let a = s.allocate_ids(Kind::Annotation, 10).unwrap();
    let c = s.allocate_ids(Kind::Annotation, 1).unwrap();
    assert!(a >= 1);
    assert_eq!(c, a + 10);
    // Other kinds count on their own.
    assert_eq!(s.allocate_ids(Kind::Team, 1).unwrap(), 1);
}

fn catalog_round_trip(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    assert_eq!(w.c.teams().get(&a, w.team.id).unwrap(), w.team);
    assert_eq!(
        w.c.users().by_username("member").unwrap().unwrap().id,
        w.member.id
    );
    assert_eq!(
        w.c.image_sets().images(&a, w.set.id).unwrap(),
        vec![w.image.clone()]
    );
    assert_eq!(
        w.c.annotation_types().of_set(&a, w.set.id).unwrap().len(),
        VectorType::ALL.len()
    );
    assert_eq!(w.set.path, format!("{}_{}", w.team.id.0, w.set.id.0));
    let members = w.c.teams().members(&a, w.team.id).unwrap();
    assert_eq!(members.len(), 2);
    // Renaming keeps the unique index right: the old name is free again, the new one taken.
    w.c.teams()
        .update(
            &a,
            w.team.id,
            TeamPatch {
                name: Some("histology".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let e =
        w.c.teams()
            .create(&a, NewTeam::new("histology"))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("histology"), "{e}");
    w.c.teams().create(&a, NewTeam::new("pathology")).unwrap();
}

fn duplicates_are_refused(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    assert_eq!(
        w.c.users()
            .register(NewUser::new("admin"))
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        w.c.teams()
            .create(&a, NewTeam::new("radiology"))
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let e =
        w.c.images()
            .add(&a, NewImage::new(w.set.id, "slide.svs", 10, 10))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("slide.svs"), "{e}");
    assert_eq!(
        w.c.teams()
            .add_member(&a, w.team.id, w.member.id, true)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
}

fn bad_input_is_typed(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    let invalid = |e: exact_core::Error| assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    invalid(w.c.teams().create(&a, NewTeam::new("ab")).unwrap_err());
    invalid(w.c.users().register(NewUser::new("bad name")).unwrap_err());
    invalid(
        w.c.images()
            .add(&a, NewImage::new(w.set.id, "zero", 0, 10))
            .unwrap_err(),
    );
    let mut nan = NewImage::new(w.set.id, "nan", 10, 10);
    nan.mpp = f64::NAN;
    invalid(w.c.images().add(&a, nan).unwrap_err());
    let boxt = w.ty(VectorType::BoundingBox).id;
    let neg = NewAnnotation::new(boxt, w.image.id, Some(Vector::rect(10.0, 10.0, 5.0, 20.0)));
    invalid(w.c.annotations().create(&a, neg).unwrap_err());
    let nan = NewAnnotation::new(
        boxt,
        w.image.id,
        Some(Vector::rect(f64::NAN, 10.0, 5.0, 20.0)),
    );
    invalid(w.c.annotations().create(&a, nan).unwrap_err());
    assert_eq!(
        w.c.images()
            .get(&a, exact_core::ImageId(999))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let unknown_type = NewAnnotation::new(exact_core::AnnotationTypeId(999), w.image.id, None);
    invalid(w.c.annotations().create(&a, unknown_type).unwrap_err());
    // A bulk create with one bad element writes nothing and names the element.
    let good = NewAnnotation::new(boxt, w.image.id, Some(Vector::rect(0.0, 0.0, 5.0, 5.0)));
    let bad = NewAnnotation::new(boxt, w.image.id, Some(Vector::rect(0.0, 0.0, 0.0, 5.0)));
    let e =
        w.c.annotations()
            .create_many(&a, vec![good.clone(), bad])
            .unwrap_err();
    assert!(e.to_string().contains("[1].vector.x2"), "{e}");
    let all =
        w.c.annotations()
            .query(&a, w.image.id, &AnnotationQuery::default())
            .unwrap();
    assert!(all.is_empty());
}

fn global_labels_are_unique_per_image(b: Backend) {
    let w = World::new(b);
    let a = w.actor(&w.admin);
    let g = w.ty(VectorType::Global).id;
    let first =
        w.c.annotations()
            .create(&a, NewAnnotation::new(g, w.image.id, None))
            .unwrap();
    let e =
        w.c.annotations()
            .create(&a, NewAnnotation::new(g, w.image.id, None))
            .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    // Another frame is another label; a deleted label may be given again.
    let framed = Some(Vector {
        points: vec![],
        frame: Some(2),
    });
    w.c.annotations()
        .create(&a, NewAnnotation::new(g, w.image.id, framed))
        .unwrap();
    w.c.annotations().delete(&a, first.id).unwrap();
    w.c.annotations()
        .create(&a, NewAnnotation::new(g, w.image.id, None))
        .unwrap();
}

/// The batched reads answer exactly what their single-range forms answer, range by range, also
/// when ranges are empty, overlap or hold more entries than a backend reads per round trip.
fn batched_reads_match_single_ranges(b: Backend) {
    let s = &b.store;
    // 40 keys (one byte each, 0..40) with 30 ids each: 1,200 entries.
    let entries = (0u8..40)
        .flat_map(|k| {
            (0u64..30).map(move |id| EntryWrite {
                index: Index::AnnotationGrid,
                key: vec![k],
                id: id * 7 + u64::from(k),
                value: Some(vec![k, id as u8]),
                expect: Expect::Anything,
            })
        })
        .collect();
    s.commit(Batch {
        writes: vec![],
        entries,
    })
    .unwrap();
    let ranges: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (vec![0], vec![3]),
        (vec![5], vec![5]),
        (vec![9], vec![4]),
        (vec![2], vec![30]),
        (vec![41], vec![50]),
        (vec![10], vec![12]),
        (vec![], vec![0xFF]),
    ];
    let single: Vec<Vec<_>> = ranges
        .iter()
        .map(|(lo, hi)| {
            s.index_range(Index::AnnotationGrid, lo, hi, usize::MAX)
                .unwrap()
        })
        .collect();
    assert_eq!(
        s.index_range_many(Index::AnnotationGrid, &ranges, usize::MAX)
            .unwrap(),
        single
    );
    let firsts: Vec<Vec<_>> = single
        .iter()
        .map(|r| r.iter().take(2).cloned().collect())
        .collect();
    assert_eq!(
        s.index_range_many(Index::AnnotationGrid, &ranges, 2)
            .unwrap(),
        firsts
    );
    let lasts: Vec<_> = single.iter().map(|r| r.last().cloned()).collect();
    assert_eq!(
        s.index_last_many(Index::AnnotationGrid, &ranges).unwrap(),
        lasts
    );
    let mut visited = Vec::new();
    s.index_visit_many(Index::AnnotationGrid, &ranges, &mut |k, id, v| {
        visited.push((k.to_vec(), id, v.to_vec()));
        true
    })
    .unwrap();
    let all: Vec<_> = single
        .iter()
        .flatten()
        .map(|e| (e.key.clone(), e.id, e.value.clone()))
        .collect();
    assert_eq!(visited.len(), 3 * 30 + 28 * 30 + 2 * 30 + 40 * 30);
    assert_eq!(visited, all);
    // Stopping early stops everything.
    let mut n = 0;
    s.index_visit_many(Index::AnnotationGrid, &ranges, &mut |_, _, _| {
        n += 1;
        n < 700
    })
    .unwrap();
    assert_eq!(n, 700);
    assert!(
        s.index_visit_many(Index::AnnotationGrid, &[], &mut |_, _, _| true)
            .is_ok()
    );
}

crate::per_backend!(
    batched_reads_match_single_ranges,
    records_round_trip,
    preconditions_fail_the_whole_batch,
    indexes_order_and_uniqueness,
    ids_are_fresh,
    entry_writes_have_preconditions,
    catalog_round_trip,
    duplicates_are_refused,
    bad_input_is_typed,
    global_labels_are_unique_per_image,
);
