//! Issue 18's legacy set endpoints and v1 DELETE/PATCH, driven with the requests EXACT's viewer
//! JavaScript, ExactManager and SlideRunner send.

use crate::kit::Api;
use crate::parity::member;
use axum::http::StatusCode;
use serde_json::{Value, json};

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
