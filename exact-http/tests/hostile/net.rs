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

// ---------------------------------------------------------------------------------------
// 5. File names, failed and interrupted uploads, racing duplicates, zip limits

#[tokio::test]
async fn every_valid_file_name_uploads_lists_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "names").await;
    let names = [
        "Schnitt ä ö ü.png",
        "100%.png",
        "a#b.png",
        "what?.png",
        "[x] y.png",
        "~tilde.png",
        "say \"hi\".png",
        "日本語 スライド.png",
        "plus+semi;comma,.png",
    ];
    for (i, name) in names.iter().enumerate() {
        let bytes = png(i as u8 + 3);
        let (s, _, v) = upload(&api, &alice, set, name, &bytes).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
        let image = &v["results"][0];
        assert_eq!(image["name"], *name, "{v}");
        let id = image["id"].as_u64().unwrap();
        // Listed under its name.
        let listed = api
            .ok(
                "GET",
                &format!("/api/v1/images/images/?image_set={set}&limit=100"),
                &alice,
                None,
            )
            .await;
        assert!(
            listed["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == *name && r["id"] == id),
            "{name}: {listed}"
        );
        // Downloaded byte for byte, with RFC 6266 names.
        let (s, h, b) = send(
            &api.app,
            "GET",
            &format!("/images/api/image/download/{id}/?original_image=True"),
            &[("authorization", &alice)],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{name}: {}", String::from_utf8_lossy(&b));
        assert_eq!(b, bytes, "{name}");
        let cd = h[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(cd.starts_with("attachment; filename=\""), "{cd}");
        let star = cd.split("filename*=UTF-8''").nth(1).expect(cd);
        let decoded = percent_decode(star);
        assert_eq!(decoded, *name, "{cd}");
    }
}

#[tokio::test]
async fn media_files_with_any_name_download() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&alice, "media").await;
    let a = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &alice,
            Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 2, "y2": 2}})),
        )
        .await;
    let name = "Zelle ä #1 [50%].png";
    let mut enc = url::form_urlencoded::Serializer::new(String::new());
    enc.append_pair("annotation", &a["id"].to_string())
        .append_pair("name", name)
        .append_pair("media_file_type", "2");
    let (s, _, b) = send(
        &api.app,
        "POST",
        &format!(
            "/api/v1/annotations/annotation_media_files/?{}",
            enc.finish()
        ),
        &[("authorization", &alice)],
        Some(("image/png".into(), b"\x89PNG fake".to_vec())),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let file = json_of(&b)["file"].as_str().unwrap().to_owned();
    let (s, h, b) = send(&api.app, "GET", &file, &[("authorization", &alice)], None).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    assert_eq!(b, b"\x89PNG fake");
    let cd = h[header::CONTENT_DISPOSITION].to_str().unwrap();
    let star = cd.split("filename*=UTF-8''").nth(1).expect(cd);
    assert_eq!(percent_decode(star), name);
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "orphans").await;
    for name in ["notes #1.png", "plain.txt"] {
        let (s, _, v) = upload(&api, &alice, set, name, b"this is not a picture").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    }
    // A zip whose entries are not images either.
    let (s, _, v) = upload(&api, &alice, set, "bundle.zip", &zip_of(&[("a.txt", b"x")])).await;
    assert!(s.is_client_error(), "{s} {v}");
    let left = files_under(&dir.path().join("blobs"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn an_upload_cut_off_by_the_client_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let exact = local_store(dir.path());
    let api = api_over(exact.clone(), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "cut off").await;
    let (addr, _stop) = listen(exact, RouterOptions::default(), ServeOptions::default()).await;
    let (ct, body) = multipart(
        &[("image_set", &set.to_string())],
        &[("file_path", "big #1.png", &vec![7u8; 1 << 20])],
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/images/images/ HTTP/1.1\r\nHost: x\r\nAuthorization: {alice}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // Half the file, then the client goes away.
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    let start = Instant::now();
    loop {
        let during = files_under(&dir.path().join("blobs"));
        if during.iter().any(|f| f.ends_with(".part~")) {
            break; // being written
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not written: {during:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(s);
    let start = Instant::now();
    loop {
        let left = files_under(&dir.path().join("blobs"));
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "left behind: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn uploads_are_refused_before_a_byte_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let mallory = api.user("mallory", false);
    let (_, set) = team_and_set(&api, &alice, "private").await;
    let (_, other) = team_and_set(&api, &mallory, "mallorys").await;
    // Into a foreign set (the set named first, as EXACT-Sync sends it), by the UI's route,
    // and by a user without any team who names the set after the file.
    let (s, _, v) = upload(&api, &mallory, set, "x.png", &png(1)).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s} {v}"
    );
    let body = multipart(&[], &[("files[]", "x.png", &png(1))]);
    let (s, _, _) = send(
        &api.app,
        "POST",
        &format!("/images/image/upload/{set}/"),
        &[("authorization", &mallory)],
        Some(body),
    )
    .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    // A user of no team, with the file before any set: refused before it is written.
    let loner = api.user("loner", false);
    let _ = other;
    let (s, _, b) = send(
        &api.app,
        "POST",
        "/api/v1/images/images/",
        &[("authorization", &loner)],
        Some(multipart(&[], &[("file_path", "x.png", &png(1))])),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let left = files_under(&dir.path().join("blobs"));
    assert!(left.is_empty(), "written for a refused upload: {left:?}");
}

#[tokio::test]
async fn a_refused_upload_answers_and_keeps_the_connection_usable() {
    let dir = tempfile::tempdir().unwrap();
    let exact = local_store(dir.path());
    let api = api_over(exact.clone(), RouterOptions::default());
    let alice = api.user("alice", false);
    let (addr, _stop) = listen(exact, RouterOptions::default(), ServeOptions::default()).await;
    // The set is refused as soon as it is named; the 2 MiB after it are read, not written.
    let (ct, body) = multipart(
        &[("image_set", "999999")],
        &[("file_path", "x.png", &vec![1u8; 2 << 20])],
    );
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/images/images/ HTTP/1.1\r\nHost: x\r\nAuthorization: {alice}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The same connection serves the next request.
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (_, rest) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(rest.contains("HTTP/1.1 200"), "{text}{rest}");
    assert!(files_under(&dir.path().join("blobs")).is_empty());
}

#[tokio::test]
async fn uploads_interrupted_by_a_crash_are_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let id = "0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(blobs.join(format!("images/{id}"))).unwrap();
    std::fs::write(blobs.join(format!("images/{id}/slide.svs.part~")), b"half").unwrap();
    std::fs::write(blobs.join(format!("images/{id}/other.png")), b"whole").unwrap();
    std::fs::create_dir_all(blobs.join("uploads/pending")).unwrap();
    std::fs::write(blobs.join(format!("uploads/pending/{id}")), b"x").unwrap();
    // A registered upload's directory (no marker) is kept.
    std::fs::create_dir_all(blobs.join("images/ffffffffffffffffffffffffffffffff")).unwrap();
    std::fs::write(
        blobs.join("images/ffffffffffffffffffffffffffffffff/kept.png"),
        b"kept",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _api = api_over(local_store(dir.path()), RouterOptions::default());
    let start = Instant::now();
    loop {
        let left = files_under(&blobs);
        if left == ["images/ffffffffffffffffffffffffffffffff/kept.png"] {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not swept: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn racing_identical_uploads_all_get_the_duplicate_answer() {
    let dir = tempfile::tempdir().unwrap();
    let api = std::sync::Arc::new(api_over(local_store(dir.path()), RouterOptions::default()));
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "race").await;
    let bytes = png(9);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (api, alice, bytes) = (api.clone(), alice.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            upload(&api, &alice, set, "same name ä#.png", &bytes).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (s, _, v) = t.await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.insert(v["results"][0]["id"].as_u64().unwrap());
    }
    assert_eq!(ids.len(), 1, "one image, not {ids:?}");
    let listed = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/?image_set={set}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    // Only the one image's upload directory stays.
    let dirs: std::collections::HashSet<String> = files_under(&dir.path().join("blobs"))
        .iter()
        .filter_map(|f| {
            f.strip_prefix("images/")
                .and_then(|r| r.split('/').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(
            *name,
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated),
        )
        .unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn zip_limits_refuse_bombs_and_swarms_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "zips").await;
    // 8 MiB of zeros deflate to ~8 kB: a thousandfold expansion.
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_of(&[("zeros.tif", &zeros)]);
    let (s, _, v) = upload(&api, &alice, set, "bomb.zip", &bomb).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("expands"), "{v}");
    let names: Vec<String> = (0..2_001).map(|i| format!("f{i}.txt")).collect();
    let swarm: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let (s, _, v) = upload(&api, &alice, set, "swarm.zip", &zip_of(&swarm)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("entries"), "{v}");
    let left = files_under(&dir.path().join("blobs"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

// ---------------------------------------------------------------------------------------
// 6. Password guessing

#[tokio::test]
async fn ten_wrong_passwords_then_429_with_retry_after() {
    let api = Api::new();
    api.user("alice", false);
    let wrong = basic("alice", "guess");
    for i in 0..10 {
        let (s, _) = api
            .call("GET", "/api/v1/auth/me/", Some(&wrong), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (s, h, b) = send(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("authorization", &basic("alice", "alice-secret"))],
        None,
    )
    .await;
    // Blocked: even the right password waits (else guessing would just go on).
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let retry: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // The session login form counts against the same username.
    let (s, _, _) = send(
        &api.app,
        "POST",
        "/api/v1/auth/login/",
        &[],
        Some((
            "application/json".into(),
            json!({"username": "alice", "password": "alice-secret"})
                .to_string()
                .into_bytes(),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Another user is not affected (no address is known in-process).
    let bob = api.user("bob", false);
    let (s, _) = api.call("GET", "/api/v1/auth/me/", Some(&bob), None).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn login_back_off_grows() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let opts = RouterOptions {
        throttle: ThrottleOptions {
            max_failures: 3,
            block: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let api = api_over(exact, opts);
    api.user("alice", false);
    let wrong = basic("alice", "guess");
    for _ in 0..3 {
        api.call("GET", "/api/v1/auth/me/", Some(&wrong), None)
            .await;
    }
    let (s, h, _) = send(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("authorization", &wrong)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h[header::RETRY_AFTER], "1");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // After a block, one more failure blocks again, twice as long.
    let (s, _) = api
        .call("GET", "/api/v1/auth/me/", Some(&wrong), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, h, _) = send(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("authorization", &wrong)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h[header::RETRY_AFTER], "2");
}

#[tokio::test]
async fn unknown_users_take_as_long_as_wrong_passwords() {
    let api = Api::new();
    api.user("alice", false);
    let time = |auth: String| {
        let api = &api;
        async move {
            let t = Instant::now();
            let (s, _) = api.call("GET", "/api/v1/auth/me/", Some(&auth), None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            t.elapsed()
        }
    };
    // Warm the dummy hash up, then alternate (at most 9 failures per username). Without the
    // dummy hash an unknown user answers in microseconds, a wrong password in tens of ms.
    time(basic("nobody-warm", "x")).await;
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for i in 0..5 {
        unknown.push(time(basic(&format!("nobody{i}"), "x")).await);
        wrong.push(time(basic("alice", &format!("wrong{i}"))).await);
    }
    unknown.sort();
    wrong.sort();
    let (u, w) = (unknown[2].as_secs_f64(), wrong[2].as_secs_f64());
    assert!(
        u > w / 3.0 && u < w * 3.0,
        "unknown {u:.4} s, wrong password {w:.4} s"
    );
}

#[tokio::test]
async fn failed_logins_are_counted_per_address_for_tokens_and_basic() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let api = api_over(exact.clone(), RouterOptions::default());
    let alice = api.user("alice", false);
    // Behind a proxy that names the client (loopback itself is not counted: every client of
    // a local proxy would share it).
    let opts = ServeOptions {
        trust_forwarded_for: true,
        ..Default::default()
    };
    let (addr, _stop) = listen(exact, RouterOptions::default(), opts).await;
    let from = |ip: &str, auth: &str| {
        format!(
            "GET /api/v1/auth/me/ HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nX-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n"
        )
    };
    // Ten bad tokens from one address, then a wrong password for someone else: 429.
    for i in 0..10 {
        let (code, text) = http(addr, &from("203.0.113.7", &format!("Token exact_bad{i}"))).await;
        assert_eq!(code, 401, "{text}");
    }
    let (code, text) = http(addr, &from("203.0.113.7", &basic("someone", "x"))).await;
    assert_eq!(code, 429, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: "),
        "{text}"
    );
    // Also a right password from this address waits; other addresses do not.
    let (code, _) = http(addr, &from("203.0.113.7", &alice)).await;
    assert_eq!(code, 429);
    let (code, text) = http(addr, &from("198.51.100.1", &alice)).await;
    assert_eq!(code, 200, "{text}");
    // Local clients are never locked out by address.
    for i in 0..12 {
        http(
            addr,
            &get_with("/api/v1/auth/me/", &basic(&format!("nobody{i}"), "x")),
        )
        .await;
    }
    let (code, _) = http(addr, &get_with("/api/v1/auth/me/", &alice)).await;
    assert_eq!(code, 200);
}

// ---------------------------------------------------------------------------------------
// 9. Connections

fn quick() -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        keep_alive_timeout: Duration::from_secs(1),
        max_connections: 4,
        ..Default::default()
    }
}

#[tokio::test]
async fn half_sent_headers_are_cut_off() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let (addr, _stop) = listen(exact, RouterOptions::default(), quick()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let t = Instant::now();
    let (closed, _) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "a half-sent request is kept open");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn half_sent_bodies_are_cut_off() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let (addr, _stop) = listen(exact, RouterOptions::default(), quick()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /api/v1/auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\": ",
    )
    .await
    .unwrap();
    let t = Instant::now();
    let (closed, text) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(closed, "a half-sent body is waited for: {text}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(20),
        ..quick()
    };
    let (addr, _stop) = listen(exact, RouterOptions::default(), opts).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let (closed, text) = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "an idle keep-alive connection stays open");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(20),
        max_connections: 2,
        ..quick()
    };
    let (addr, _stop) = listen(exact, RouterOptions::default(), opts).await;
    let held: Vec<TcpStream> = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, text) = http(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(code, 503, "{text}");
    assert!(text.contains("Retry-After: 1"), "{text}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, text) = http(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 200, "{text}");
}

/// This machine's address on its default route, if it has one (not loopback).
fn routed_address() -> Option<std::net::IpAddr> {
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    udp.connect("192.0.2.1:9").ok()?; // no packet is sent
    let ip = udp.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let Some(ip) = routed_address() else {
        eprintln!("no non-loopback address: the per-address cap is covered by serve's unit test");
        return;
    };
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(20),
        max_connections: 100,
        max_connections_per_ip: 3,
        ..Default::default()
    };
    let app = router_with(exact, RouterOptions::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(exact_http::serve::serve(listener, app, opts, async {
        let _ = rx.await;
    }));
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (code, text) = http(addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(code, 503, "{text}");
    // Loopback clients (a local proxy) are not limited by address.
    drop(tx);
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let local = ServeOptions {
        header_read_timeout: Duration::from_secs(20),
        max_connections_per_ip: 1,
        ..Default::default()
    };
    let (addr, _stop) = listen(exact, RouterOptions::default(), local).await;
    let _one = TcpStream::connect(addr).await.unwrap();
    let (code, text) = http(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(code, 200, "{text}");
    drop(held);
}

#[test]
fn exact_serve_flags_reach_the_accept_loop() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_exact"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--header-timeout", "1", "--max-connections", "1"])
        .arg("--data")
        .arg(dir.path())
        .env("EXACT_ADMIN_PASSWORD", "flags-secret")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut idle = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(200));
    // The one connection allowed is taken: the next is refused.
    let mut second = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut text = String::new();
    let _ = second.read_to_string(&mut text);
    // The idle one is cut off by the header timeout.
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    let _ = idle.write_all(b"x");
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert_eq!(n, 0, "the idle connection got bytes");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

// ---------------------------------------------------------------------------------------
// Minor findings

async fn login(api: &Api, user: &str, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap) {
    let (s, h, _) = send(
        &api.app,
        "POST",
        "/api/v1/auth/login/",
        extra,
        Some((
            "application/x-www-form-urlencoded".into(),
            format!("username={user}&password={user}-secret").into_bytes(),
        )),
    )
    .await;
    (s, h)
}

fn cookie_of(h: &HeaderMap, name: &str) -> String {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap()[name.len() + 1..].to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[tokio::test]
async fn logins_from_other_sites_are_refused() {
    let api = Api::new();
    api.user("alice", false);
    for headers in [
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("referer", "https://evil.example/login.html")],
        vec![("origin", "null")],
    ] {
        let (s, h) = login(&api, "alice", &headers).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(h.get(header::SET_COOKIE).is_none());
    }
    // The server's own page, and clients that are not browsers.
    let (s, _) = login(
        &api,
        "alice",
        &[
            ("origin", "http://testserver"),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = login(&api, "alice", &[]).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_csrf_token_is_bound_to_the_session() {
    let api = Api::new();
    api.user("alice", false);
    let (s, h) = login(&api, "alice", &[]).await;
    assert_eq!(s, StatusCode::OK);
    let session = cookie_of(&h, "sessionid");
    let csrf = cookie_of(&h, "csrftoken");
    let team = json!({"name": "csrf team"}).to_string().into_bytes();
    // A csrftoken cookie planted by a sibling site, repeated in the header: refused.
    let planted = format!("sessionid={session}; csrftoken=planted");
    let (s, _, _) = send(
        &api.app,
        "POST",
        "/api/v1/users/teams/",
        &[("cookie", &planted), ("x-csrftoken", "planted")],
        Some(("application/json".into(), team.clone())),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Another session's token: refused.
    let (_, h2) = login(&api, "alice", &[]).await;
    let other = cookie_of(&h2, "csrftoken");
    assert_ne!(other, csrf);
    let cookie = format!("sessionid={session}; csrftoken={csrf}");
    let (s, _, _) = send(
        &api.app,
        "POST",
        "/api/v1/users/teams/",
        &[("cookie", &cookie), ("x-csrftoken", &other)],
        Some(("application/json".into(), team.clone())),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, b) = send(
        &api.app,
        "POST",
        "/api/v1/users/teams/",
        &[("cookie", &cookie), ("x-csrftoken", &csrf)],
        Some(("application/json".into(), team)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test]
async fn get_on_the_opened_log_changes_nothing() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, _, image) = api.world(&alice, "log").await;
    let url = format!("/api/v1/annotations/log_image_actions/?image={image}");
    let logs = async || {
        api.ok("GET", &url, &alice, None).await["count"]
            .as_u64()
            .unwrap()
    };
    let before = logs().await;
    let v = api
        .ok(
            "GET",
            &format!("/images/api/image/opened/{image}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["logged"], false, "{v}");
    assert_eq!(logs().await, before);
    api.ok(
        "POST",
        &format!("/images/api/image/opened/{image}/"),
        &alice,
        None,
    )
    .await;
    assert_eq!(logs().await, before + 1);
}

#[tokio::test]
async fn logout_stops_tile_access_at_once() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, _, image) = api.world(&alice, "tiles").await;
    let (_, h) = login(&api, "alice", &[]).await;
    let session = cookie_of(&h, "sessionid");
    let csrf = cookie_of(&h, "csrftoken");
    let cookie = format!("sessionid={session}; csrftoken={csrf}");
    let dzi = format!("/api/v1/images/images/{image}/native.dzi");
    let (s, _, _) = send(&api.app, "GET", &dzi, &[("cookie", &cookie)], None).await;
    assert_ne!(s, StatusCode::UNAUTHORIZED, "the session reads the image");
    let (s, _, _) = send(
        &api.app,
        "POST",
        "/api/v1/auth/logout/",
        &[("cookie", &cookie), ("x-csrftoken", &csrf)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = send(&api.app, "GET", &dzi, &[("cookie", &cookie)], None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a logged-out session still reads tiles"
    );
}

#[tokio::test]
async fn anonymous_clients_learn_no_storage_paths() {
    let dir = tempfile::tempdir().unwrap();
    let exact = local_store(dir.path());
    let api = api_over(exact, RouterOptions::default());
    let root = dir.path().display().to_string();
    for path in ["/api/v1/", "/metrics"] {
        let (s, _, b) = send(&api.app, "GET", path, &[], None).await;
        assert_eq!(s, StatusCode::OK);
        let text = String::from_utf8_lossy(&b);
        assert!(
            !text.contains(&root) && !text.contains("blobs"),
            "{path}: {text}"
        );
    }
    // A superuser sees where the data lives.
    let admin = api.user("admin", true);
    let (_, _, b) = send(
        &api.app,
        "GET",
        "/api/v1/",
        &[("authorization", &admin)],
        None,
    )
    .await;
    assert!(json_of(&b)["blobs"].is_string());
}

#[tokio::test]
async fn error_messages_name_no_server_paths() {
    let dir = tempfile::tempdir().unwrap();
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    let alice = api.user("alice", false);
    let (_, set) = team_and_set(&api, &alice, "paths").await;
    // Looks like a TIFF, is none: the reasons name the file, not where it is stored.
    let (s, _, v) = upload(&api, &alice, set, "broken.tif", b"II*\0\x08\0\0\0garbage").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let text = v.to_string();
    let root = std::fs::canonicalize(dir.path())
        .unwrap()
        .display()
        .to_string();
    assert!(
        !text.contains(&root) && !text.contains(&dir.path().display().to_string()),
        "{text}"
    );
    assert!(
        !text.contains(&std::env::temp_dir().display().to_string()),
        "{text}"
    );
    // Also where the UI's upload answers 200 with a reason per file.
    let body = multipart(&[], &[("files[]", "broken.tif", b"II*\0\x08\0\0\0garbage")]);
    let (s, _, b) = send(
        &api.app,
        "POST",
        &format!("/images/image/upload/{set}/"),
        &[("authorization", &alice)],
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8_lossy(&b);
    assert!(text.contains("error"), "{text}");
    assert!(
        !text.contains(&root) && !text.contains(&dir.path().display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn links_use_the_public_url_not_the_host_header() {
    let exact = Exact::open(ExactConfig::memory()).unwrap();
    let opts = RouterOptions {
        public_url: Some("https://exact.example.org/".parse().unwrap()),
        ..Default::default()
    };
    let api = api_over(exact, opts);
    let alice = api.user("alice", false);
    team_and_set(&api, &alice, "one").await;
    team_and_set(&api, &alice, "two").await;
    let (_, _, b) = send(
        &api.app,
        "GET",
        "/api/v1/users/teams/?limit=1",
        &[("authorization", &alice), ("host", "evil.example")],
        None,
    )
    .await;
    let v = json_of(&b);
    let next = v["next"].as_str().unwrap();
    assert!(
        next.starts_with("https://exact.example.org/api/v1/users/teams/?"),
        "{next}"
    );
}

#[tokio::test]
async fn expand_reveals_no_hidden_fields() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let id = api.exact.users().by_username("alice").unwrap().unwrap().id;
    let plain = api
        .ok(
            "GET",
            &format!("/api/v1/users/users/{}/", id.0),
            &alice,
            None,
        )
        .await;
    assert!(plain.get("email").is_none(), "{plain}");
    let (_, _, kind, image) = api.world(&alice, "expand").await;
    let a = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &alice,
            Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 2, "y2": 2}})),
        )
        .await;
    let v = api
        .ok(
            "GET",
            &format!(
                "/api/v1/annotations/annotations/{}/?expand=user,last_editor",
                a["id"]
            ),
            &alice,
            None,
        )
        .await;
    for field in ["user", "last_editor"] {
        let u = &v[field];
        assert!(u.is_object(), "{v}");
        for hidden in ["email", "points"] {
            assert!(u.get(hidden).is_none(), "{field}.{hidden} revealed: {u}");
        }
    }
}

#[tokio::test]
async fn get_patch_refuses_nan_and_infinite_coordinates() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, _, image) = api.world(&alice, "patch").await;
    for (k, v) in [("x", "NaN"), ("y", "inf"), ("x", "-inf"), ("y", "1e300")] {
        let (s, body) = api
            .call(
                "GET",
                &format!("/api/v1/images/images/{image}/get_patch/?{k}={v}&width=8&height=8"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{k}={v}: {body}");
        assert!(body[k].is_array(), "{body}");
    }
}
