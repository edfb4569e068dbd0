//! The OpenAPI document, request ids and metrics.

use crate::kit::Api;
use crate::raw;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::test]
async fn openapi_documents_only_served_routes() {
    let api = Api::new();
    let root = api.user("root", true);
    let (s, doc) = api.call("GET", "/api/v1/openapi", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let ops = exact_http::openapi::operations();
    assert!(ops.len() > 60);
    for (method, path) in ops {
        if path.starts_with("/health") || path == "/metrics" || path.ends_with("/file/") {
            continue; // not JSON
        }
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
        let uri = path.replace("{id}", "999999");
        let (s, v) = api
            .call(&method.to_uppercase(), &uri, Some(&root), None)
            .await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {v}");
        assert!(
            !(s == StatusCode::NOT_FOUND && v["detail"] == "Not found."),
            "{method} {uri} is documented but not routed"
        );
        assert!(!s.is_server_error(), "{method} {uri}: {s} {v}");
    }
    // Wrong methods answer 405 with JSON.
    let (s, v) = api
        .call("DELETE", "/api/v1/users/users/", Some(&root), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["detail"].is_string());
}

#[tokio::test]
async fn request_ids_and_prometheus_metrics() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, h, _) = raw(
        &api.app,
        "GET",
        "/api/v1/users/users/",
        &[("authorization", &alice), ("x-request-id", "trace-me-42")],
        None,
    )
    .await;
    assert_eq!(h["x-request-id"], "trace-me-42");
    let (_, h, _) = raw(
        &api.app,
        "GET",
        "/api/v1/users/users/7/",
        &[("authorization", &alice)],
        None,
    )
    .await;
    assert_eq!(h["x-request-id"].len(), 36);
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        text.contains(
            r#"exact_http_requests_total{route="/api/v1/users/users/",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"exact_http_requests_total{route="/api/v1/users/users/{id}/",method="GET",status="404"} 1"#), "{text}");
    assert!(text.contains(r#"exact_http_request_duration_seconds_bucket{route="/api/v1/users/users/",method="GET",le="+Inf"} 1"#), "{text}");
}
