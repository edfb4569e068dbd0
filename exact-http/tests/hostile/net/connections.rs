//! Slow and idle connections (item 9) and the minor findings: CSRF, logout, what answers reveal, links, `expand`, patch coordinates.

use super::*;

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
