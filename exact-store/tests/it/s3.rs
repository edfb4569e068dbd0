//! Blobs in a real S3-protocol server on 127.0.0.1: moto, started by this test when
//! `EXACT_MOTO` names its `moto_server` binary (scripts/test sets it up and exports it).

use exact_core::ErrorKind;
use exact_store::{Exact, ExactConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bare HTTP request; moto accepts unsigned bucket creation.
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test]
async fn blobs_round_trip_through_s3() {
    let Ok(moto) = std::env::var("EXACT_MOTO") else {
        eprintln!("skipped: set EXACT_MOTO to a moto_server binary (scripts/test does)");
        return;
    };
    let port = free_port();
    let _server = Server(
        Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server"),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let created = http(
        port,
        "PUT /exact-blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    // The AWS_* variables are how users configure S3; only this test in the binary reads them.
    #[allow(unsafe_code)] // set_var is unsafe since edition 2024; no other thread reads these.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
        std::env::set_var("AWS_ACCESS_KEY_ID", "exacttest");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "exacttest");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let config = ExactConfig {
        blobs: Some("s3://exact-blobs/lab1".into()),
        ..ExactConfig::memory()
    };
    let exact = Exact::open(config).unwrap();
    let blobs = exact.blobs();
    let data = bytes::Bytes::from(
        (0..100_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    blobs.put("sets/1_2/slide.tif", data.clone()).await.unwrap();
    assert_eq!(blobs.get("sets/1_2/slide.tif").await.unwrap(), data);
    assert_eq!(
        blobs
            .get_range("sets/1_2/slide.tif", 1000..1016)
            .await
            .unwrap(),
        data.slice(1000..1016)
    );
    assert_eq!(
        blobs.size("sets/1_2/slide.tif").await.unwrap(),
        data.len() as u64
    );
    // Keys live under the URL's prefix in the bucket.
    let listing = http(
        port,
        "GET /exact-blobs?list-type=2 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        listing.contains("lab1/sets/1_2/slide.tif") || listing.starts_with("HTTP/1.1 403"),
        "{listing}"
    );
    blobs.delete("sets/1_2/slide.tif").await.unwrap();
    assert_eq!(
        blobs.get("sets/1_2/slide.tif").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
