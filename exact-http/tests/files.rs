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
