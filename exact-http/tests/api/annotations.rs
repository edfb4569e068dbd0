//! Annotations: paging, client times, expand, derived fields, versions and media.

use crate::kit::Api;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn annotations_page_with_absolute_links_and_keep_client_times() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&alice, "lab").await;
    let items: Vec<Value> = (0..120)
        .map(|n| {
            json!({
                "annotation_type": kind, "image": image,
                "vector": {"x1": n * 10, "y1": n * 10, "x2": n * 10 + 5, "y2": n * 10 + 5},
                "time": "2021-06-15T10:20:30.123456", "last_edit_time": "2021-06-15T10:20:31.000001",
                "deleted": n % 10 == 0, "uploaded_media_files": [], "annotationversion_set": []
            })
        })
        .collect();
    let (s, created) = api
        .call(
            "POST",
            "/api/v1/annotations/annotations/",
            Some(&alice),
            Some(Value::Array(items)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created.as_array().unwrap().len(), 120);
    assert_eq!(created[0]["time"], "2021-06-15T10:20:30.123456");
    assert_eq!(created[0]["last_edit_time"], "2021-06-15T10:20:31.000001");

    let first = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={image}&omit=meta_data"),
            &alice,
            None,
        )
        .await;
    assert_eq!(first["count"], 120);
    assert_eq!(first["results"].as_array().unwrap().len(), 50);
    assert!(first["previous"].is_null());
    assert!(first["results"][0].get("meta_data").is_none());
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://testserver/api/v1/annotations/annotations/?"),
        "{next}"
    );
    assert!(
        next.contains("limit=50") && next.contains("offset=50"),
        "{next}"
    );
    // Walk every page: ids ascend and none repeats.
    let mut ids = Vec::new();
    let mut url = Some(format!("/api/v1/annotations/annotations/?image={image}"));
    while let Some(u) = url {
        let page = api.ok("GET", &u, &alice, None).await;
        ids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_u64().unwrap()),
        );
        url = page["next"]
            .as_str()
            .map(|n| n.trim_start_matches("http://testserver").to_owned());
    }
    assert_eq!(ids.len(), 120);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    for (q, n) in [
        ("deleted=True", 12),
        ("deleted=false", 108),
        ("deleted=1", 12),
    ] {
        let v = api
            .ok(
                "GET",
                &format!("/api/v1/annotations/annotations/?image={image}&{q}&limit=1"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["count"], n, "{q}");
    }
    let v = api
        .ok("GET", &format!("/api/v1/annotations/annotations/?image={image}&vector_x_max=95&vector_y_max=95&fields=id,vector"), &alice, None)
        .await;
    assert_eq!(v["count"], 10, "{v}");
    assert_eq!(v["results"][0].as_object().unwrap().len(), 2);
    // Counts without listing: the same numbers, per type, for a viewport too.
    let typed = format!("&annotation_type={kind}&deleted=false&vector_x_min=100");
    for (q, n) in [
        ("", 120),
        ("&deleted=false", 108),
        ("&deleted=true", 12),
        ("&vector_x_max=95&vector_y_max=95", 10),
        (typed.as_str(), 99),
    ] {
        let v = api
            .ok(
                "GET",
                &format!("/api/v1/annotations/annotations/counts/?image={image}{q}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["count"], n, "{q}: {v}");
        assert_eq!(v["by_type"][kind.to_string()], n, "{q}: {v}");
    }
    let paged = format!("?image={image}&offset=5");
    for bad in ["", paged.as_str()] {
        let (s, v) = api
            .call(
                "GET",
                &format!("/api/v1/annotations/annotations/counts/{bad}"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["detail"].is_string(), "{v}");
    }
    let some: Vec<String> = ids[..3].iter().map(u64::to_string).collect();
    let v = api
        .ok(
            "GET",
            &format!(
                "/api/v1/annotations/annotations/?id__in={}&unknown_param=1",
                some.join(",")
            ),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 3);
    let (s, v) = api
        .call(
            "GET",
            "/api/v1/annotations/annotations/?deleted=maybe",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Update, verify, soft-delete.
    let a = ids[1];
    let v = api
        .ok(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{a}/"),
            &alice,
            Some(json!({"description": "checked", "last_edit_time": "2022-01-01T00:00:00.000000"})),
        )
        .await;
    assert_eq!(v["description"], "checked");
    assert_eq!(v["last_edit_time"], "2022-01-01T00:00:00.000000");
    let v = api
        .ok(
            "POST",
            "/api/v1/annotations/verifications/",
            &alice,
            Some(json!({"annotation": a, "verified": true})),
        )
        .await;
    assert_eq!(v["verified"], true);
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/verifications/?annotation={a}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/annotations/{a}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // EXACT's DELETE: gone (404); the trash and restore are tested in `trash`.
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/annotations/annotations/{a}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expand_replaces_visible_relations() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (team, set, kind, image) = api.world(&alice, "alpha").await;
    api.ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let v = api
        .ok("GET", &format!("/api/v1/annotations/annotations/?image={image}&expand=annotation_type&fields=id,annotation_type.name"), &alice, None)
        .await;
    assert_eq!(
        v["results"][0]["annotation_type"],
        json!({"name": "mitosis"}),
        "{v}"
    );
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/?expand=team,images"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["team"]["id"], team);
    assert_eq!(v["images"][0]["id"], image);
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["team"], team);
}

#[tokio::test]
async fn derived_fields_versions_media_and_nested_expand() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, set, kind, image) = api.world(&alice, "derive").await;
    let a = api
        .ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let id = a["id"].as_u64().unwrap();
    assert_eq!(a["verified_by_user"], false);
    assert_eq!(a["uploaded_media_files"], json!([]));
    assert_eq!(a["annotationversion_set"], json!([]));
    api.ok(
        "POST",
        "/api/v1/annotations/verifications/",
        &alice,
        Some(json!({"annotation": id, "verified": true})),
    )
    .await;
    api.ok(
        "POST",
        "/api/v1/images/set_versions/",
        &alice,
        Some(json!({"name": "v1", "imagesets": [set]})),
    )
    .await;
    // Media bytes as the body; the metadata in the query.
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/annotations/annotation_media_files/?annotation={id}&name=cell.png&media_file_type=2"))
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(&b"\x89PNG fake"[..]))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let file = m["file"].as_str().unwrap().to_owned();
    let req = Request::builder()
        .uri(&file)
        .header(header::AUTHORIZATION, &alice)
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        b"\x89PNG fake"
    );
    // Others see neither the file nor its bytes.
    let (s, _) = api.call("GET", &file, Some(&bob), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_media_files/",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    // A JSON body is refused with a reason, nothing stored.
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/annotations/annotation_media_files/?annotation={id}&name=x"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["verified_by_user"], true);
    assert_eq!(v["uploaded_media_files"], json!([m["id"]]));
    assert_eq!(v["annotationversion_set"].as_array().unwrap().len(), 1);
    // Versions: unchanged, then changed after an edit.
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/?has_changes=true",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 0, "{v}");
    api.ok(
        "PATCH",
        &format!("/api/v1/annotations/annotations/{id}/"),
        &alice,
        Some(json!({"vector": {"x1": 2, "y1": 2, "x2": 9, "y2": 9}})),
    )
    .await;
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/?has_changes=true",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["results"][0]["annotation"], id);
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    // Nested expand follows dot paths.
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/?expand=annotation_type.product"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        v["annotation_type"]["product"]["name"], "derive product",
        "{v}"
    );
}
