//! Hostile input: see main.rs. This module: records and their limits, concurrent moves,
//! set settings, image sizes and viewports, history size, bulk atomicity (issue 10 items 1, 2,
//! 4, 8, 10, 11 and the minor legacy-update and width/height findings). Every request is sent
//! through the real router with the JSON bodies a client sends.

use crate::kit::Api;
use axum::http::StatusCode;
use exact_core::UserId;
use exact_core::keys::{Key, prefix_end};
use exact_core::store::Index;
use serde_json::{Value, json};

/// The world of `kit` plus a plain member of its team; returns (admin, member, ids).
async fn team_with_member(api: &Api, tag: &str) -> (String, String, (u64, u64, u64, u64)) {
    let admin = api.user(&format!("{tag}-admin"), false);
    let member = api.user(&format!("{tag}-member"), false);
    let w = api.world(&admin, tag).await;
    let id = |name: &str| -> UserId {
        api.exact
            .catalog()
            .users()
            .by_username(name)
            .unwrap()
            .unwrap()
            .id
    };
    let a = api.exact.actor(id(&format!("{tag}-admin"))).unwrap();
    api.exact
        .teams()
        .add_member(
            &a,
            exact_core::TeamId(w.0),
            id(&format!("{tag}-member")),
            false,
        )
        .unwrap();
    (admin, member, w)
}

fn bbox(x: i64, y: i64) -> Value {
    json!({"x1": x, "y1": y, "x2": x + 50, "y2": y + 50})
}

async fn annotate(api: &Api, auth: &str, image: u64, kind: u64, x: i64, y: i64) -> u64 {
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        auth,
        Some(json!({"annotation_type": kind, "image": image, "vector": bbox(x, y)})),
    )
    .await["id"]
        .as_u64()
        .unwrap()
}

fn list_uri(image: u64) -> String {
    format!("/api/v1/annotations/annotations/?image={image}&limit=1000")
}

