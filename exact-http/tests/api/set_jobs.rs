//! Plugin jobs over a whole set over HTTP: `POST pluginjobs/ {plugin, image_set}` → one job
//! per image; `set_jobs/cancel/` and `set_jobs/resume/` for all of them.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn set_jobs_over_http() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let (_, set, _, image) = api.world(&admin, "jobs").await;
    let second = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &admin,
            Some(json!({"name": "b.svs", "image_set": set, "width": 100, "height": 80})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/processing/plugins/",
            Some(&admin),
            Some(json!({"name": "p"})),
        )
        .await;
    // Only superusers register plugins for every product.
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let root = api.user("root", true);
    let plugin = api
        .ok(
            "POST",
            "/api/v1/processing/plugins/",
            &root,
            Some(json!({"name": "p"})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let jobs = "/api/v1/processing/pluginjobs/";
    let (s, v) = api
        .call(
            "POST",
            jobs,
            Some(&admin),
            Some(json!({"plugin": plugin, "image_set": set})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut images: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["image"].as_u64().unwrap())
        .collect();
    images.sort();
    assert_eq!(images, vec![image, second]);
    let (s, v) = api
        .call(
            "POST",
            jobs,
            Some(&admin),
            Some(json!({"plugin": plugin, "image_set": set, "image": image})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("image_set"), "{v}");

    let cancel = format!("/api/v1/processing/set_jobs/cancel/?image_set={set}");
    let v = api.ok("POST", &cancel, &admin, None).await;
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"] == "cancelled"),
        "{v}"
    );
    let v = api
        .ok(
            "POST",
            "/api/v1/processing/set_jobs/resume/",
            &admin,
            Some(json!({"image_set": set, "plugin": plugin})),
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/processing/set_jobs/cancel/",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let outsider = api.user("outsider", false);
    let (s, _) = api.call("POST", &cancel, Some(&outsider), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
