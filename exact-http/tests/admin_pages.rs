//! The endpoints the management pages added: the administration status (superusers only, no
//! secrets, real counts) and the atomic bulk relabel / restore of annotations.

mod kit;

use axum::http::StatusCode;
use kit::Api;
use serde_json::{Value, json};

fn new_box(kind: u64, image: u64, x: u64) -> Value {
    json!({"annotation_type": kind, "image": image,
           "vector": {"x1": x, "y1": 10, "x2": x + 40, "y2": 50}})
}

#[tokio::test]
async fn status_counts_for_superusers_only() {
    let api = Api::new();
    let root = api.user("root", true);
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&root, "lab").await;
    for x in [0, 100, 200] {
        api.ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &root,
            Some(new_box(kind, image, x)),
        )
        .await;
    }
    let (s, v) = api
        .call("GET", "/api/v1/administration/status/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("superusers"), "{v}");
    let (s, _) = api
        .call("GET", "/api/v1/administration/status/", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let v = api
        .ok("GET", "/api/v1/administration/status/", &root, None)
        .await;
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["counts"]["users"], 2);
    assert_eq!(v["counts"]["teams"], 1);
    assert_eq!(v["counts"]["image_sets"], 1);
    assert_eq!(v["counts"]["annotations"], 3);
    assert_eq!(v["counts"]["annotations_deleted"], 0);
    assert!(
        v["storage"]["meta"].is_string() && v["storage"]["blobs"].is_string(),
        "{v}"
    );
    assert!(v["recent_errors"].is_array() && v["recent_failed_uploads"].is_array());
}

#[tokio::test]
async fn bulk_relabel_and_restore_are_atomic() {
    let api = Api::new();
    let root = api.user("root", true);
    let (team, _, kind, image) = api.world(&root, "lab").await;
    let product = api
        .ok("GET", "/api/v1/administration/products/", &root, None)
        .await["results"][0]["id"]
        .as_u64()
        .unwrap();
    let other = api
        .ok(
            "POST",
            "/api/v1/annotations/annotation_types/",
            &root,
            Some(json!({"name": "other", "vector_type": 1, "product": product})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let mut ids = Vec::new();
    for x in [0, 100] {
        ids.push(
            api.ok(
                "POST",
                "/api/v1/annotations/annotations/",
                &root,
                Some(new_box(kind, image, x)),
            )
            .await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let url = "/api/v1/annotations/annotations/multiple_update/";
    // One id that does not exist: nothing changes.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&root),
            Some(json!({"ids": [ids[0], 999_999], "annotation_type": other})),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let a = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{}/", ids[0]),
            &root,
            None,
        )
        .await;
    assert_eq!(a["annotation_type"], kind, "half-applied relabel");
    // Missing fields are named.
    let (s, v) = api
        .call("POST", url, Some(&root), Some(json!({"ids": ids})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["annotation_type"].is_array(), "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&root),
            Some(json!({"annotation_type": other})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["ids"].is_array(), "{v}");

    let v = api
        .ok(
            "POST",
            url,
            &root,
            Some(json!({"ids": ids, "annotation_type": other})),
        )
        .await;
    assert_eq!(v["updated"], 2);
    let listed = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={image}&annotation_type={other}"),
            &root,
            None,
        )
        .await;
    assert_eq!(listed["count"], 2);

    // Delete both, then restore both.
    let q = format!(
        "/api/v1/annotations/annotations/multiple_delete/?id__in={},{}",
        ids[0], ids[1]
    );
    api.ok("DELETE", &q, &root, None).await;
    let v = api
        .ok("GET", "/api/v1/administration/status/", &root, None)
        .await;
    assert_eq!(v["counts"]["annotations_trashed"], 2, "{v}");
    assert_eq!(v["counts"]["annotations"], 0, "{v}");
    // Relabel and restore in one call is refused, naming the field.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&root),
            Some(json!({"ids": ids, "deleted": false, "annotation_type": kind})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["deleted"].is_array(), "{v}");
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"ids": ids, "deleted": false})),
    )
    .await;
    let live = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={image}&deleted=false"),
            &root,
            None,
        )
        .await;
    assert_eq!(live["count"], 2);

    // Someone outside the team can change none of them.
    let eve = api.user("eve", false);
    let (s, _) = api
        .call(
            "POST",
            url,
            Some(&eve),
            Some(json!({"ids": ids, "deleted": true})),
        )
        .await;
    assert!(s.is_client_error());
    // To the trash and back, through this endpoint.
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"ids": ids, "deleted": true})),
    )
    .await;
    let v = api
        .ok("GET", "/api/v1/administration/status/", &root, None)
        .await;
    assert_eq!(v["counts"]["annotations_trashed"], 2, "{v}");
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"ids": ids, "deleted": false})),
    )
    .await;
    let v = api
        .ok("GET", "/api/v1/administration/status/", &root, None)
        .await;
    assert_eq!(v["counts"]["annotations"], 2, "{v}");
    assert_eq!(v["counts"]["annotations_trashed"], 0, "{v}");
    let _ = team;
}

#[tokio::test]
async fn annotation_counts_per_image_of_a_set() {
    let api = Api::new();
    let root = api.user("root", true);
    let (_, set, kind, image) = api.world(&root, "lab").await;
    let mut ids = Vec::new();
    for x in [0, 100, 200] {
        ids.push(
            api.ok(
                "POST",
                "/api/v1/annotations/annotations/",
                &root,
                Some(new_box(kind, image, x)),
            )
            .await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    api.ok(
        "DELETE",
        &format!("/api/v1/annotations/annotations/{}/", ids[0]),
        &root,
        None,
    )
    .await;
    let url = format!("/api/v1/images/image_sets/{set}/annotation_counts/");
    let v = api.ok("GET", &url, &root, None).await;
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["images"][image.to_string()], 2, "{v}");
    // Someone outside the team learns nothing.
    let eve = api.user("eve", false);
    let (s, _) = api.call("GET", &url, Some(&eve), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/images/image_sets/x/annotation_counts/",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
