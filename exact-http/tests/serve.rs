//! The `exact` binary serves on an embedded default and answers its status.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_opens_the_embedded_default_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_exact"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("EXACT_DATA")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let body = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            break out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // SIGTERM is a graceful shutdown: the server exits by itself, successfully.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(
        body.to_ascii_lowercase().contains("x-request-id: "),
        "{body}"
    );
    // Where the data lives is for superusers, not for anonymous clients (issue 10).
    assert!(body.contains("exact-rs"), "{body}");
    assert!(!body.contains("exact-data"), "{body}");
    assert!(dir.path().join("exact-data/db").is_dir());
    assert!(dir.path().join("exact-data/blobs").is_dir());
}

#[test]
fn user_add_registers_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        Command::new(env!("CARGO_BIN_EXE_exact"))
            .args(["user", "add", name, "--data"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let ok = run("alice");
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created user alice"));
    let dup = run("alice");
    assert!(!dup.status.success());
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("already exists"),
        "{dup:?}"
    );
}

/// A database that is down at start (issue 15): a clear message naming the store (without its
/// password) and why, and a non-zero exit, not a server answering 500s.
#[test]
fn serve_refuses_to_start_on_a_database_that_is_down() {
    // Nothing listens on port 1 of the loopback.
    let out = Command::new(env!("CARGO_BIN_EXE_exact"))
        .args([
            "serve",
            "--meta",
            "postgres://exact:hunter2-secret@127.0.0.1:1/exact",
            "--blobs",
            "memory://",
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postgres://exact:***@127.0.0.1:1/exact") && stderr.contains("connect"),
        "{stderr}"
    );
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("hunter2"), "{all}");
}

/// `exact migrate --from --to` copies a store and verifies it; a second copy into the now
/// non-empty target is refused, `--resume` finishes (here: finds everything there).
#[test]
fn migrate_copies_a_store_and_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let exact = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_exact"))
            .args(args)
            .env_remove("EXACT_META")
            .output()
            .unwrap()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    assert!(
        exact(&["user", "add", "alice", "--data", a])
            .status
            .success()
    );
    let (from, to) = (format!("sled://{a}/db"), format!("sled://{b}/db"));
    let out = exact(&["migrate", "--from", &from, "--to", &to]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("checksums") && stdout.contains("match"),
        "{stdout}"
    );
    let again = exact(&["migrate", "--from", &from, "--to", &to]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{again:?}"
    );
    let resumed = exact(&["migrate", "--from", &from, "--to", &to, "--resume"]);
    assert!(resumed.status.success(), "{resumed:?}");
    // The copy holds alice.
    let dup = exact(&["user", "add", "alice", "--data", b]);
    assert!(!dup.status.success());
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("already exists"),
        "{dup:?}"
    );
}

/// One raw HTTP/1.1 request; returns the whole response text.
fn http(port: u16, method: &str, path: &str, auth: Option<&str>) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn cli_passwords_and_tokens_authenticate_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let exact = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_exact"))
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    exact(&["user", "add", "alice", "--password-stdin"], "s3cret pw\n");
    let token = exact(&["user", "token", "alice"], "");
    let token = token.trim();
    assert!(token.starts_with("exact_"), "{token}");
    // The reserved session name and weak passwords are refused with a reason, nothing written.
    let refused = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_exact"))
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = refused(&["user", "token", "alice", "--name", "session"], "");
    assert!(err.contains("reserved"), "{err}");
    let err = refused(&["user", "add", "bob", "--password-stdin"], "short\n");
    assert!(err.contains("password") && err.contains("8"), "{err}");
    let err = refused(&["user", "token", "bob"], "");
    assert!(
        err.contains("no user named"),
        "a refused user was half-made: {err}"
    );
    let err = refused(&["user", "passwd", "alice", "--password-stdin"], "alice\n");
    assert!(err.contains("password"), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_exact"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // "alice:s3cret pw" in base64.
    let basic = "Basic YWxpY2U6czNjcmV0IHB3";
    let anonymous = http(port, "GET", "/api/v1/users/users/", None);
    let wrong = http(
        port,
        "GET",
        "/api/v1/users/users/",
        Some("Basic YWxpY2U6bm9wZQ=="),
    );
    let with_basic = http(port, "GET", "/api/v1/users/users/", Some(basic));
    let with_token = http(
        port,
        "GET",
        "/api/v1/users/users/",
        Some(&format!("Bearer {token}")),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(anonymous.contains("\"detail\""), "{anonymous}");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(with_basic.starts_with("HTTP/1.1 200"), "{with_basic}");
    assert!(
        with_basic.contains("\"username\":\"alice\""),
        "{with_basic}"
    );
    assert!(with_token.starts_with("HTTP/1.1 200"), "{with_token}");
}
