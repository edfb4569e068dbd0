//! Image files over HTTP after they moved below the handle (issue 11): the library's typed
//! pixel errors answered once as 202 (being converted) / 404 (no file), a router that starts
//! no conversions, the conversion worker that does, and the set zip streamed from a task.

mod kit;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use kit::Api;
use serde_json::Value;
use tower::ServiceExt;

/// A PNG written by the `image` crate: a picture the server converts into a pyramid.
fn png() -> Vec<u8> {
    let mut img = exact_tiles::Image::new(200, 150, 3);
    for (i, b) in img.data.iter_mut().enumerate() {
        *b = (i % 241) as u8;
    }
    img.encode_png().unwrap()
}

async fn get(api: &Api, uri: &str, auth: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, auth)
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (
        status,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

async fn upload(api: &Api, auth: &str, set: u64, name: &str, bytes: &[u8]) -> Value {
    let boundary = "XyZbOuNdArY";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image_set\"\r\n\r\n{set}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file_path\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = Request::post("/api/v1/images/images/")
        .header(header::AUTHORIZATION, auth)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["results"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixels_answer_202_until_the_worker_converts_and_404_without_a_file() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, set, _, meta_only) = api.world(&alice, "files").await;

    // Registered by metadata only: no file to serve.
    let (s, body) = get(
        &api,
        &format!("/api/v1/images/images/{meta_only}/native.dzi"),
        &alice,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );

    let image = upload(&api, &alice, set, "cells.png", &png()).await;
    assert_eq!(image["state"], "converting", "{image}");
    let id = image["id"].as_u64().unwrap();
    let dzi = format!("/api/v1/images/images/{id}/native.dzi");
    // The router converts nothing by itself.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, body) = get(&api, &dzi, &alice).await;
    assert_eq!(
        s,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let detail: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        detail["detail"].as_str().unwrap().contains("converted"),
        "{detail}"
    );
    let (s, _) = get(
        &api,
        &format!("/images/api/image/download/{id}/?original_image=False"),
        &alice,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let _worker = exact_store::ConversionWorker::start(&api.exact).unwrap();
    let start = std::time::Instant::now();
    loop {
        let (s, body) = get(&api, &dzi, &alice).await;
        if s == StatusCode::OK {
            assert!(String::from_utf8_lossy(&body).contains("Width=\"200\""));
            break;
        }
        assert_eq!(s, StatusCode::ACCEPTED);
        assert!(start.elapsed().as_secs() < 30, "not converted within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The tile path's remembered grant of the converting image is not reused.
    let (s, tile) = get(
        &api,
        &format!("/api/v1/images/images/{id}/native_files/0/0_0.jpeg"),
        &alice,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(tile.starts_with(&[0xFF, 0xD8]));

    // The set zip holds the upload as it was sent.
    let (s, zip) = get(&api, &format!("/images/imageset/{set}/download/"), &alice).await;
    assert_eq!(s, StatusCode::OK);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut entry = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("cells.png").unwrap(), &mut entry).unwrap();
    assert_eq!(entry, png());
}

/// EXACT's annotation map paths (issue 18): create answers the map's name and count, its
/// tiles serve, its annotations carry the originals' UUIDs, a relabel on it is synced back;
/// bad input is a 4xx with a JSON reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotation_maps_at_exacts_paths() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, set, kind, _) = api.world(&alice, "maps").await;
    let svs = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/data/CMU-1-Small-Region.svs"),
    )
    .unwrap();
    let slide = upload(&api, &alice, set, "cmu.svs", &svs).await["id"]
        .as_u64()
        .unwrap();
    let product = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotation_types/{kind}/"),
            &alice,
            None,
        )
        .await["product"]
        .as_u64()
        .unwrap();
    let other = api
        .ok(
            "POST",
            "/api/v1/annotations/annotation_types/",
            &alice,
            Some(serde_json::json!({
                "name": "other", "vector_type": 1, "product": product, "node_count": 0,
                "color_code": "#00FF00", "default_width": 50, "default_height": 50, "sort_order": 1
            })),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let mut originals = Vec::new();
    for (x, y) in [(100, 100), (900, 1200), (1500, 2500)] {
        originals.push(
            api.ok(
                "POST",
                "/api/v1/annotations/annotations/",
                &alice,
                Some(serde_json::json!({
                    "annotation_type": kind, "image": slide,
                    "vector": {"x1": x, "y1": y, "x2": x + 50, "y2": y + 50}
                })),
            )
            .await,
        );
    }
    let base = format!("/images/imageset/{set}/annotation_map");

    // Bad input: 4xx naming the reason.
    let (s, v) = api
        .call(
            "GET",
            &format!("{base}/create/?annotation_type=abc"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("annotation_type"), "{v}");
    let (s, v) = api
        .call(
            "GET",
            &format!("{base}/create/?annotation_type=987654"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("not an annotation type"), "{v}");
    let (s, v) = api
        .call(
            "GET",
            &format!("{base}/create/?annotation_type={other}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("no live annotations"), "{v}");
    let (s, v) = api
        .call("GET", &format!("{base}/sync/"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = api
        .call("GET", &format!("{base}/create/"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, v) = api
        .call(
            "GET",
            &format!("{base}/create/?annotation_type={kind}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["Names"]["maps product_mitosis.tiff"], 3, "{v}");
    let map = v["Images"]["maps product_mitosis.tiff"].as_u64().unwrap();
    let (s, tile) = get(
        &api,
        &format!("/api/v1/images/images/{map}/native_files/0/0_0.jpeg"),
        &alice,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(tile.starts_with(&[0xFF, 0xD8]));
    let info = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/{map}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(info["image_type"], 1, "SERVER_GENERATED: {info}");
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(114), Some(114))
    );
    let on_map = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={map}&pagination=False"),
            &alice,
            None,
        )
        .await;
    let on_map = on_map
        .as_array()
        .cloned()
        .unwrap_or_else(|| on_map["results"].as_array().unwrap().clone());
    assert_eq!(on_map.len(), 3);
    let uuid = |v: &Value| v["unique_identifier"].as_str().unwrap().to_owned();
    let mut want: Vec<String> = originals.iter().map(uuid).collect();
    let mut got: Vec<String> = on_map.iter().map(uuid).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "map annotations keep their originals' UUIDs");

    // Relabel on the map, sync: the original follows.
    let moved = &on_map[0];
    api.ok(
        "PATCH",
        &format!("/api/v1/annotations/annotations/{}/", moved["id"]),
        &alice,
        Some(serde_json::json!({"annotation_type": other})),
    )
    .await;
    let (s, v) = api
        .call("GET", &format!("{base}/sync/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let original = originals.iter().find(|o| uuid(o) == uuid(moved)).unwrap();
    let oid = original["id"].as_u64().unwrap();
    assert_eq!(
        v["Updates"][oid.to_string()],
        format!("Id: {oid} Original Type: mitosis New Type: other"),
        "{v}"
    );
    let now = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{oid}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(now["annotation_type"], other, "{now}");
}
