//! Issue 18's EXACT parity endpoints, driven with the requests EXACT's viewer JavaScript and
//! SlideRunner send.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// A member `name` of `team` (added by the team's admin `admin`); returns their auth and id.
pub async fn member(api: &Api, admin: &str, team: u64, name: &str) -> (String, u64) {
    let auth = api.user(name, false);
    let id = api.exact.users().by_username(name).unwrap().unwrap().id.0;
    api.ok(
        "POST",
        "/api/v1/users/team_membership/",
        admin,
        Some(json!({"team": team, "user": id, "is_admin": false})),
    )
    .await;
    (auth, id)
}

fn row(stats: &Value, kind: u64) -> &Value {
    stats["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == kind)
        .unwrap_or_else(|| panic!("no row for type {kind} in {stats}"))
}

#[tokio::test]
async fn image_statistics_and_whole_image_verification() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let stranger = api.user("mallory", false);
    let (team, _set, kind, image) = api.world(&alice, "stats").await;
    let (carol, _) = member(&api, &alice, team, "carol").await;
    let base = "/api/v1/annotations/annotations/";
    let mut ids = Vec::new();
    for (i, vector) in [
        json!({"x1": 10, "y1": 10, "x2": 20, "y2": 20}),
        json!({"x1": 30, "y1": 30, "x2": 40, "y2": 40}),
        json!({"x1": 50, "y1": 50, "x2": 60, "y2": 60}),
        Value::Null,
    ]
    .into_iter()
    .enumerate()
    {
        let v = api
            .ok("POST", base, &alice, Some(json!({"annotation_type": kind, "image": image, "vector": vector, "description": format!("n{i}")})))
            .await;
        ids.push(v["id"].as_u64().unwrap());
    }
    // A soft-deleted annotation counts nowhere.
    api.ok(
        "PATCH",
        &format!("{base}{}/", ids[2]),
        &alice,
        Some(json!({"deleted": true})),
    )
    .await;
    let url = format!("/images/api/image/statistics/?image_id={image}");
    let s = api.ok("GET", &url, &alice, None).await;
    let r = row(&s, kind);
    assert_eq!(r["name"], "mitosis");
    assert_eq!(r["vector_type"], 1);
    assert_eq!(
        (
            r["count"].clone(),
            r["in_image_count"].clone(),
            r["not_in_image_count"].clone()
        ),
        (json!(3), json!(2), json!(1)),
        "{s}"
    );
    assert_eq!(
        (r["verified_count"].clone(), r["unverified_count"].clone()),
        (json!(0), json!(3))
    );

    // The viewer's `f`: carol accepts the whole image in one call.
    let v = api
        .ok(
            "POST",
            "/images/api/image/verify/",
            &carol,
            Some(json!({"image_id": image, "state": "accept"})),
        )
        .await;
    assert_eq!(v["count"], 3, "{v}");
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 3, "{s}");
    assert_eq!(row(&s, kind)["unverified_count"], 0);
    // Alice, the creator, earned one point per accepted annotation.
    let me = api
        .ok("GET", "/api/v1/users/users/?username=alice", &alice, None)
        .await;
    let alice_id = me["results"][0]["id"].as_u64().unwrap();
    let points = api
        .exact
        .catalog()
        .users()
        .by_username("alice")
        .unwrap()
        .unwrap()
        .points;
    assert_eq!(points, 3, "user {alice_id}");
    // Each annotation holds exactly one verdict of carol's; rejecting flips them, not adds.
    let v = api
        .ok(
            "POST",
            "/images/api/image/verify/",
            &carol,
            Some(json!({"image_id": image, "state": "reject"})),
        )
        .await;
    assert_eq!(v["count"], 3);
    let all = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/verifications/?annotation={}", ids[0]),
            &alice,
            None,
        )
        .await;
    let verdicts = all["results"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{all}");
    assert_eq!(verdicts[0]["verified"], false);
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 0);
    assert_eq!(
        api.exact
            .catalog()
            .users()
            .by_username("alice")
            .unwrap()
            .unwrap()
            .points,
        0
    );

    // Bad input and foreign images: clear errors, nothing written.
    let (st, v) = api
        .call(
            "POST",
            "/images/api/image/verify/",
            Some(&carol),
            Some(json!({"image_id": image, "state": "maybe"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("state"), "{v}");
    let (st, _) = api
        .call("GET", "/images/api/image/statistics/", Some(&alice), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = api.call("GET", &url, Some(&stranger), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = api
        .call(
            "POST",
            "/images/api/image/verify/",
            Some(&stranger),
            Some(json!({"image_id": image, "state": "accept"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 0);
}

/// Files under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn copies_share_the_stored_bytes_and_match_types_by_name() {
    let dir = std::env::temp_dir().join(format!("exact-parity-copy-{}", uuid::Uuid::new_v4()));
    let config = exact_store::ExactConfig {
        meta: Some("memory://".into()),
        ..exact_store::ExactConfig::in_dir(&dir)
    };
    let exact = exact_store::Exact::open(config).unwrap();
    let api = Api {
        app: exact_http::router(exact.clone()),
        exact,
    };
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (team, set, kind, _) = api.world(&alice, "copies").await;
    let (_bteam, bset, _, _) = api.world(&bob, "bobs").await;
    // The source set also offers a type the target lacks.
    let product = api
        .ok(
            "GET",
            &format!("/api/v1/administration/products/?imagesets={set}"),
            &alice,
            None,
        )
        .await["results"][0]["id"]
        .as_u64()
        .unwrap();
    let other = api
        .ok(
            "POST",
            "/api/v1/annotations/annotation_types/",
            &alice,
            Some(json!({"name": "other", "vector_type": 1, "product": product})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let target = api
        .ok(
            "POST",
            "/api/v1/images/image_sets/",
            &alice,
            Some(json!({"name": "target set", "team": team})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let tproduct = api
        .ok(
            "POST",
            "/api/v1/administration/products/",
            &alice,
            Some(json!({"name": "target product", "team": team, "imagesets": [target]})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let tkind = api
        .ok(
            "POST",
            "/api/v1/annotations/annotation_types/",
            &alice,
            Some(json!({"name": "mitosis", "vector_type": 1, "product": tproduct})),
        )
        .await["id"]
        .as_u64()
        .unwrap();

    // A real slide, uploaded once.
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/data/CMU-1-Small-Region.svs"
    ))
    .unwrap();
    let me = api
        .exact
        .actor(api.exact.users().by_username("alice").unwrap().unwrap().id)
        .unwrap();
    let up = api
        .exact
        .images()
        .upload(
            &me,
            exact_core::ImageSetId(set),
            "cmu.svs",
            futures::stream::iter([Ok(bytes.clone().into())]),
        )
        .await
        .unwrap();
    let src = up[0].image().unwrap().id.0;
    let blobs_before = files_under(&dir.join("blobs")).len();
    let anns = "/api/v1/annotations/annotations/";
    let a1 = api.ok("POST", anns, &alice, Some(json!({"annotation_type": kind, "image": src, "vector": {"x1": 1, "y1": 2, "x2": 30, "y2": 40}, "description": "keep me"}))).await;
    api.ok("POST", anns, &alice, Some(json!({"annotation_type": other, "image": src, "vector": {"x1": 5, "y1": 5, "x2": 9, "y2": 9}}))).await;

    // Bob may not add images to alice's set, and alice may not to bob's: nothing written.
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{src}/copy/"),
            Some(&alice),
            Some(json!({"image_set": bset})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, _) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{src}/copy/"),
            Some(&bob),
            Some(json!({"image_set": bset})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{src}/copy/"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    let (st, copy) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{src}/copy/"),
            Some(&alice),
            Some(json!({"image_set": target, "copy_annotations": true})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{copy}");
    assert_eq!(copy["annotations_copied"], 1, "{copy}");
    assert_eq!(copy["annotations_skipped"], 1);
    assert_eq!(copy["skipped_types"], json!(["other"]));
    assert_eq!(copy["image_set"], target);
    assert_eq!(copy["name"], "cmu.svs");
    let cid = copy["id"].as_u64().unwrap();
    assert_ne!(cid, src);
    // No second blob: the copy names the same stored file.
    assert_eq!(files_under(&dir.join("blobs")).len(), blobs_before);
    let got = api
        .ok("GET", &format!("{anns}?image={cid}"), &alice, None)
        .await;
    let copied = &got["results"][0];
    assert_eq!(copied["annotation_type"], tkind);
    assert_eq!(copied["unique_identifier"], a1["unique_identifier"]);
    assert_eq!(copied["description"], "keep me");
    // A second copy into the same set collides on the name (EXACT keeps names unique per set).
    let (st, v) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{src}/copy/"),
            Some(&alice),
            Some(json!({"image_set": target})),
        )
        .await;
    assert_eq!(st.as_u16() / 100, 4, "{v}");

    // Deleting the original leaves the copy's pixels and bytes whole.
    let (st, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/images/{src}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let file = api
        .exact
        .images()
        .file(&me, exact_core::ImageId(cid), true)
        .await;
    assert!(file.is_ok(), "{file:?}");
    let info = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/{cid}/slide_information/"),
            &alice,
            None,
        )
        .await;
    assert!(info["levels"].as_u64().unwrap_or(0) >= 1, "{info}");
    assert_eq!(files_under(&dir.join("blobs")).len(), blobs_before);

    // EXACT's single-annotation copy, matched by type name and vector type.
    let src2 = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &alice,
            Some(json!({"name": "second.svs", "image_set": set, "width": 1000, "height": 1000})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let a = api.ok("POST", anns, &alice, Some(json!({"annotation_type": kind, "image": src2, "vector": {"x1": 3, "y1": 3, "x2": 8, "y2": 8}}))).await;
    let o = api.ok("POST", anns, &alice, Some(json!({"annotation_type": other, "image": src2, "vector": {"x1": 3, "y1": 3, "x2": 8, "y2": 8}}))).await;
    let (st, v) = api
        .call(
            "POST",
            &format!("/annotations/api/annotation/copy/{}/{cid}", a["id"]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["annotations"]["annotation_type"], tkind);
    assert_eq!(v["annotations"]["image"], cid);
    let (st, v) = api
        .call(
            "POST",
            &format!("/annotations/api/annotation/copy/{}/{cid}", o["id"]),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("other"), "{v}");
    let (st, _) = api
        .call(
            "POST",
            &format!("/annotations/api/annotation/copy/{}/{cid}", a["id"]),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&dir);
}
