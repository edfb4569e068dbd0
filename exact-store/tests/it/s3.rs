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

    // Planes from S3: the OME-TIFF fixture (T=3 Z=2 C=2, 16-bit, SubIFD pyramids) as a blob,
    // opened the way the pixel layer opens it (its s3:// URL, ranged GETs); plane z=2 frame=3
    // has the stored samples and composited tiles of the same plane read from the local file.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/data/planes-t3-z2-c2.ome.tif"
    );
    let key = "images/planes/planes.ome.tif";
    blobs
        .put(key, bytes::Bytes::from(std::fs::read(path).unwrap()))
        .await
        .unwrap();
    let url = blobs.object_url(key).unwrap().expect("an s3:// URL");
    assert!(url.starts_with("s3://exact-blobs/lab1/"), "{url}");
    let remote = std::sync::Arc::new(exact_tiles::Slide::open(&url).await.unwrap());
    let local = std::sync::Arc::new(exact_tiles::Slide::open(path).await.unwrap());
    assert_eq!((remote.depth(), remote.frames()), (2, 3));
    let (r, l) = (remote.plane(2, 3).unwrap(), local.plane(2, 3).unwrap());
    for channel in 0..2 {
        for level in 0..r.level_count() {
            let (w, h) = r.level_dimensions()[level];
            let a = r
                .channel_region(channel, level, 0, 0, w as u32, h as u32)
                .await
                .unwrap();
            let b = l
                .channel_region(channel, level, 0, 0, w as u32, h as u32)
                .await
                .unwrap();
            assert_eq!(a, b, "channel {channel} level {level}");
        }
    }
    let (a, b) = (
        r.decoded_tile(0, 1, 1).await.unwrap(),
        l.decoded_tile(0, 1, 1).await.unwrap(),
    );
    assert_eq!(
        a.data, b.data,
        "composited tile (1, 1) of plane z=2 frame=3"
    );
    assert!(remote.plane(3, 1).is_err());
}
