//! Acknowledged writes survive a reopen; a damaged database fails to open with its name.

use exact_core::catalog::{
    AnnotationQuery, NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam,
    NewUser,
};
use exact_core::{ErrorKind, Vector, VectorType};
use exact_store::{Exact, ExactConfig};

#[test]
fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = ExactConfig::in_dir(dir.path());
    let (user, image, ann) = {
        let exact = Exact::open(config.clone()).unwrap();
        let u = exact.users().register(NewUser::new("alice")).unwrap();
        let me = exact.actor(u.id).unwrap();
        let team = exact.teams().create(&me, NewTeam::new("lab")).unwrap();
        let me = exact.actor(u.id).unwrap();
        let set = exact
            .image_sets()
            .create(&me, NewImageSet::new("s", team.id))
            .unwrap();
        let p = exact
            .products()
            .create(
                &me,
                NewProduct {
                    name: "p".into(),
                    team: Some(team.id),
                    imagesets: vec![set.id],
                    ..Default::default()
                },
            )
            .unwrap();
        let t = exact
            .annotation_types()
            .create(
                &me,
                NewAnnotationType::new("b", VectorType::BoundingBox, p.id),
            )
            .unwrap();
        let img = exact
            .images()
            .add(&me, NewImage::new(set.id, "a.svs", 1000, 1000))
            .unwrap();
        let a = exact
            .annotations()
            .create(
                &me,
                NewAnnotation::new(t.id, img.id, Some(Vector::rect(1.0, 1.0, 9.0, 9.0))),
            )
            .unwrap();
        exact.annotations().delete(&me, a.id).unwrap();
        (u, img, a)
    };
    assert!(
        dir.path().join("db").is_dir(),
        "metadata lives under the data directory"
    );
    assert!(
        dir.path().join("blobs").is_dir(),
        "blobs live under the data directory"
    );
    let exact = Exact::open(config).unwrap();
    let me = exact.actor(user.id).unwrap();
    let back = exact.annotations().get(&me, ann.id).unwrap();
    assert!(back.deleted);
    assert_eq!(back.vector, ann.vector);
    assert_eq!(exact.annotations().history(&me, ann.id).unwrap().len(), 2);
    let all = AnnotationQuery {
        deleted: None,
        ..Default::default()
    };
    assert_eq!(
        exact
            .annotations()
            .query(&me, image.id, &all)
            .unwrap()
            .len(),
        1
    );
    // Fresh ids continue after the reopened ones.
    let again = exact.users().register(NewUser::new("bob")).unwrap();
    assert!(again.id.0 > user.id.0);
}

#[test]
fn damaged_database_names_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    drop(exact_store::meta::sled::open(&db).unwrap());
    for entry in std::fs::read_dir(&db).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::write(&p, vec![0xA5u8; 4096]).unwrap();
        }
    }
    let e = match exact_store::meta::sled::open(&db) {
        Ok(_) => panic!("a damaged database opened"),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(&db.display().to_string()), "{e}");
}

#[test]
fn unknown_schemes_list_the_known_ones() {
    let e = Exact::open(ExactConfig {
        meta: Some("mongodb://x".into()),
        ..ExactConfig::memory()
    })
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string().contains("sled://") && e.to_string().contains("memory://"),
        "{e}"
    );
}

#[tokio::test]
async fn blobs_round_trip_and_refuse_escaping_keys() {
    let dir = tempfile::tempdir().unwrap();
    let exact = Exact::open(ExactConfig::in_dir(dir.path())).unwrap();
    let blobs = exact.blobs();
    blobs
        .put("sets/1_2/a.txt", bytes::Bytes::from_static(b"hello world"))
        .await
        .unwrap();
    assert_eq!(
        &blobs.get("sets/1_2/a.txt").await.unwrap()[..],
        b"hello world"
    );
    assert_eq!(
        &blobs.get_range("sets/1_2/a.txt", 6..11).await.unwrap()[..],
        b"world"
    );
    assert_eq!(blobs.size("sets/1_2/a.txt").await.unwrap(), 11);
    assert!(dir.path().join("blobs/sets/1_2/a.txt").is_file());
    assert_eq!(
        blobs
            .put("../x", bytes::Bytes::new())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    blobs.delete("sets/1_2/a.txt").await.unwrap();
    assert_eq!(
        blobs.get("sets/1_2/a.txt").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let mem = Exact::open(ExactConfig::memory()).unwrap();
    mem.blobs()
        .put("k", bytes::Bytes::from_static(b"v"))
        .await
        .unwrap();
    assert_eq!(&mem.blobs().get("k").await.unwrap()[..], b"v");
}
