//! The REST API v1 driven through the router: auth, pagination, filters, team scoping, bad
//! input. One in-memory store per test.

#[path = "../kit/mod.rs"]
mod kit;

mod accounts;
mod activity;
mod agreement;
mod annotations;
mod auth;
mod bodies;
mod bulk_and_filters;
mod frames;
mod legacy;
mod outage;
mod parity;
mod parity_legacy;
mod parity_messages;
mod planes;
mod series;
mod service;
mod set_jobs;
mod teams_and_sets;
mod trash;
mod versions;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A raw request with extra headers; returns status, headers and JSON.
pub async fn raw(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "testserver");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some((ct, b)) => req.header(header::CONTENT_TYPE, ct).body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, v)
}

pub fn set_cookie(h: &axum::http::HeaderMap, name: &str) -> (String, String) {
    let c = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {h:?}"));
    let value = c.split(';').next().unwrap()[name.len() + 1..].to_owned();
    (value, c)
}

/// GET `uri` as `auth`: the status and the body's bytes.
pub async fn get_bytes(api: &kit::Api, uri: &str, auth: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::get(uri)
        .header(header::HOST, "testserver")
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

/// A multipart `POST /api/v1/images/images/` of `files` (name, bytes) with the text `fields`.
pub async fn upload_files(
    api: &kit::Api,
    auth: &str,
    fields: &[(&str, String)],
    files: &[(&str, Vec<u8>)],
) -> (StatusCode, Value) {
    let boundary = "FrAmEsBoUnDaRy";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file_path\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::post("/api/v1/images/images/")
        .header(header::HOST, "testserver")
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
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
