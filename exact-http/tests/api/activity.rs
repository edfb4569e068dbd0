//! Logs and screening.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn logs_and_screening() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, _, _, image) = api.world(&alice, "alpha").await;
    api.ok(
        "POST",
        "/api/v1/annotations/log_image_actions/",
        &alice,
        Some(json!({"image": image, "action": 1, "ip": "1.2.3.4"})),
    )
    .await;
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/log_image_actions/?image={image}&action=1"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "{v}");
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/annotations/log_image_actions/",
            Some(&bob),
            Some(json!({"image": image, "action": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let m = api
        .ok(
            "POST",
            "/api/v1/images/screening_modes/",
            &alice,
            Some(json!({"image": image, "x_resolution": 1000, "y_resolution": 1000})),
        )
        .await;
    let id = m["id"].as_u64().unwrap();
    let m = api
        .ok(
            "PATCH",
            &format!("/api/v1/images/screening_modes/{id}/"),
            &alice,
            Some(json!({"current_index": 3})),
        )
        .await;
    assert_eq!(m["current_index"], 3);
    assert_eq!(m["screening_tiles"]["3"]["Screened"], true, "{m}");
}
