//! Hostile input at the network edge (issue 10, items 5, 6, 9 and the minor findings): file
//! names, uploads that fail or race, zip limits, password guessing, slow and idle
//! connections, CSRF, logout, what answers reveal, links, `expand` and patch coordinates.
//! Connection tests run the real accept loop ([`exact_http::serve::serve`]) on 127.0.0.1:0.

use crate::kit::{Api, basic};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use exact_http::serve::ServeOptions;
use exact_http::throttle::ThrottleOptions;
use exact_http::{RouterOptions, router_with};
use exact_store::{Exact, ExactConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------
// Helpers

/// A store with blobs as local files (where file names once broke) and memory metadata.
fn local_store(dir: &std::path::Path) -> Exact {
    Exact::open(ExactConfig {
        data_dir: dir.to_path_buf(),
        meta: Some("memory://".into()),
        blobs: None,
    })
    .unwrap()
}

fn api_over(exact: Exact, opts: RouterOptions) -> Api {
    let app = router_with(exact.clone(), opts);
    Api { exact, app }
}

/// A small real PNG (a picture the server converts into a pyramid).
fn png(seed: u8) -> Vec<u8> {
    let mut img = exact_tiles::Image::new(64, 48, 3);
    for (i, b) in img.data.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(seed);
    }
    img.encode_png().unwrap()
}

/// A multipart body of `fields` (name, value) then `files` (field, file name, bytes).
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "exact-hostile-boundary-7d3f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (k, name, bytes) in files {
        // RFC 7578: the file name as UTF-8, quotes and backslashes escaped.
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{quoted}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One request through the router: status, headers, body bytes.
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(String, Vec<u8>)>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
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
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

async fn upload(
    api: &Api,
    auth: &str,
    set: u64,
    name: &str,
    bytes: &[u8],
) -> (StatusCode, HeaderMap, Value) {
    let set = set.to_string();
    let body = multipart(
        &[("image_set", &set), ("image_type", "0")],
        &[("file_path", name, bytes)],
    );
    let (s, h, b) = send(
        &api.app,
        "POST",
        "/api/v1/images/images/",
        &[("authorization", auth)],
        Some(body),
    )
    .await;
    (s, h, json_of(&b))
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A team with a set, owned by `auth`.
async fn team_and_set(api: &Api, auth: &str, name: &str) -> (u64, u64) {
    let team = api
        .ok(
            "POST",
            "/api/v1/users/teams/",
            auth,
            Some(json!({"name": name, "image_sets": [], "product_set": []})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let set = api
        .ok(
            "POST",
            "/api/v1/images/image_sets/",
            auth,
            Some(
                json!({"name": format!("{name} set"), "team": team, "images": [], "set_tags": []}),
            ),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    (team, set)
}

/// A server on 127.0.0.1:0 running the real accept loop; dropping the sender stops it.
async fn listen(
    exact: Exact,
    router: RouterOptions,
    opts: ServeOptions,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router_with(exact, router);
    tokio::spawn(async move {
        exact_http::serve::serve(listener, app, opts, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (addr, tx)
}

/// Reads until the peer closes or `limit` passes; whether it closed, and what it sent.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (bool, String) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (true, String::from_utf8_lossy(&out).into()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (false, String::from_utf8_lossy(&out).into()),
        }
    }
}

/// One HTTP/1.1 request over a fresh connection: the status code and the raw answer.
async fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let (_, text) = read_until_closed(&mut s, Duration::from_secs(20)).await;
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn get_with(path: &str, auth: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
}

mod connections;
mod logins;
mod uploads;
