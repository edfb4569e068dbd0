//! Bad and oversized request bodies.

use crate::kit::Api;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn bad_bodies_are_400_with_a_reason() {
    let api = Api::new();
    let alice = api.user("alice", true);
    for path in [
        "users/users",
        "users/team_membership",
        "annotations/verifications",
        "annotations/annotations",
        "users/teams",
    ] {
        let (s, v) = api
            .call("POST", &format!("/api/v1/{path}/"), Some(&alice), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(v["detail"].is_string(), "{path}: {v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/users/teams/")
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/users/teams/",
            Some(&alice),
            Some(json!({"name": ["x"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .call("GET", "/api/v1/users/teams/abc/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_json() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let big = vec![b' '; exact_http::body::BODY_LIMIT + 1];
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/annotations/annotations/")
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v["detail"].is_string());
}
