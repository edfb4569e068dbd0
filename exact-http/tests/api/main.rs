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