/// Item 1: an oversized `meta_data` is refused on write (create and PATCH) with a 400 naming
/// the field, and the image's lists keep working.
#[tokio::test]
async fn oversized_meta_data_is_refused_on_write() {
    let api = Api::new();
    let admin = api.user("big-admin", false);
    let (_, _, kind, image) = api.world(&admin, "big").await;
    let huge = "x".repeat(exact_core::limits::MAX_META_DATA_BYTES + 10);
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/annotations/annotations/",
            Some(&admin),
            Some(json!({"annotation_type": kind, "image": image, "vector": bbox(10, 10), "meta_data": {"blob": huge}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("meta_data"), "{v}");
    let id = annotate(&api, &admin, image, kind, 10, 10).await;
    let (s, v) = api
        .call(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{id}/"),
            Some(&admin),
            Some(json!({"meta_data": {"blob": huge}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .call(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{id}/"),
            Some(&admin),
            Some(json!({"description": "d".repeat(5000)})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("description"), "{v}");
    let list = api.ok("GET", &list_uri(image), &admin, None).await;
    assert_eq!(list["count"], 1);
    api.ok("GET", "/api/v1/images/images/", &admin, None).await;
}

/// Item 1: one damaged record in a page (as a crash or an old bug could leave) is skipped by
/// every list, the rest of the image stays readable and editable, and `fsck --repair` clears it.
#[tokio::test]
async fn one_damaged_annotation_does_not_break_the_image() {
    let (api, store) = Api::with_raw_store();
    let admin = api.user("dmg-admin", false);
    let (_, _, kind, image) = api.world(&admin, "dmg").await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(annotate(&api, &admin, image, kind, 10 + i, 10).await);
    }
    // Overwrite the second annotation's bytes in its page with garbage.
    let cell =
        exact_core::grid::cell_key(image, Some(&exact_core::BBox::new(11.0, 10.0, 61.0, 60.0)));
    let page = store
        .index_range(Index::AnnotationGrid, &cell, &prefix_end(&cell), 10)
        .unwrap()
        .remove(0);
    let entries = exact_core::pages::entries(&page.value, "t").unwrap();
    let garbage = [9u8, 9, 9];
    let rebuilt: Vec<_> = entries
        .iter()
        .map(|e| exact_core::pages::PageEntry {
            data: if e.id == ids[1] { &garbage[..] } else { e.data },
            ..*e
        })
        .collect();
    store
        .commit(exact_core::store::Batch {
            writes: Vec::new(),
            entries: vec![exact_core::store::EntryWrite {
                index: Index::AnnotationGrid,
                key: cell,
                id: page.id,
                value: Some(exact_core::pages::build(&rebuilt)),
                expect: exact_core::store::Expect::Exactly(page.value),
            }],
        })
        .unwrap();
    // And its id-ordered copy (the listing's source when the count is known; a single save's
    // is a loose entry, key image | block | id), as a crash that damaged the record would
    // leave it: listed nowhere either way.
    let copy_key: Vec<u8> = image
        .to_be_bytes()
        .into_iter()
        .chain(exact_core::pages::block_of(ids[1]).to_be_bytes())
        .chain(ids[1].to_be_bytes())
        .collect();
    let copy = store
        .index_range(Index::AnnotationById, &copy_key, &prefix_end(&copy_key), 1)
        .unwrap()
        .remove(0);
    assert_eq!(copy.key, copy_key, "a single save's copy is a loose entry");
    store
        .commit(exact_core::store::Batch {
            writes: Vec::new(),
            entries: vec![exact_core::store::EntryWrite {
                index: Index::AnnotationById,
                key: copy_key,
                id: 0,
                value: Some(garbage.to_vec()),
                expect: exact_core::store::Expect::Exactly(copy.value),
            }],
        })
        .unwrap();
    let list = api.ok("GET", &list_uri(image), &admin, None).await;
    assert_eq!(list["count"], 3, "{list}");
    let viewport = format!(
        "{}&vector_x_min=0&vector_x_max=500&vector_y_min=0&vector_y_max=500",
        list_uri(image)
    );
    assert_eq!(api.ok("GET", &viewport, &admin, None).await["count"], 3);
    api.ok(
        "PATCH",
        &format!("/api/v1/annotations/annotations/{}/", ids[2]),
        &admin,
        Some(json!({"description": "still editable"})),
    )
    .await;
    let report = api.exact.catalog().fsck(true).unwrap();
    assert_eq!(report.problems_left(), 0, "{report:?}");
    assert!(api.exact.catalog().fsck(false).unwrap().findings.is_empty());
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/annotations/annotations/{}/", ids[1]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Item 2: while one client moves an annotation back and forth between grid cells, other
/// clients read and move it: no 5xx, ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moving_an_annotation_never_races_reads_into_a_500() {
    let api = std::sync::Arc::new(Api::new());
    let admin = api.user("mv-admin", false);
    let (_, _, kind, image) = api.world(&admin, "mover").await;
    let id = annotate(&api, &admin, image, kind, 10, 10).await;
    for i in 0..10 {
        annotate(
            &api,
            &admin,
            image,
            kind,
            100 + i,
            if i % 2 == 0 { 10 } else { 6000 },
        )
        .await;
    }
    let uri = format!("/api/v1/annotations/annotations/{id}/");
    let mut tasks = Vec::new();
    for t in 0..6u32 {
        let (api, admin, uri) = (api.clone(), admin.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for n in 0..40u32 {
                let (s, v) = if t < 2 {
                    let y = if (n + t) % 2 == 0 { 10 } else { 6000 };
                    api.call(
                        "PATCH",
                        &uri,
                        Some(&admin),
                        Some(json!({"vector": bbox(10, y)})),
                    )
                    .await
                } else {
                    api.call("GET", &uri, Some(&admin), None).await
                };
                codes.push((s, v));
            }
            codes
        }));
    }
    let mut total = 0;
    for t in tasks {
        for (s, v) in t.await.unwrap() {
            total += 1;
            assert!(!s.is_server_error(), "{s} {v}");
        }
    }
    assert_eq!(total, 240);
    let list = api.ok("GET", &list_uri(image), &admin, None).await;
    assert_eq!(list["count"], 11);
}

/// Item 4: a plain member cannot change who sees a set (collaboration type, visibility,
/// team); a full PUT repeating the current values still works; set versions of a
/// competitive set show a member only their own annotations.
#[tokio::test]
async fn set_settings_are_for_team_admins() {
    let api = Api::new();
    let (admin, member, (team, set, kind, image)) = team_with_member(&api, "cfg").await;
    let uri = format!("/api/v1/images/image_sets/{set}/");
    api.ok(
        "PATCH",
        &uri,
        &admin,
        Some(json!({"collaboration_type": 1})),
    )
    .await;
    for body in [
        json!({"collaboration_type": 0}),
        json!({"public": true}),
        json!({"public_collaboration": true}),
    ] {
        let (s, v) = api
            .call("PATCH", &uri, Some(&member), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}: {v}");
    }
    let set_now = api.ok("GET", &uri, &member, None).await;
    assert_eq!(set_now["collaboration_type"], 1, "{set_now}");
    api.ok(
        "PATCH",
        &uri,
        &member,
        Some(json!({"collaboration_type": 1, "team": team, "description": "notes"})),
    )
    .await;
    let theirs = annotate(&api, &admin, image, kind, 10, 10).await;
    let mine = annotate(&api, &member, image, kind, 300, 10).await;
    let v = api
        .ok(
            "POST",
            "/api/v1/images/set_versions/",
            &admin,
            Some(json!({"name": "v1", "imagesets": [set]})),
        )
        .await;
    let version = v["id"].as_u64().unwrap();
    let snaps = api.exact.versions().annotations(
        &api.exact
            .actor(
                api.exact
                    .catalog()
                    .users()
                    .by_username("cfg-member")
                    .unwrap()
                    .unwrap()
                    .id,
            )
            .unwrap(),
        exact_core::SetVersionId(version),
    );
    let snaps: Vec<u64> = snaps.unwrap().iter().map(|s| s.annotation.0).collect();
    assert_eq!(snaps, vec![mine]);
    assert_ne!(theirs, mine);
}

/// Item 8: image sizes are bounded on create and update, members cannot resize a slide, a
/// huge viewport is cheap, and NaN/inf viewport sides are a 400 naming the parameter.
#[tokio::test]
async fn image_sizes_and_viewports_are_bounded() {
    let api = Api::new();
    let (admin, member, (_, set, kind, image)) = team_with_member(&api, "size").await;
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/images/images/",
            Some(&member),
            Some(json!({"name": "tall.svs", "image_set": set, "width": 1000, "height": 2147483648u64})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("height"), "{v}");
    let (s, v) = api
        .call(
            "PATCH",
            &format!("/api/v1/images/images/{image}/"),
            Some(&member),
            Some(json!({"width": 20000})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    annotate(&api, &admin, image, kind, 10, 10).await;
    let t = std::time::Instant::now();
    let uri = format!(
        "{}&vector_x_min=-1e18&vector_x_max=1e18&vector_y_min=-1e18&vector_y_max=1e18",
        list_uri(image)
    );
    assert_eq!(api.ok("GET", &uri, &member, None).await["count"], 1);
    assert!(t.elapsed().as_millis() < 1000, "took {:?}", t.elapsed());
    eprintln!("viewport ±1e18 over the router: {:?}", t.elapsed());
    for bad in ["nan", "inf", "-inf"] {
        let uri = format!("{}&vector_x_min={bad}&vector_x_max=100", list_uri(image));
        let (s, v) = api.call("GET", &uri, Some(&member), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v.to_string().contains("vector_x_min"), "{v}");
    }
    let legacy = format!(
        "/annotations/api/annotation/load/?image_id={image}&min_x=NaN&min_y=0&max_x=5&max_y=5"
    );
    let (s, v) = api.call("GET", &legacy, Some(&member), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

/// Item 10: history stores what changed: twelve small edits of an annotation with a large
/// `meta_data` add a few hundred bytes, not twelve copies.
#[tokio::test]
async fn history_stores_what_changed() {
    let (api, store) = Api::with_raw_store();
    let admin = api.user("hist-admin", false);
    let (_, _, kind, image) = api.world(&admin, "hist").await;
    let meta = json!({"blob": "m".repeat(900_000)});
    let id = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &admin,
            Some(json!({"annotation_type": kind, "image": image, "vector": bbox(10, 10), "meta_data": meta})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    for i in 0..12 {
        api.ok(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{id}/"),
            &admin,
            Some(json!({"description": format!("edit {i}")})),
        )
        .await;
    }
    let key = Key::new().u64(id).build();
    let entries = store
        .index_range(Index::Changes, &key, &prefix_end(&key), usize::MAX)
        .unwrap();
    assert_eq!(entries.len(), 12);
    let bytes: usize = entries.iter().map(|e| e.value.len()).sum();
    assert!(bytes < 2000, "history of 12 edits took {bytes} bytes");
    eprintln!("history: 12 description edits of a 900 kB annotation stored {bytes} bytes");
    let a = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/"),
            &admin,
            None,
        )
        .await;
    assert_eq!(a["meta_data"], meta);
}

/// Item 11: `multiple_delete` with one's own and a colleague's annotation in a
/// second-opinion set is refused whole (403) and deletes nothing; one's own are deleted in one
/// batch.
#[tokio::test]
async fn multiple_delete_is_atomic() {
    let api = Api::new();
    let (admin, member, (_, set, kind, image)) = team_with_member(&api, "bulk").await;
    api.ok(
        "PATCH",
        &format!("/api/v1/images/image_sets/{set}/"),
        &admin,
        Some(json!({"collaboration_type": 2})),
    )
    .await;
    let theirs = annotate(&api, &admin, image, kind, 10, 10).await;
    let mine = annotate(&api, &member, image, kind, 300, 10).await;
    let mine2 = annotate(&api, &member, image, kind, 400, 10).await;
    let uri = |ids: &str| format!("/api/v1/annotations/annotations/multiple_delete/?id__in={ids}");
    let (s, v) = api
        .call(
            "DELETE",
            &uri(&format!("{mine},{theirs}")),
            Some(&member),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let live = api
        .ok(
            "GET",
            &format!("{}&deleted=false", list_uri(image)),
            &member,
            None,
        )
        .await;
    assert_eq!(live["count"], 3, "nothing was deleted: {live}");
    let v = api
        .ok("DELETE", &uri(&format!("{mine},{mine2}")), &member, None)
        .await;
    assert_eq!(v["deleted"], 2);
    let live = api
        .ok(
            "GET",
            &format!("{}&deleted=false", list_uri(image)),
            &member,
            None,
        )
        .await;
    assert_eq!(live["count"], 1);
}

/// Minor: a legacy update without `vector` keeps the geometry.
#[tokio::test]
async fn legacy_update_without_vector_keeps_the_geometry() {
    let api = Api::new();
    let admin = api.user("leg-admin", false);
    let (_, _, kind, image) = api.world(&admin, "leg").await;
    let id = annotate(&api, &admin, image, kind, 10, 10).await;
    api.ok(
        "POST",
        "/annotations/api/annotation/update/",
        &admin,
        Some(json!({"annotation_id": id, "image_id": image, "annotation_type_id": kind, "description": "renamed"})),
    )
    .await;
    let a = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/"),
            &admin,
            None,
        )
        .await;
    assert_eq!(a["vector"], bbox(10, 10), "{a}");
    assert_eq!(a["description"], "renamed");
}

/// Item 1: `exact fsck` finds a damaged annotation in a real data directory (exit 1, a line
/// naming it), `--repair` fixes it (exit 0), and the directory is clean afterwards.
#[test]
fn exact_fsck_checks_and_repairs_a_data_directory() {
    use exact_core::catalog::{
        NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam, NewUser,
    };
    let dir = tempfile::tempdir().unwrap();
    let victim = {
        let config = exact_store::ExactConfig::in_dir(dir.path());
        let store = exact_store::open_meta_store(&config.meta_url()).unwrap();
        let exact = exact_store::Exact::open_with_meta(store.clone(), config).unwrap();
        let u = exact.users().register(NewUser::new("fsck-admin")).unwrap();
        let a = exact.actor(u.id).unwrap();
        let team = exact.teams().create(&a, NewTeam::new("fsck team")).unwrap();
        let a = exact.actor(u.id).unwrap();
        let set = exact
            .image_sets()
            .create(&a, NewImageSet::new("s", team.id))
            .unwrap();
        let product = exact
            .products()
            .create(
                &a,
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
                &a,
                NewAnnotationType::new("cell", exact_core::VectorType::BoundingBox, product.id),
            )
            .unwrap();
        let image = exact
            .images()
            .add(&a, NewImage::new(set.id, "x.svs", 1000, 1000))
            .unwrap();
        let news = (0..3)
            .map(|i| {
                NewAnnotation::new(
                    t.id,
                    image.id,
                    Some(exact_core::Vector::rect(
                        10.0 + f64::from(i),
                        10.0,
                        60.0,
                        60.0,
                    )),
                )
            })
            .collect();
        let made = exact.annotations().create_many(&a, news).unwrap();
        // Damage the middle one's bytes in its page.
        let cell = exact_core::grid::cell_key(
            image.id.0,
            made[1].vector.as_ref().and_then(|v| v.bbox()).as_ref(),
        );
        let page = store
            .index_range(Index::AnnotationGrid, &cell, &prefix_end(&cell), 10)
            .unwrap()
            .remove(0);
        let entries = exact_core::pages::entries(&page.value, "t").unwrap();
        let garbage = [7u8];
        let rebuilt: Vec<_> = entries
            .iter()
            .map(|e| exact_core::pages::PageEntry {
                data: if e.id == made[1].id.0 {
                    &garbage[..]
                } else {
                    e.data
                },
                ..*e
            })
            .collect();
        store
            .commit(exact_core::store::Batch {
                writes: Vec::new(),
                entries: vec![exact_core::store::EntryWrite {
                    index: Index::AnnotationGrid,
                    key: cell,
                    id: page.id,
                    value: Some(exact_core::pages::build(&rebuilt)),
                    expect: exact_core::store::Expect::Exactly(page.value),
                }],
            })
            .unwrap();
        made[1].id
    };
    let fsck = |repair: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_exact"));
        cmd.arg("fsck").arg("--data").arg(dir.path());
        if repair {
            cmd.arg("--repair");
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = fsck(false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("PROBLEM: {victim}")), "{out}");
    let (code, out) = fsck(true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("repaired"), "{out}");
    let (code, out) = fsck(false);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 found"), "{out}");
}
