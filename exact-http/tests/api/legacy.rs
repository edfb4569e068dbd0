//! The legacy annotation endpoints SlideRunner's EXACT-Sync uses.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn legacy_annotation_endpoints_for_sliderunner() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, _set, kind, image) = api.world(&alice, "legacy").await;
    let base = "/annotations/api/annotation";
    let (s, v) = api
        .call("POST", &format!("{base}/create/"), Some(&alice), Some(json!({"image_id": image, "annotation_type_id": kind, "vector": {"x1": 10, "y1": 10, "x2": 20, "y2": 20}, "tempid": 7})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["tempid"], 7);
    assert_eq!(v["annotations"]["verified_by_user"], true);
    let id = v["annotations"]["id"].as_u64().unwrap();
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}&min_x=0&min_y=0&max_x=100&max_y=100"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"].as_array().unwrap().len(), 1);
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}&min_x=500&min_y=500&max_x=600&max_y=600"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"], json!([]));
    let v = api
        .ok("POST", &format!("{base}/update/"), &alice, Some(json!({"annotation_id": id, "image_id": image, "annotation_type_id": kind, "vector": {"x1": 11, "y1": 11, "x2": 20, "y2": 20}})))
        .await;
    assert_eq!(v["annotations"]["vector"]["x1"], 11);
    let v = api
        .ok(
            "POST",
            &format!("{base}/verify/"),
            &alice,
            Some(json!({"annotation_id": id, "state": "reject"})),
        )
        .await;
    assert_eq!(v["annotation"]["verified_by_user"], false);
    let (s, _) = api
        .call(
            "POST",
            &format!("{base}/verify/"),
            Some(&alice),
            Some(json!({"annotation_id": id, "state": "maybe"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Other teams: not found, nothing changed.
    let (s, _) = api
        .call(
            "GET",
            &format!("{base}/loadone/?annotation_id={id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("{base}/delete/?annotation_id={id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "GET",
            &format!("{base}/load/?image_id={image}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("GET", &format!("{base}/load/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let v = api
        .ok(
            "DELETE",
            &format!("{base}/delete/?annotation_id={id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"]["deleted"], true);
    let v = api
        .ok(
            "GET",
            &format!("{base}/loadone/?annotation_id={id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotation"]["deleted"], true);
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"], json!([]));
}
