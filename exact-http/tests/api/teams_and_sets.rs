//! Teams and image sets: scoping between teams, set tags and versions, deletes.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn other_teams_are_invisible_and_their_ids_refused() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, set, kind, image) = api.world(&alice, "alpha").await;
    api.world(&bob, "beta").await;
    for path in [
        "users/teams",
        "images/image_sets",
        "images/images",
        "administration/products",
        "annotations/annotation_types",
    ] {
        let v = api.ok("GET", &format!("/api/v1/{path}/"), &bob, None).await;
        assert_eq!(v["count"], 1, "{path}: {v}");
    }
    let v = api
        .ok(
            "GET",
            "/api/v1/images/image_sets/?name__contains=alpha",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    let v = api
        .ok(
            "GET",
            "/api/v1/images/image_sets/?name__contains=alpha",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("POST", "/api/v1/annotations/annotations/", Some(&bob), Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 2, "y2": 2}})))
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/images/images/",
            Some(&bob),
            Some(json!({"name": "x.svs", "image_set": set})),
        )
        .await;
    assert!(s.is_client_error());
}

#[tokio::test]
async fn set_tags_versions_and_unimplemented_routes() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, set, kind, image) = api.world(&alice, "alpha").await;
    api.ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let t = api
        .ok(
            "POST",
            "/api/v1/images/set_tags/",
            &alice,
            Some(json!({"name": "lung", "imagesets": [set]})),
        )
        .await;
    assert_eq!(t["name"], "lung");
    let v = api
        .ok(
            "GET",
            "/api/v1/images/set_tags/?name__contains=lu",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let v = api.ok("GET", "/api/v1/images/set_tags/", &bob, None).await;
    assert_eq!(v["count"], 0, "another team's tags stay hidden");
    let version = api
        .ok(
            "POST",
            "/api/v1/images/set_versions/",
            &alice,
            Some(json!({"name": "v1", "imagesets": [set]})),
        )
        .await;
    let id = version["id"].as_u64().unwrap();
    api.ok(
        "GET",
        &format!("/api/v1/images/set_versions/{id}/"),
        &alice,
        None,
    )
    .await;
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/set_versions/{id}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("GET", "/api/v1/images/registration/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["results"].is_array());
}

#[tokio::test]
async fn empty_teams_and_sets_are_deleted_full_ones_refused() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (team, set, _kind, _image) = api.world(&alice, "delteam").await;
    let (s, v) = api
        .call(
            "DELETE",
            &format!("/api/v1/users/teams/{team}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("image set"));
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/image_sets/{set}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let empty = api
        .ok(
            "POST",
            "/api/v1/images/image_sets/",
            &alice,
            Some(json!({"name": "empty", "team": team})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/image_sets/{empty}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/image_sets/{empty}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let scratch = api
        .ok(
            "POST",
            "/api/v1/users/teams/",
            &alice,
            Some(json!({"name": "scratch"})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/users/teams/{scratch}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
