//! Hostile input: see main.rs.
//!
//! Corrupt and hostile slides (issue 10, items 3 and 7, and "zero samples per pixel"): each
//! file is a hand-assembled TIFF (the damage is the point: no real writer makes these), uploaded
//! through the router as EXACT's UI and API do, then viewed as tiles, thumbnails and patches.
//! The render memory budget's 503 is checked against the real binary, whose budget is set by
//! `EXACT_RENDER_MEMORY`.

use crate::kit::Api;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One IFD of a little-endian classic TIFF: RGB 8-bit unless changed.
struct Spec {
    width: u32,
    height: u32,
    spp: u16,
    compression: u16,
    tile: Option<u32>,
    rows_per_strip: u32,
    blocks: Vec<Vec<u8>>,
}

impl Spec {
    fn tiled(width: u32, height: u32, t: u32, compression: u16, block: &[u8]) -> Spec {
        let n = (width.div_ceil(t) * height.div_ceil(t)) as usize;
        Spec {
            width,
            height,
            spp: 3,
            compression,
            tile: Some(t),
            rows_per_strip: height,
            blocks: vec![block.to_vec(); n],
        }
    }

    fn striped(width: u32, height: u32, rows: u32, compression: u16, blocks: Vec<Vec<u8>>) -> Spec {
        Spec {
            width,
            height,
            spp: 3,
            compression,
            tile: None,
            rows_per_strip: rows,
            blocks,
        }
    }

    /// The file; `patch` may rewrite the tile/strip offsets and byte counts first.
    fn build(&self, patch: impl FnOnce(&mut Vec<u32>, &mut Vec<u32>)) -> Vec<u8> {
        let mut out = b"II*\0\0\0\0\0".to_vec();
        let (mut offsets, mut counts) = (Vec::new(), Vec::new());
        for b in &self.blocks {
            offsets.push(out.len() as u32);
            counts.push(b.len() as u32);
            out.extend_from_slice(b);
        }
        patch(&mut offsets, &mut counts);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let mut e: Vec<(u16, u16, Vec<u32>)> = vec![
            (256, 4, vec![self.width]),
            (257, 4, vec![self.height]),
            (258, 3, vec![8; usize::from(self.spp.max(1))]),
            (259, 3, vec![u32::from(self.compression)]),
            (262, 3, vec![2]),
            (277, 3, vec![u32::from(self.spp)]),
            (284, 3, vec![1]),
        ];
        match self.tile {
            Some(t) => e.extend([
                (322, 4, vec![t]),
                (323, 4, vec![t]),
                (324, 4, offsets),
                (325, 4, counts),
            ]),
            None => e.extend([
                (273, 4, offsets),
                (278, 4, vec![self.rows_per_strip]),
                (279, 4, counts),
            ]),
        }
        e.sort_by_key(|x| x.0);
        let ifd = out.len();
        out[4..8].copy_from_slice(&(ifd as u32).to_le_bytes());
        let mut extra_at = ifd + 2 + e.len() * 12 + 4;
        let (mut table, mut extra) = (Vec::new(), Vec::new());
        for (tag, typ, vals) in &e {
            let bytes: Vec<u8> = vals
                .iter()
                .flat_map(|v| match typ {
                    3 => (*v as u16).to_le_bytes().to_vec(),
                    _ => v.to_le_bytes().to_vec(),
                })
                .collect();
            table.extend_from_slice(&tag.to_le_bytes());
            table.extend_from_slice(&typ.to_le_bytes());
            table.extend_from_slice(&(vals.len() as u32).to_le_bytes());
            if bytes.len() <= 4 {
                let mut v = bytes;
                v.resize(4, 0);
                table.extend_from_slice(&v);
            } else {
                table.extend_from_slice(&(extra_at as u32).to_le_bytes());
                extra_at += bytes.len();
                extra.extend_from_slice(&bytes);
            }
        }
        out.extend_from_slice(&(e.len() as u16).to_le_bytes());
        out.extend_from_slice(&table);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&extra);
        out
    }
}

/// zlib's stream of 4,096 zero bytes (Python's `zlib.compress(bytes(4096))`): 29 bytes.
const ZEROS_4096_ZLIB: &str = "789cedc1010d000000c2a0f74f6d0f0714000000f06e10000001";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An uncompressed 256 × 256 RGB tile of one colour.
fn raw_tile(rgb: [u8; 3]) -> Vec<u8> {
    rgb.repeat(256 * 256)
}

fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "exacthostileboundary7";
    let mut body = Vec::new();
    for (name, file, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One request through the router: status, headers and body bytes.
async fn send(
    api: &Api,
    method: &str,
    uri: &str,
    auth: &str,
    body: Option<(String, Vec<u8>)>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "testserver")
        .header(header::AUTHORIZATION, auth);
    let body = match body {
        Some((ct, b)) => {
            req = req.header(header::CONTENT_TYPE, ct);
            Body::from(b)
        }
        None => Body::empty(),
    };
    let res = api
        .app
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, headers, bytes)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

/// Upload `bytes` as `name` through EXACT's UI route and through the REST API; both answers.
async fn upload_both(
    api: &Api,
    auth: &str,
    set: u64,
    name: &str,
    bytes: &[u8],
) -> (Value, (StatusCode, Value)) {
    let (s, _, b) = send(
        api,
        "POST",
        &format!("/images/image/upload/{set}/"),
        auth,
        Some(multipart(&[("files[]", Some(name), bytes)])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let ui = json_of(&b);
    let set_s = set.to_string();
    let (s, _, b) = send(
        api,
        "POST",
        "/api/v1/images/images/",
        auth,
        Some(multipart(&[
            ("image_set", None, set_s.as_bytes()),
            ("file_path", Some(name), bytes),
        ])),
    )
    .await;
    (ui, (s, json_of(&b)))
}

/// A user with a set of their own (the kit's world also registers a metadata-only image).
async fn owner(api: &Api, name: &str) -> (String, u64) {
    let auth = api.user(name, false);
    let (_, set, _, _) = api.world(&auth, name).await;
    (auth, set)
}

async fn image_names(api: &Api, auth: &str, set: u64) -> Vec<String> {
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/?image_set={set}&limit=100"),
            auth,
            None,
        )
        .await;
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Blob files the store holds under `images/` (uploads and their directories).
async fn upload_blobs(api: &Api) -> usize {
    use futures::StreamExt;
    let (store, _) = api.exact.blobs().object_store();
    let prefix = object_store::path::Path::from("images");
    store.list(Some(&prefix)).collect::<Vec<_>>().await.len()
}

/// Refused on both upload routes with a 400-class reason containing `expect`, and nothing
/// of it left: no image in the set, no blob.
async fn assert_refused(api: &Api, auth: &str, set: u64, name: &str, bytes: &[u8], expect: &str) {
    let before = image_names(api, auth, set).await;
    let blobs = upload_blobs(api).await;
    let (ui, (status, v)) = upload_both(api, auth, set, name, bytes).await;
    let f = &ui["files"][0];
    assert_eq!(f["id"], -1, "{ui}");
    let err = f["error"].as_str().unwrap();
    assert!(err.contains(expect), "{err}");
    assert!(
        !err.contains("/tmp") && !err.contains("blobs/"),
        "server path in {err}"
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains(expect), "{v}");
    assert_eq!(image_names(api, auth, set).await, before);
    assert_eq!(
        upload_blobs(api).await,
        blobs,
        "a refused upload left files"
    );
}

/// Issue 10 item 3: a TIFF whose tile offsets point past the end of the file was accepted as
/// `ready`, then every view of it was a 500. It is refused at upload, naming the tile.
#[tokio::test]
async fn tile_offsets_past_the_end_are_refused_at_upload() {
    let api = Api::new();
    let (auth, set) = owner(&api, "offsets").await;
    let b = Spec::tiled(512, 512, 256, 1, &raw_tile([10, 20, 30])).build(|off, _| {
        off[2] = 0x7fff_0000;
    });
    assert_refused(&api, &auth, set, "far.tif", &b, "past the end of the file").await;
    // the byte counts reaching past the end are the same damage
    let b = Spec::tiled(512, 512, 256, 1, &raw_tile([10, 20, 30])).build(|_, cnt| {
        cnt[3] *= 4;
    });
    assert_refused(&api, &auth, set, "long.tif", &b, "tile 3").await;
}

/// Issue 10 item 3: a tile that fails to decode later is a 422 with the reason (never a 500),
/// for Deep Zoom tiles on both grids, thumbnails and patches.
#[tokio::test]
async fn a_tile_that_does_not_decode_is_422_with_the_reason() {
    let api = Api::new();
    let (auth, set) = owner(&api, "garbage").await;
    // Deflate tiles of plausible size whose bytes are not a zlib stream.
    let b = Spec::tiled(512, 512, 256, 8, &[0xFF; 1000]).build(|_, _| {});
    let (ui, (status, v)) = upload_both(&api, &auth, set, "garbage.tif", &b).await;
    assert!(ui["files"][0]["id"].as_u64().is_some(), "{ui}");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = ui["files"][0]["id"].as_u64().unwrap();
    for uri in [
        format!("/images/image/{id}/1/1/tile_files/9/0_0.jpeg"),
        format!("/images/image/{id}/1/1/tile_files/3/0_0.jpeg"),
        format!("/api/v1/images/images/{id}/native_files/9/1_1.jpeg"),
        format!("/api/v1/images/images/{id}/native_files/8/0_0.png"),
        format!("/api/v1/images/images/{id}/thumbnail/"),
        format!("/api/v1/images/images/{id}/get_patch/?x=10&y=10&width=300&height=300"),
    ] {
        let (s, h, b) = send(&api, "GET", &uri, &auth, None).await;
        assert_eq!(
            s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {}",
            String::from_utf8_lossy(&b)
        );
        assert_eq!(h[header::CONTENT_TYPE], "application/json", "{uri}");
        let detail = json_of(&b)["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("damaged") && detail.contains("Deflate"),
            "{uri}: {detail}"
        );
        assert!(!detail.contains("blob"), "{uri}: server path in {detail}");
    }
}

/// Issue 10, minor: a TIFF with zero samples per pixel is refused at upload (400, nothing
/// left behind).
#[tokio::test]
async fn zero_samples_per_pixel_is_refused_at_upload() {
    let api = Api::new();
    let (auth, set) = owner(&api, "spp").await;
    let mut spec = Spec::tiled(256, 256, 256, 1, &raw_tile([1, 2, 3]));
    spec.spp = 0;
    assert_refused(
        &api,
        &auth,
        set,
        "spp0.tif",
        &spec.build(|_, _| {}),
        "0 samples per pixel",
    )
    .await;
}

/// Issue 10 item 7: a 33 KB TIFF declaring 16,384 × 16,384 pixels made each low-zoom tile
/// decode 768 MB. Declared sizes are checked against the bytes present: refused at upload.
#[tokio::test]
async fn a_tiny_file_declaring_a_huge_image_is_refused_at_upload() {
    let api = Api::new();
    let (auth, set) = owner(&api, "tiny").await;
    let strip = unhex(ZEROS_4096_ZLIB);
    let b = Spec::striped(16384, 16384, 512, 8, vec![strip; 32]).build(|_, _| {});
    assert!(b.len() < 34_000, "{}", b.len());
    assert_refused(&api, &auth, set, "tiny16k.tif", &b, "expands at most 1032").await;
    // every tile pointing at the same stored bytes: plausible one by one, not as a whole
    let mut spec = Spec::tiled(16384, 16384, 256, 1, &[]);
    spec.blocks[0] = raw_tile([9, 9, 9]);
    let b = spec.build(|off, cnt| {
        let (o, c) = (off[0], cnt[0]);
        off.iter_mut().for_each(|x| *x = o);
        cnt.iter_mut().for_each(|x| *x = c);
    });
    assert_refused(&api, &auth, set, "shared.tif", &b, "share their bytes").await;
}

/// Issue 10 item 7: a large single-level image (8,192² pixels; one strip of content, the rest
/// sparse) is accepted, and its low-zoom tiles, which cover the whole level, are reduced as
/// the strips decode instead of composing 200 MB: they answer, with the right pixels.
#[tokio::test]
async fn low_zoom_tiles_of_a_large_single_level_image_are_reduced() {
    let api = Api::new();
    let (auth, set) = owner(&api, "large").await;
    let (w, h, rows) = (8192u32, 8192u32, 64u32);
    let mut blocks = vec![Vec::new(); (h / rows) as usize];
    for b in &mut blocks[..8] {
        *b = [0u8, 0, 255].repeat((w * rows) as usize); // a blue band along the top
    }
    let b = Spec::striped(w, h, rows, 1, blocks).build(|_, _| {});
    let (ui, _) = upload_both(&api, &auth, set, "large.tif", &b).await;
    let id = ui["files"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{ui}"));
    let (s, hd, jpeg) = send(
        &api,
        "GET",
        &format!("/api/v1/images/images/{id}/native_files/6/0_0.jpeg"),
        &auth,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&jpeg));
    assert_eq!(hd[header::CONTENT_TYPE], "image/jpeg");
    let img = exact_tiles::codec::decode_jpeg_stream(&jpeg, 64, 64, false).unwrap();
    assert_eq!((img.width, img.height), (64, 64));
    // top row: mostly the blue band; the middle: white (sparse strips are background)
    let px = |x: u32, y: u32| &img.data[((y * img.width + x) * 3) as usize..][..3];
    assert!(px(32, 0)[2] > 200 && px(32, 0)[0] < 80, "{:?}", px(32, 0));
    assert!(px(32, 40).iter().all(|&v| v >= 250), "{:?}", px(32, 40));
    for level in 0..8 {
        let (s, _, b) = send(
            &api,
            "GET",
            &format!("/images/image/{id}/1/1/tile_files/{level}/0_0.jpeg"),
            &auth,
            None,
        )
        .await;
        assert_eq!(
            s,
            StatusCode::OK,
            "level {level}: {}",
            String::from_utf8_lossy(&b)
        );
    }
    let (s, _, _) = send(
        &api,
        "GET",
        &format!("/api/v1/images/images/{id}/thumbnail/"),
        &auth,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

/// One HTTP/1.1 request to a real server: status, head, body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<(&str, &[u8])>,
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let (ct, b) = body.unwrap_or(("application/json", b""));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
         Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        b.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, out[split + 4..].to_vec())
}

/// Issue 10 item 7: renders are limited by a memory budget (`EXACT_RENDER_MEMORY`); a render
/// that does not fit while others hold it answers 503 with `Retry-After` and a JSON reason,
/// and succeeds when retried. Against the real binary with a 1 MiB budget, so that any two
/// renders at once exceed it.
#[test]
fn renders_beyond_the_memory_budget_answer_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    /// The server, killed when the test ends (or fails).
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Server(
        std::process::Command::new(env!("CARGO_BIN_EXE_exact"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("EXACT_ADMIN_PASSWORD", "budget-secret")
            .env("EXACT_RENDER_MEMORY", "1M")
            .env_remove("EXACT_DATA")
            .env_remove("EXACT_META")
            .env_remove("EXACT_BLOBS")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed().as_secs() < 60, "server did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let auth = crate::kit::basic("exact", "budget-secret");
    let post = |path: &str, v: Value| {
        let body = v.to_string();
        let (s, _, b) = http(
            port,
            "POST",
            path,
            &auth,
            Some(("application/json", body.as_bytes())),
        );
        assert!(s < 300, "{path}: {s} {}", String::from_utf8_lossy(&b));
        json_of(&b)["id"].as_u64().unwrap()
    };
    let team = post(
        "/api/v1/users/teams/",
        serde_json::json!({"name": "budget", "image_sets": [], "product_set": []}),
    );
    let set = post(
        "/api/v1/images/image_sets/",
        serde_json::json!({"name": "budget set", "team": team, "images": [], "set_tags": []}),
    );
    // 2048² in uncompressed 256-pixel tiles of varied colours.
    let mut spec = Spec::tiled(2048, 2048, 256, 1, &[]);
    for (i, b) in spec.blocks.iter_mut().enumerate() {
        *b = raw_tile([(i * 37) as u8, (i * 11) as u8, 128]);
    }
    let (ct, body) = multipart(&[("files[]", Some("budget.tif"), &spec.build(|_, _| {}))]);
    let (s, _, b) = http(
        port,
        "POST",
        &format!("/images/image/upload/{set}/"),
        &auth,
        Some((&ct, &body)),
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let id = json_of(&b)["files"][0]["id"].as_u64().unwrap();

    // Distinct tiles of EXACT's grid at once: each render needs more than the 1 MiB budget,
    // so it runs alone and the others that arrive meanwhile are told to retry.
    let tiles: Vec<String> = (0..4u32)
        .flat_map(|c| {
            (0..4u32).map(move |r| format!("/images/image/{id}/1/1/tile_files/10/{c}_{r}.jpeg"))
        })
        .collect();
    let answers: Vec<(String, u16, String, Vec<u8>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = tiles
            .iter()
            .map(|t| {
                let auth = &auth;
                sc.spawn(move || {
                    let (s, h, b) = http(port, "GET", t, auth, None);
                    (t.clone(), s, h, b)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let busy: Vec<_> = answers.iter().filter(|a| a.1 == 503).collect();
    for (t, s, head, b) in &answers {
        assert!(
            *s == 200 || *s == 503,
            "{t}: {s} {}",
            String::from_utf8_lossy(b)
        );
        if *s == 503 {
            assert!(
                head.to_ascii_lowercase().contains("retry-after: 1"),
                "{head}"
            );
            let detail = json_of(b)["detail"].as_str().unwrap().to_owned();
            assert!(detail.contains("render memory budget"), "{detail}");
        }
    }
    assert!(
        !busy.is_empty(),
        "16 simultaneous renders never exceeded a 1 MiB budget"
    );
    // told to retry: it then succeeds
    let (s, _, b) = http(port, "GET", &busy[0].0, &auth, None);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
}

/// The tiles task: native tiles are kept in memory once sent, and a kept tile is answered only
/// after the request's permission check — same bytes and validator as the first answer, a 304
/// for its `ETag`, nothing for an outsider or an anonymous client, nothing once the image is
/// deleted.
#[tokio::test]
async fn native_tiles_kept_in_memory_are_answered_only_after_the_permission_check() {
    let api = Api::new();
    let (auth, set) = owner(&api, "memory").await;
    let outsider = api.user("outsider", false);
    let svs = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/data/CMU-1-Small-Region.svs"
    ))
    .unwrap();
    let (ui, _) = upload_both(&api, &auth, set, "cmu.svs", &svs).await;
    let id = ui["files"][0]["id"].as_u64().unwrap();
    let metric = |text: &[u8], name: &str| -> u64 {
        let text = String::from_utf8_lossy(text);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    // The native grid's top level is the slide's level 0 (240 px JPEG tiles): passthrough.
    let uri = format!("/api/v1/images/images/{id}/native_files/12/3_2.jpeg");
    let (s, h1, first) = send(&api, "GET", &uri, &auth, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(first.starts_with(&[0xFF, 0xD8]));
    let (_, _, m) = send(&api, "GET", "/metrics", &auth, None).await;
    let hits = metric(&m, "exact_tiles_memory_hits_total");
    let (s, h2, second) = send(&api, "GET", &uri, &auth, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(second, first);
    assert_eq!(h2[header::ETAG], h1[header::ETAG]);
    assert_eq!(
        h2[header::CONTENT_LENGTH].to_str().unwrap(),
        first.len().to_string()
    );
    let (_, _, m) = send(&api, "GET", "/metrics", &auth, None).await;
    assert_eq!(metric(&m, "exact_tiles_memory_hits_total"), hits + 1);
    let req = Request::builder()
        .uri(&uri)
        .header(header::AUTHORIZATION, &auth)
        .header(header::IF_NONE_MATCH, h1[header::ETAG].clone())
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[header::ETAG], h1[header::ETAG]);
    // Kept or not, the tile is checked for every requester first.
    let (s, _, body) = send(&api, "GET", &uri, &outsider, None).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (s, _, _) = send(&api, "GET", &uri, "Basic bm9ib2R5Ondyb25n", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let req = Request::builder().uri(&uri).body(Body::empty()).unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (s, _, _) = send(
        &api,
        "DELETE",
        &format!("/api/v1/images/images/{id}/"),
        &auth,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = send(&api, "GET", &uri, &auth, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, m) = send(&api, "GET", "/metrics", &auth, None).await;
    assert_eq!(metric(&m, "exact_tiles_memory_hits_total"), hits + 1);
}

/// Issue 11: a kept tile answered before routing (the tile fast path) stops for a revoked
/// token within the tile path's grant bound (`ACCESS_TTL`, 2 s) like any other tile, and a
/// grant is per credential: another user's token never rides on it.
#[tokio::test]
async fn a_revoked_token_loses_kept_tiles_within_the_grant_bound() {
    let api = Api::new();
    let (auth, set) = owner(&api, "revoked").await;
    let svs = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/data/CMU-1-Small-Region.svs"
    ))
    .unwrap();
    let (ui, _) = upload_both(&api, &auth, set, "cmu.svs", &svs).await;
    let id = ui["files"][0]["id"].as_u64().unwrap();
    let v = api
        .ok(
            "POST",
            "/users/api/tokens/",
            &auth,
            Some(serde_json::json!({"name": "viewer"})),
        )
        .await;
    let token = format!("Token {}", v["token"].as_str().unwrap());
    let outsider = api.user("outsider", false);
    let uri = format!("/api/v1/images/images/{id}/native_files/12/3_2.jpeg");
    for _ in 0..2 {
        // the second answer comes from memory
        let (s, _, b) = send(&api, "GET", &uri, &token, None).await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    }
    let (s, _, _) = send(&api, "GET", &uri, &outsider, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.ok(
        "POST",
        &format!("/users/api/tokens/{}/revoke/", v["id"]),
        &auth,
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (s, _, b) = send(&api, "GET", &uri, &token, None).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&b)
    );
    // The owner's own credential still reads it.
    let (s, _, _) = send(&api, "GET", &uri, &auth, None).await;
    assert_eq!(s, StatusCode::OK);
}
