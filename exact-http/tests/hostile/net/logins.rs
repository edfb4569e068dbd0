//! Password guessing (item 6).

use super::*;

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
