//! No lost updates (issue 15): an annotation's `ETag` is its version, and PATCH/PUT/DELETE
//! with `If-Match` apply only at that version (412 with a JSON reason otherwise, nothing
//! written). Two servers on one store race the same `If-Match`: exactly one wins. Without
//! `If-Match` the last writer wins, as EXACT.

use crate::kit::Api;
use crate::raw;
use axum::http::StatusCode;
use exact_store::{Exact, ExactConfig};
use serde_json::{Value, json};

fn etag(h: &axum::http::HeaderMap) -> String {
    h.get("etag")
        .expect("an ETag header")
        .to_str()
        .unwrap()
        .to_string()
}

async fn patch(
    app: &axum::Router,
    uri: &str,
    auth: &str,
    if_match: Option<&str>,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut headers = vec![("authorization", auth)];
    if let Some(m) = if_match {
        headers.push(("if-match", m));
    }
    raw(
        app,
        "PATCH",
        uri,
        &headers,
        Some(("application/json", body.to_string())),
    )
    .await
}

#[tokio::test]
async fn if_match_refuses_stale_writes_with_412_and_two_servers_race_to_one_winner() {
    // Two "servers" (handles and routers) on one metadata store.
    let meta: std::sync::Arc<dyn exact_core::store::MetaStore> =
        std::sync::Arc::new(exact_store::meta::memory::open());
    let api = {
        let exact = Exact::open_with_meta(meta.clone(), ExactConfig::memory()).unwrap();
        Api {
            app: exact_http::router(exact.clone()),
            exact,
        }
    };
    let other = exact_http::router(Exact::open_with_meta(meta, ExactConfig::memory()).unwrap());
    let admin = api.user("admin", false);
    let (_, _, kind, image) = api.world(&admin, "versions").await;
    let id = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &admin,
            Some(json!({"annotation_type": kind, "image": image,
                        "vector": {"x1": 10, "y1": 10, "x2": 60, "y2": 60}})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let uri = format!("/api/v1/annotations/annotations/{id}/");
    let auth = [("authorization", admin.as_str())];

    let (s, h, _) = raw(&api.app, "GET", &uri, &auth, None).await;
    assert_eq!(s, StatusCode::OK);
    let v0 = etag(&h);
    assert!(v0.starts_with('"') && v0.ends_with('"'), "{v0}");
    // The other server gives the same version.
    let (_, h, _) = raw(&other, "GET", &uri, &auth, None).await;
    assert_eq!(etag(&h), v0);

    // The current version applies and answers the new one.
    let (s, h, v) = patch(
        &api.app,
        &uri,
        &admin,
        Some(&v0),
        json!({"description": "a"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v1 = etag(&h);
    assert_ne!(v1, v0);
    // The old one is refused on the other server, with a JSON reason and the current version.
    let (s, _, v) = patch(&other, &uri, &admin, Some(&v0), json!({"description": "b"})).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("changed"), "{v}");
    assert_eq!(
        format!("\"{}\"", v["current_version"].as_str().unwrap()),
        v1
    );
    // PUT and DELETE too; nothing was written.
    let (s, _, _) = raw(
        &api.app,
        "PUT",
        &uri,
        &[("authorization", &admin), ("if-match", &v0)],
        Some(("application/json", json!({"description": "c"}).to_string())),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, _, v) = raw(
        &api.app,
        "DELETE",
        &uri,
        &[("authorization", &admin), ("if-match", &v0)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    let (_, h, v) = raw(&api.app, "GET", &uri, &auth, None).await;
    assert_eq!(
        (etag(&h), v["description"].clone()),
        (v1.clone(), json!("a"))
    );
    // A weak tag never matches (strong comparison); `*` and a list with the current one do.
    let weak = format!("W/{v1}");
    let (s, _, _) = patch(
        &api.app,
        &uri,
        &admin,
        Some(&weak),
        json!({"description": "w"}),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, _, _) = patch(
        &api.app,
        &uri,
        &admin,
        Some("*"),
        json!({"description": "d"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, h, _) = raw(&api.app, "GET", &uri, &auth, None).await;
    let list = format!("{v0}, {}", etag(&h));
    let (s, h, _) = patch(
        &api.app,
        &uri,
        &admin,
        Some(&list),
        json!({"description": "e"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut current = etag(&h);
    // A malformed header is a 400 naming it.
    let (s, _, v) = patch(&api.app, &uri, &admin, Some("abc"), json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["If-Match"].is_array(), "{v}");
    // Without If-Match: last writer wins (EXACT, EXACT-Sync).
    let (s, _, _) = patch(&other, &uri, &admin, None, json!({"description": "f"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, h, _) = raw(&api.app, "GET", &uri, &auth, None).await;
    current = {
        assert_ne!(etag(&h), current);
        etag(&h)
    };

    // The race: both servers send the same If-Match at once, many times; one wins each time.
    for round in 0..10 {
        let a = patch(
            &api.app,
            &uri,
            &admin,
            Some(&current),
            json!({"description": format!("{round} one")}),
        );
        let b = patch(
            &other,
            &uri,
            &admin,
            Some(&current),
            json!({"description": format!("{round} two")}),
        );
        let (a, b) = tokio::join!(a, b);
        let mut codes = [a.0, b.0];
        codes.sort();
        assert_eq!(
            codes,
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
            "round {round}"
        );
        let winner = if a.0 == StatusCode::OK { a } else { b };
        let (_, h, v) = raw(&api.app, "GET", &uri, &auth, None).await;
        assert_eq!(v["description"], winner.2["description"]);
        current = etag(&h);
        assert_eq!(current, etag(&winner.1));
    }
}

/// Bulk updates carry each item's version in the body (`if_match`, as the ETag gives it): one
/// stale item refuses the whole batch with 412 and nothing is written; current ones apply.
#[tokio::test]
async fn bulk_updates_honour_if_match_per_item() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let (_, _, kind, image) = api.world(&admin, "bulk-versions").await;
    let mut ids = Vec::new();
    for x in [10, 100] {
        let a = api
            .ok(
                "POST",
                "/api/v1/annotations/annotations/",
                &admin,
                Some(json!({"annotation_type": kind, "image": image,
                            "vector": {"x1": x, "y1": 10, "x2": x + 50, "y2": 60}})),
            )
            .await;
        ids.push(a["id"].as_u64().unwrap());
    }
    let auth = [("authorization", admin.as_str())];
    let mut tags = Vec::new();
    for id in &ids {
        let uri = format!("/api/v1/annotations/annotations/{id}/");
        let (_, h, _) = raw(&api.app, "GET", &uri, &auth, None).await;
        tags.push(etag(&h));
    }
    let bulk = "/api/v1/annotations/annotations/multiple_update/";
    let send = |body: Value| {
        raw(
            &api.app,
            "POST",
            bulk,
            &auth,
            Some(("application/json", body.to_string())),
        )
    };
    // Current versions (quoted as the ETag, or bare): both apply.
    let (s, _, v) = send(json!([
        {"id": ids[0], "description": "one", "if_match": tags[0]},
        {"id": ids[1], "description": "two", "if_match": tags[1].trim_matches('"')},
    ]))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The old versions again: 412, and neither changes.
    let (s, _, v) = send(json!([
        {"id": ids[0], "description": "three"},
        {"id": ids[1], "description": "four", "if_match": [tags[1]]},
    ]))
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    for (id, text) in ids.iter().zip(["one", "two"]) {
        let uri = format!("/api/v1/annotations/annotations/{id}/");
        let (_, _, v) = raw(&api.app, "GET", &uri, &auth, None).await;
        assert_eq!(v["description"], text, "{v}");
    }
    // A malformed version is a 400 naming the item and field.
    let (s, _, v) = send(json!([{"id": ids[0], "description": "x", "if_match": "nope"}])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("[0].if_match"), "{v}");
}
