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

/// A form body (what EXACT's JavaScript and ExactManager post).
async fn form(api: &Api, method: &str, uri: &str, auth: &str, body: &str) -> (StatusCode, Value) {
    let (s, _, v) = crate::raw(
        &api.app,
        method,
        uri,
        &[("authorization", auth)],
        Some(("application/x-www-form-urlencoded", body.to_owned())),
    )
    .await;
    (s, v)
}

#[tokio::test]
async fn legacy_set_endpoints_and_v1_deletes() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let stranger = api.user("mallory", false);
    let (team, set, kind, image) = api.world(&alice, "legacy").await;
    let (carol, _) = member(&api, &alice, team, "carol").await;
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

    // ExactManager.create_imageset posts a form; the viewer posts JSON with {id} objects.
    let (s, v) = form(
        &api,
        "POST",
        "/images/api/imageset/create/",
        &alice,
        &format!("name=formset&team={team}&description=d&collaboration_type=0&priority=1"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["image_set"]["name"], "formset");
    let (s, v) = api
        .call("POST", "/images/api/imageset/create/", Some(&alice), Some(json!({"name": "jsonset", "team": {"id": team}, "products": [{"id": product}], "public": false, "image_lock": false})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let jset = v["image_set"]["id"].as_u64().unwrap();
    let types = api
        .ok(
            "GET",
            &format!("/annotations/api/annotation/loadannotationtypes/?imageset_id={jset}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(types["annotation_types"][0]["id"], kind, "{types}");
    let (s, v) = api
        .call(
            "POST",
            "/images/api/imageset/create/",
            Some(&alice),
            Some(json!({"team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = api
        .call(
            "POST",
            "/images/api/imageset/create/",
            Some(&stranger),
            Some(json!({"name": "x", "team": team})),
        )
        .await;
    assert!(s.is_client_error());

    // Annotations of a set: loadset, loadsetannotationtypes, loadfilteredset.
    let anns = "/api/v1/annotations/annotations/";
    let second = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &alice,
            Some(json!({"name": "b.svs", "image_set": set, "width": 100, "height": 100})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let third = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &alice,
            Some(json!({"name": "c.svs", "image_set": set, "width": 100, "height": 100})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let a = api.ok("POST", anns, &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 5, "y2": 5}}))).await;
    api.ok("POST", anns, &alice, Some(json!({"annotation_type": kind, "image": second, "vector": {"x1": 1, "y1": 1, "x2": 5, "y2": 5}}))).await;
    let base = "/annotations/api/annotation";
    let v = api
        .ok(
            "GET",
            &format!("{base}/loadset/?imageset_id={set}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"].as_array().unwrap().len(), 2, "{v}");
    let v = api
        .ok(
            "GET",
            &format!("{base}/loadsetannotationtypes/?imageset_id={set}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotation_types"].as_array().unwrap().len(), 1);
    assert_eq!(v["annotation_types"][0]["name"], "mitosis");
    // Carol judges one: the verification view then walks only the other.
    api.ok(
        "POST",
        &format!("{base}/verify/"),
        &carol,
        Some(json!({"annotation_id": a["id"], "state": "accept"})),
    )
    .await;
    let v = api
        .ok(
            "GET",
            &format!("{base}/loadfilteredset/?imageset_id={set}&verified=true&annotation_type=-1"),
            &carol,
            None,
        )
        .await;
    let left = v["annotations"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{v}");
    assert_eq!(left[0]["image"], second);
    let v = api
        .ok(
            "GET",
            &format!(
                "{base}/loadfilteredset/?imageset_id={set}&verified=false&annotation_type={kind}"
            ),
            &carol,
            None,
        )
        .await;
    assert_eq!(v["annotations"].as_array().unwrap().len(), 2);
    let (s, _) = api
        .call(
            "GET",
            &format!("{base}/loadset/?imageset_id={set}"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call("GET", &format!("{base}/loadset/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The image list filters of the set page and the viewer.
    let ids = |v: &Value| -> Vec<u64> {
        v["image_set"]["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_u64().unwrap())
            .collect()
    };
    let load = |f: &str| {
        format!("/images/api/imageset/load/?image_set_id={set}&filter_annotation_type_id={f}")
    };
    assert_eq!(
        ids(&api.ok("GET", &load("-1"), &alice, None).await).len(),
        3
    );
    assert_eq!(
        ids(&api.ok("GET", &load(&kind.to_string()), &alice, None).await),
        vec![image, second]
    );
    assert_eq!(
        ids(&api.ok("GET", &load("NoAnnotations"), &alice, None).await),
        vec![third]
    );
    assert_eq!(
        ids(&api.ok("GET", &load("Verified"), &alice, None).await),
        vec![image]
    );
    assert_eq!(
        ids(&api.ok("GET", &load("Unverified"), &alice, None).await),
        vec![second]
    );
    assert!(
        ids(&api
            .ok("GET", &load("ComputerGenerated"), &alice, None)
            .await)
        .is_empty()
    );
    let (s, v) = api
        .call("GET", &load("Sometimes"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Set tags as the set page edits them.
    let v = api
        .ok(
            "POST",
            "/images/api/imageset/tag/add/",
            &alice,
            Some(json!({"image_set_id": set, "tag_names": ["lung", "he"]})),
        )
        .await;
    assert_eq!(v["tags"].as_array().unwrap().len(), 2, "{v}");
    let (s, v) = form(
        &api,
        "POST",
        "/images/api/imageset/tag/add/",
        &alice,
        &format!("image_set_id={jset}&tag_name=lung"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = api
        .ok(
            "GET",
            "/images/api/imageset/tag/autocomplete/?query=LU",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["tags"], json!(["lung"]));
    let v = api
        .ok(
            "POST",
            "/images/api/imageset/tag/delete/",
            &alice,
            Some(json!({"image_set_id": set, "tag_name": "he"})),
        )
        .await;
    assert_eq!(v["tags"].as_array().unwrap().len(), 1);
    let (s, _) = api
        .call(
            "POST",
            "/images/api/imageset/tag/add/",
            Some(&stranger),
            Some(json!({"image_set_id": set, "tag_name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // v1: rename, then delete (the tag spans two sets alice edits).
    let lung = api
        .ok("GET", "/api/v1/images/set_tags/?name=lung", &alice, None)
        .await["results"][0]["id"]
        .as_u64()
        .unwrap();
    let v = api
        .ok(
            "PATCH",
            &format!("/api/v1/images/set_tags/{lung}/"),
            &alice,
            Some(json!({"name": "lungs"})),
        )
        .await;
    assert_eq!(v["name"], "lungs");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/set_tags/{lung}/"),
            Some(&stranger),
            None,
        )
        .await;
    assert!(s.is_client_error());
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/set_tags/{lung}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/set_tags/{lung}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Users the requester shares a team with.
    let v = api
        .ok(
            "GET",
            "/users/api/user/autocomplete/?username_query=car",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["usernames"], json!(["carol"]), "{v}");
    let v = api
        .ok(
            "GET",
            "/users/api/user/autocomplete/?username_query=mal",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["usernames"], json!([]));

    // The image list and the download script.
    let (s, _, _) = crate::raw(
        &api.app,
        "GET",
        &format!("/images/imagelist/{set}/"),
        &[("authorization", &alice)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = body_text(&api, &format!("/images/imagelist/{set}/"), &alice).await;
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.starts_with(&format!(
            "http://testserver/images/api/image/download/{image}/"
        )),
        "{text}"
    );
    let script = body_text(&api, "/images/imageset/exact_dl_script.py", &alice).await;
    assert!(
        script.contains("imagelist") && script.contains("http://testserver"),
        "{script}"
    );
    let (s, _, _) = crate::raw(
        &api.app,
        "GET",
        &format!("/images/imagelist/{set}/"),
        &[("authorization", &stranger)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // v1 deletes with EXACT's rules.
    let verdict = api
        .ok(
            "GET",
            &format!(
                "/api/v1/annotations/verifications/?annotation={}&user=",
                a["id"]
            ),
            &carol,
            None,
        )
        .await;
    let mine = verdict["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["verified"] == true && v["user"] != a["user"])
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let points = |n: &str| {
        api.exact
            .catalog()
            .users()
            .by_username(n)
            .unwrap()
            .unwrap()
            .points
    };
    let before = points("alice");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/verifications/{mine}/"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/verifications/{mine}/"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(points("alice"), before - 1);
    // A product holding types stays; a type is deactivated (EXACT's rule), then the product goes.
    let (s, v) = api
        .call(
            "DELETE",
            &format!("/api/v1/administration/products/{product}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("mitosis"), "{v}");
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/annotation_types/{kind}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = api
        .ok(
            "GET",
            &format!("/annotations/api/annotation/loadannotationtypes/?imageset_id={set}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotation_types"], json!([]));
    let empty = api
        .ok(
            "POST",
            "/api/v1/administration/products/",
            &alice,
            Some(json!({"name": "empty", "team": team})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/administration/products/{empty}/"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/administration/products/{empty}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Screening progress: list, read, forget (owner only).
    let m = api
        .ok(
            "POST",
            "/api/v1/images/screening_modes/",
            &carol,
            Some(json!({"image": image, "x_resolution": 350, "y_resolution": 350})),
        )
        .await;
    let mid = m["id"].as_u64().unwrap();
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/screening_modes/?image={image}"),
            &carol,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(
        api.ok(
            "GET",
            &format!("/api/v1/images/screening_modes/{mid}/"),
            &carol,
            None
        )
        .await["id"],
        mid
    );
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/screening_modes/{mid}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/screening_modes/{mid}/"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        api.ok("GET", "/api/v1/images/screening_modes/", &carol, None)
            .await["count"],
        0
    );
}

async fn body_text(api: &Api, uri: &str, auth: &str) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get(uri)
        .header("host", "testserver")
        .header("authorization", auth)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn team_and_global_messages() {
    let api = Api::new();
    let root = api.user("root", true);
    let alice = api.user("alice", false);
    let stranger = api.user("mallory", false);
    let (team, _, _, _) = api.world(&alice, "msgs").await;
    let (carol, _) = member(&api, &alice, team, "carol").await;
    let url = "/api/v1/messages/";
    // Team admins write to their team; members may not, nor may anyone write globally.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "Scanner down", "content": "until noon", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let team_msg = v["id"].as_u64().unwrap();
    let (s, _) = api
        .call(
            "POST",
            url,
            Some(&carol),
            Some(json!({"title": "x", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "everyone"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .call("POST", url, Some(&alice), Some(json!({"title": "backwards", "team": team, "start_time": "2030-01-02T00:00:00.000000", "expire_time": "2030-01-01T00:00:00.000000"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Superusers write globally; staff-only ones reach only them; future ones show later.
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Maintenance", "content": "Sunday"})),
    )
    .await;
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Staff", "staff_only": true})),
    )
    .await;
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Admins", "team_admins_only": true})),
    )
    .await;
    api.ok("POST", url, &alice, Some(json!({"title": "Later", "team": team, "start_time": "2999-01-01T00:00:00.000000", "expire_time": "2999-02-01T00:00:00.000000"}))).await;
    let titles = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut t = titles(
        &api.ok("GET", &format!("{url}?unread=true"), &carol, None)
            .await,
    );
    t.sort();
    assert_eq!(t, vec!["Maintenance", "Scanner down"]);
    let mut t = titles(
        &api.ok("GET", &format!("{url}?unread=true"), &alice, None)
            .await,
    );
    t.sort();
    assert_eq!(t, vec!["Admins", "Maintenance", "Scanner down"]);
    assert_eq!(
        titles(&api.ok("GET", url, &stranger, None).await),
        vec!["Maintenance"]
    );
    // Marking read (twice is fine) hides it from the unread list only.
    api.ok("POST", &format!("{url}{team_msg}/read/"), &carol, None)
        .await;
    api.ok("POST", &format!("{url}{team_msg}/read/"), &carol, None)
        .await;
    assert_eq!(
        titles(
            &api.ok("GET", &format!("{url}?unread=true"), &carol, None)
                .await
        ),
        vec!["Maintenance"]
    );
    assert_eq!(api.ok("GET", url, &carol, None).await["count"], 2);
    let (s, _) = api
        .call(
            "POST",
            &format!("{url}{team_msg}/read/"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Deleting: the writer or an admin; members may not.
    let (s, _) = api
        .call("DELETE", &format!("{url}{team_msg}/"), Some(&carol), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call("DELETE", &format!("{url}{team_msg}/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        titles(&api.ok("GET", url, &carol, None).await),
        vec!["Maintenance"]
    );
}

#[tokio::test]
async fn demo_data_loads_once_and_is_served() {
    let api = Api::new();
    let root = api.user("root", true);
    let me = api
        .exact
        .actor(api.exact.users().by_username("root").unwrap().unwrap().id)
        .unwrap();
    let demo = exact_store::demo::load(&api.exact, &me).await.unwrap();
    assert_eq!((demo.image.width, demo.image.height), (2220, 2967));
    assert_eq!(demo.annotations, 8);
    let image = demo.image.id.0;
    let s = api
        .ok(
            "GET",
            &format!("/images/api/image/statistics/?image_id={image}"),
            &root,
            None,
        )
        .await;
    let counts: Vec<(String, u64)> = s["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("Mitotic figure".into(), 4),
            ("Tumor region".into(), 1),
            ("Lymphocyte".into(), 3)
        ]
    );
    let info = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/{image}/slide_information/"),
            &root,
            None,
        )
        .await;
    assert!(info["levels"].as_u64().unwrap() >= 1, "{info}");
    let m = api
        .ok("GET", "/api/v1/messages/?unread=true", &root, None)
        .await;
    assert_eq!(m["results"][0]["title"], "Welcome");
    // A second load is refused and writes nothing.
    let again = exact_store::demo::load(&api.exact, &me).await;
    assert_eq!(
        again.unwrap_err().kind(),
        exact_core::ErrorKind::AlreadyExists
    );
    assert_eq!(
        api.ok("GET", "/api/v1/images/image_sets/", &root, None)
            .await["count"],
        1
    );
}

#[tokio::test]
async fn image_registrations_store_invert_and_convert() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, set, _, he) = api.world(&alice, "reg").await;
    let ihc = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &alice,
            Some(json!({"name": "ihc.svs", "image_set": set, "width": 20000, "height": 16000})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (_, _, _, foreign) = api.world(&bob, "bobreg").await;
    let url = "/api/v1/images/registration/";
    // Scale by 2, shift by (100, -50): x' = 2x + 100, y' = 2y - 50.
    let m = json!({"t_00": 2.0, "t_01": 0.0, "t_02": 100.0, "t_10": 0.0, "t_11": 2.0, "t_12": -50.0,
                   "t_20": 0.0, "t_21": 0.0, "t_22": 1.0});
    let (s, r) = api
        .call("POST", url, Some(&alice), Some(json!({"source_image": he, "target_image": ihc, "transformation_matrix": m, "registration_error": 1.5, "runtime": 0.2})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["transformation_matrix"], m);
    let id = r["id"].as_u64().unwrap();
    // EXACT-Sync's convert_coodinates: GET ?vector= → 202 with the target's coordinates.
    let v = json!({"x1": 10, "y1": 20, "x2": 30, "y2": 40}).to_string();
    let (s, out) = api
        .call(
            "GET",
            &format!("{url}{id}/convert_coodinates/?vector={}", urlencode(&v)),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{out}");
    assert_eq!(out, json!({"x1": 120, "y1": -10, "x2": 160, "y2": 30}));
    // The inverse maps them back.
    let (s, inv) = api
        .call(
            "GET",
            &format!("{url}{id}/create_inverse_registration/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(
        (inv["source_image"].as_u64(), inv["target_image"].as_u64()),
        (Some(ihc), Some(he))
    );
    let back = json!({"x1": 120, "y1": -10}).to_string();
    let (_, out) = api
        .call(
            "GET",
            &format!(
                "{url}{}/convert_coodinates/?vector={}",
                inv["id"],
                urlencode(&back)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(out, json!({"x1": 10, "y1": 20}));
    let listed = api
        .ok("GET", &format!("{url}?source_image={he}"), &alice, None)
        .await;
    assert_eq!(listed["count"], 1, "{listed}");

    // Bad input: degenerate matrices, pairs across teams, duplicates, strangers.
    let flat = json!({"t_00": 1.0, "t_01": 2.0, "t_02": 0.0, "t_10": 2.0, "t_11": 4.0, "t_12": 0.0,
                      "t_20": 0.0, "t_21": 0.0, "t_22": 1.0});
    let (s, v) = api
        .call(
            "PATCH",
            &format!("{url}{id}/"),
            Some(&alice),
            Some(json!({"transformation_matrix": flat})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("degenerate"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"source_image": he, "target_image": ihc})),
        )
        .await;
    assert_eq!(s.as_u16() / 100, 4, "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&bob),
            Some(json!({"source_image": foreign, "target_image": he})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api.call("POST", url, Some(&alice), Some(json!({"source_image": he, "target_image": ihc, "transformation_matrix": {"t_00": 1}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = api
        .call("GET", &format!("{url}{id}/"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{he}/register_images/"),
            Some(&alice),
            Some(json!({"target_image": ihc})),
        )
        .await;
    // Automatic estimation needs pixels: these images were registered by metadata only
    // (tests/http/test_registration.py registers real slides).
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v.to_string().contains("never uploaded"), "{v}");
    let (s, _) = api
        .call("DELETE", &format!("{url}{id}/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(api.ok("GET", url, &alice, None).await["count"], 1);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
