//! The server side of the browser UI, driven through a real listener: live annotation events
//! (server-sent events: team scoping, competitive sets, `Last-Event-ID` resume) and the
//! annotation overview tiles (pixels where annotations are, transparent elsewhere, ETag and
//! generation changing with writes).

mod kit;

use kit::Api;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use exact_core::UserId;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// The router of `api` served on 127.0.0.1, port chosen by the OS.
async fn serve(api: &Api) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api.app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
struct Ev {
    id: Option<String>,
    event: String,
    data: String,
}

impl Ev {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }
}

/// A raw HTTP/1.1 client reading a chunked `text/event-stream`.
struct Stream {
    tcp: TcpStream,
    raw: Vec<u8>,
    text: String,
    status: u16,
    head: String,
}

impl Stream {
    async fn open(addr: SocketAddr, path: &str, auth: &str, extra: &[(&str, &str)]) -> Stream {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nAccept: text/event-stream\r\n"
        );
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut s = Stream {
            tcp,
            raw: Vec::new(),
            text: String::new(),
            status: 0,
            head: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(end) = s.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                s.head = String::from_utf8_lossy(&s.raw[..end]).into_owned();
                s.status = s.head[9..12].parse().unwrap();
                s.raw.drain(..end + 4);
                break;
            }
            assert!(s.read(deadline).await, "no response head");
        }
        s
    }

    /// Reads more bytes until `deadline`; false on timeout or end of stream.
    async fn read(&mut self, deadline: Instant) -> bool {
        let mut buf = [0u8; 8192];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            _ => false,
        }
    }

    /// Moves complete chunks of the chunked body into `text`.
    fn dechunk(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_line = String::from_utf8_lossy(&self.raw[..eol]).into_owned();
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            let chunk = self.raw[eol + 2..eol + 2 + size].to_vec();
            self.text.push_str(&String::from_utf8_lossy(&chunk));
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    /// The next event (comments skipped) within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Ev> {
        let deadline = Instant::now() + wait;
        loop {
            self.dechunk();
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut ev = Ev {
                    event: "message".into(),
                    ..Default::default()
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_owned());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
            }
            if !self.read(deadline).await {
                return None;
            }
        }
    }
}

fn user_id(api: &Api, name: &str) -> UserId {
    api.exact.users().by_username(name).unwrap().unwrap().id
}

/// Adds `member` to `team` as a plain member, on behalf of the team's admin `admin`.
fn join(api: &Api, admin: &str, team: u64, member: &str) {
    let actor = api.exact.actor(user_id(api, admin)).unwrap();
    api.exact
        .teams()
        .add_member(
            &actor,
            exact_core::TeamId(team),
            user_id(api, member),
            false,
        )
        .unwrap();
}

fn new_box(kind: u64, image: u64, x: u64, y: u64) -> Value {
    json!({"annotation_type": kind, "image": image,
           "vector": {"x1": x, "y1": y, "x2": x + 40, "y2": y + 30}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_members_see_create_update_delete_live_and_other_teams_do_not() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let carol = api.user("carol", false);
    let (team, _, kind, image) = api.world(&alice, "lab").await;
    let (_, _, _, carols_image) = api.world(&carol, "other lab").await;
    join(&api, "alice", team, "bob");
    let addr = serve(&api).await;

    let path = format!("/api/v1/events/?image={image}");
    // Carol cannot see the image: 404 with JSON, as for every read.
    let denied = Stream::open(addr, &path, &carol, &[]).await;
    assert_eq!(denied.status, 404, "{}", denied.head);
    let missing = Stream::open(addr, "/api/v1/events/", &bob, &[]).await;
    assert_eq!(missing.status, 400, "{}", missing.head);

    let mut bobs = Stream::open(addr, &path, &bob, &[]).await;
    assert_eq!(bobs.status, 200, "{}", bobs.head);
    assert!(
        bobs.head.to_ascii_lowercase().contains("text/event-stream"),
        "{}",
        bobs.head
    );
    let mut carols = Stream::open(
        addr,
        &format!("/api/v1/events/?image={carols_image}"),
        &carol,
        &[],
    )
    .await;
    assert_eq!(carols.status, 200);

    let started = Instant::now();
    let a = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &alice,
            Some(new_box(kind, image, 100, 100)),
        )
        .await;
    let ev = bobs
        .next(Duration::from_secs(2))
        .await
        .expect("created event");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(ev.event, "annotation");
    let v = ev.json();
    assert_eq!(v["op"], "created", "{v}");
    assert_eq!(v["image"], image);
    assert_eq!(v["annotation"]["id"], a["id"]);
    assert_eq!(v["annotation"]["vector"], a["vector"]);
    assert_eq!(v["annotation"]["verified_by_user"], false);
    assert_eq!(v["user"]["username"], "alice");
    assert!(
        v["time"].as_str().is_some_and(|t| t.starts_with("20")),
        "{v}"
    );
    let first_id: u64 = ev.id.unwrap().parse().unwrap();

    let id = a["id"].as_u64().unwrap();
    api.ok(
        "PATCH",
        &format!("/api/v1/annotations/annotations/{id}/"),
        &alice,
        Some(json!({"vector": {"x1": 10, "y1": 10, "x2": 20, "y2": 20}})),
    )
    .await;
    let ev = bobs
        .next(Duration::from_secs(2))
        .await
        .expect("updated event");
    let v = ev.json();
    assert_eq!(v["op"], "updated", "{v}");
    assert_eq!(v["annotation"]["vector"]["x2"], 20);
    assert!(ev.id.unwrap().parse::<u64>().unwrap() > first_id);

    // The viewer deletes with EXACT's visible soft delete (PATCH deleted=true), which polling
    // clients see below; a DELETE (trash) is announced live the same way.
    let (s, _) = api
        .call(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{id}/"),
            Some(&alice),
            Some(json!({"deleted": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v = bobs
        .next(Duration::from_secs(2))
        .await
        .expect("deleted event")
        .json();
    assert_eq!(v["op"], "deleted", "{v}");
    assert_eq!(v["annotation"]["id"], id);
    assert_eq!(v["annotation"]["annotation_type"], kind);
    assert!(v["annotation"]["vector"].is_object(), "{v}");

    // Bulk creates arrive one event per annotation.
    let bulk: Vec<Value> = (0..3)
        .map(|i| new_box(kind, image, 500 + i * 50, 500))
        .collect();
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &bob,
        Some(Value::Array(bulk)),
    )
    .await;
    for _ in 0..3 {
        let v = bobs
            .next(Duration::from_secs(2))
            .await
            .expect("bulk")
            .json();
        assert_eq!(v["op"], "created");
        assert_eq!(v["user"]["username"], "bob");
    }

    // Nothing of all this reached the other team's stream.
    assert!(carols.next(Duration::from_millis(300)).await.is_none());

    // The polling fallback lists the changed annotations, the deleted one included.
    let since = "2000-01-01T00:00:00";
    let listed = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={image}&last_edit_time__gte={since}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(listed["count"], 4, "{listed}");
    assert!(
        listed["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id && a["deleted"] == true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competitive_sets_deliver_only_what_the_member_may_see() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (team, set, kind, image) = api.world(&alice, "contest").await;
    join(&api, "alice", team, "bob");
    api.ok(
        "PATCH",
        &format!("/api/v1/images/image_sets/{set}/"),
        &alice,
        Some(json!({"collaboration_type": 1})),
    )
    .await;
    let addr = serve(&api).await;
    let path = format!("/api/v1/events/?image={image}");
    let mut bobs = Stream::open(addr, &path, &bob, &[]).await;
    let mut alices = Stream::open(addr, &path, &alice, &[]).await;
    assert_eq!((bobs.status, alices.status), (200, 200));

    let theirs = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &alice,
            Some(new_box(kind, image, 10, 10)),
        )
        .await;
    let mine = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &bob,
            Some(new_box(kind, image, 300, 300)),
        )
        .await;
    // Bob only hears of his own annotation.
    let v = bobs.next(Duration::from_secs(2)).await.expect("own").json();
    assert_eq!(v["annotation"]["id"], mine["id"], "{v}");
    assert!(bobs.next(Duration::from_millis(300)).await.is_none());
    // Alice created the set's team: she sees everything.
    let seen: Vec<Value> = [
        alices.next(Duration::from_secs(2)).await.expect("1").json(),
        alices.next(Duration::from_secs(2)).await.expect("2").json(),
    ]
    .into();
    assert_eq!(seen[0]["annotation"]["id"], theirs["id"]);
    assert_eq!(seen[1]["annotation"]["id"], mine["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_and_unknown_ids_reset() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&alice, "lab").await;
    let addr = serve(&api).await;
    let path = format!("/api/v1/events/?image={image}");
    let mut first = Stream::open(addr, &path, &alice, &[]).await;
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &alice,
        Some(new_box(kind, image, 1, 1)),
    )
    .await;
    let seen = first.next(Duration::from_secs(2)).await.expect("first");
    let last = seen.id.clone().unwrap();
    drop(first);

    let mut made = Vec::new();
    for x in [100, 200] {
        made.push(
            api.ok(
                "POST",
                "/api/v1/annotations/annotations/",
                &alice,
                Some(new_box(kind, image, x, x)),
            )
            .await["id"]
                .clone(),
        );
    }
    // Resumed by header (what EventSource sends on reconnect): the two missed ones, in order.
    let mut resumed = Stream::open(addr, &path, &alice, &[("Last-Event-ID", last.as_str())]).await;
    for id in &made {
        let v = resumed
            .next(Duration::from_secs(2))
            .await
            .expect("replay")
            .json();
        assert_eq!(&v["annotation"]["id"], id, "{v}");
    }
    assert!(resumed.next(Duration::from_millis(200)).await.is_none());
    // And by query parameter.
    let mut by_query =
        Stream::open(addr, &format!("{path}&last_event_id={last}"), &alice, &[]).await;
    let v = by_query
        .next(Duration::from_secs(2))
        .await
        .expect("q")
        .json();
    assert_eq!(v["annotation"]["id"], made[0]);

    // An id the server no longer (or never) knew: reset, the client reloads its viewport.
    let mut stale = Stream::open(addr, &path, &alice, &[("Last-Event-ID", "1")]).await;
    let ev = stale.next(Duration::from_secs(2)).await.expect("reset");
    assert_eq!(ev.event, "reset", "{ev:?}");
    let bad = Stream::open(addr, &path, &alice, &[("Last-Event-ID", "yesterday")]).await;
    assert_eq!(bad.status, 400);
}

// ---- overview tiles ----

/// A PNG picture of `w × h` (RGB, mid grey), written by the `image` crate.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut img = exact_tiles::Image::new(w, h, 3);
    img.data.iter_mut().for_each(|b| *b = 200);
    img.encode_png().unwrap()
}

/// Uploads a picture to `set` and waits until its pyramid is ready; returns the image id.
async fn upload(api: &Api, auth: &str, set: u64, w: u32, h: u32) -> u64 {
    let boundary = "XbOuNdArYx";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\"slide.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend(png(w, h));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let req = Request::builder()
        .method("POST")
        .uri(format!("/images/image/upload/{set}/"))
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
    let v: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(status.is_success(), "{status} {v}");
    let id = v["files"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{v}"));
    // A router converts nothing itself: the store's worker does (as `exact serve` starts it).
    let _worker = exact_store::ConversionWorker::start(&api.exact).ok();
    let start = Instant::now();
    loop {
        let (s, _, _) = raw(
            api,
            &format!("/api/v1/images/images/{id}/native.dzi"),
            auth,
            None,
        )
        .await;
        if s == StatusCode::OK {
            return id;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never converted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A GET through the router: status, headers and body bytes.
async fn raw(
    api: &Api,
    uri: &str,
    auth: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .uri(uri)
        .header(header::HOST, "testserver")
        .header(header::AUTHORIZATION, auth);
    if let Some(t) = if_none_match {
        req = req.header(header::IF_NONE_MATCH, t);
    }
    let res = api
        .app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    (
        s,
        h,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// A decoded RGBA tile.
struct Tile {
    w: u32,
    data: Vec<u8>,
}

impl Tile {
    fn decode(bytes: &[u8]) -> Tile {
        let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
            .unwrap()
            .to_rgba8();
        Tile {
            w: img.width(),
            data: img.into_raw(),
        }
    }
    fn px(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.w + x) * 4) as usize;
        self.data[i..i + 4].try_into().unwrap()
    }
    /// Whether any pixel of the square of `r` around `(x, y)` is drawn.
    fn drawn_near(&self, x: u32, y: u32, r: u32) -> bool {
        let h = self.data.len() as u32 / 4 / self.w;
        (y.saturating_sub(r)..(y + r + 1).min(h)).any(|yy| {
            (x.saturating_sub(r)..(x + r + 1).min(self.w)).any(|xx| self.px(xx, yy)[3] > 0)
        })
    }
    fn empty(&self) -> bool {
        self.data.chunks(4).all(|p| p[3] == 0)
    }
}

fn dzi_attr(dzi: &str, name: &str) -> u64 {
    let at = dzi.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    dzi[at..].split('"').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_tiles_show_annotations_and_follow_writes() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let carol = api.user("carol", false);
    let (team, set, kind, _) = api.world(&alice, "lab").await;
    api.world(&carol, "other").await;
    let image = upload(&api, &alice, set, 2048, 1536).await;
    let base = format!("/api/v1/images/images/{image}");

    // Same geometry as native.dzi, PNG tiles.
    let (s, _, native) = raw(&api, &format!("{base}/native.dzi"), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, h, dzi) = raw(&api, &format!("{base}/annotation_tiles.dzi"), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    let (native, dzi) = (
        String::from_utf8(native).unwrap(),
        String::from_utf8(dzi).unwrap(),
    );
    for attr in ["Width", "Height", "TileSize", "Overlap"] {
        assert_eq!(dzi_attr(&native, attr), dzi_attr(&dzi, attr), "{attr}");
    }
    assert!(dzi.contains("Format=\"png\""), "{dzi}");
    let gen0: u64 = h["x-annotation-generation"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (s, _, _) = raw(&api, &format!("{base}/annotation_tiles.dzi"), &carol, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let ts = dzi_attr(&dzi, "TileSize") as u32;
    // The full-resolution level (the last one): 2048 = 2^11, so levels 0..=11.
    let top = 11;
    let lowest = |d: u32| top - d.trailing_zeros() as usize;

    // One box, drawn as an outline at full resolution.
    let a = api
        .ok(
            "POST",
            "/api/v1/annotations/annotations/",
            &alice,
            Some(json!({"annotation_type": kind, "image": image,
                         "vector": {"x1": 100, "y1": 100, "x2": 300, "y2": 250}})),
        )
        .await;
    let tile = |level: usize, col: u32, row: u32| {
        format!("{base}/annotation_tiles_files/{level}/{col}_{row}.png")
    };
    let (s, h, body) = raw(&api, &tile(top, 0, 0), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/png");
    assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");
    let gen1: u64 = h["x-annotation-generation"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(gen0, gen1, "a write changes the generation");
    let etag1 = h[header::ETAG].to_str().unwrap().to_owned();
    let t = Tile::decode(&body);
    assert!(ts >= 256, "tile size {ts}");
    assert_eq!(
        t.px(100, 175),
        [255, 0, 0, 255],
        "left edge of the box, in #FF0000"
    );
    assert_eq!(t.px(200, 175)[3], 0, "inside the outline is transparent");
    assert_eq!(t.px(20, 20)[3], 0, "away from it too");

    // Unchanged: 304 on revalidation.
    let (s, h, _) = raw(&api, &tile(top, 0, 0), &alice, Some(&etag1)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert_eq!(h[header::ETAG].to_str().unwrap(), etag1);

    // A filter on another type leaves the tile empty.
    let (_, _, body) = raw(
        &api,
        &format!("{}?types={}", tile(top, 0, 0), kind + 1000),
        &alice,
        None,
    )
    .await;
    assert!(Tile::decode(&body).empty());
    let (s, _, body) = raw(&api, &format!("{}?types=x", tile(top, 0, 0)), &alice, None).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (s, _, _) = raw(&api, &tile(top, 99, 0), &alice, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = raw(&api, &tile(top, 0, 0), &carol, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Many small annotations in one corner: at the overview levels they are density marks.
    let many: Vec<Value> = (0..4500u64)
        .map(|i| {
            let (x, y) = (1500 + (i % 75) * 6, 1100 + (i / 75) * 6);
            json!({"annotation_type": kind, "image": image,
                   "vector": {"x1": x, "y1": y, "x2": x + 3, "y2": y + 3}})
        })
        .collect();
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &alice,
        Some(Value::Array(many)),
    )
    .await;
    let (s, h, body) = raw(&api, &tile(top, 0, 0), &alice, Some(&etag1)).await;
    assert_eq!(s, StatusCode::OK, "the old ETag no longer matches");
    assert_ne!(h[header::ETAG].to_str().unwrap(), etag1);
    let _ = body;
    // Level with 1/16 of the resolution: 128 × 96 px, one tile.
    let d = 16;
    let (s, _, body) = raw(&api, &tile(lowest(d), 0, 0), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    let t = Tile::decode(&body);
    assert!(
        t.drawn_near(1700 / d, 1250 / d, 1),
        "the dense corner is marked"
    );
    assert!(t.drawn_near(100 / d, 175 / d, 1), "the box is still shown");
    assert_eq!(
        t.px(1000 / d, 600 / d)[3],
        0,
        "empty areas stay transparent"
    );
    assert_eq!(t.px(20 / d, 1400 / d)[3], 0);

    // Deleting the box updates the overview in place.
    let id = a["id"].as_u64().unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/annotations/{id}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, body) = raw(&api, &tile(lowest(d), 0, 0), &alice, None).await;
    let t = Tile::decode(&body);
    assert!(
        !t.drawn_near(100 / d, 175 / d, 1),
        "the deleted box is gone"
    );
    assert!(t.drawn_near(1700 / d, 1250 / d, 1));
    let (_, h, body) = raw(
        &api,
        &format!("{base}/annotation_tiles/generation"),
        &alice,
        None,
    )
    .await;
    assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");

    // A URL naming the current generation and the requester's key is cached for good; a stale
    // generation, another user's key or none at all is revalidated as before.
    let v: Value = serde_json::from_slice(&body).unwrap();
    let (g, k) = (
        v["generation"].as_u64().unwrap(),
        v["key"].as_str().unwrap(),
    );
    let versioned = |g: u64, k: &str| format!("{}?v={g}&k={k}", tile(top, 0, 0));
    let (s, h, _) = raw(&api, &versioned(g, k), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h[header::CACHE_CONTROL],
        "private, max-age=604800, immutable"
    );
    let (_, h, _) = raw(&api, &versioned(gen0, k), &alice, None).await;
    assert_eq!(h[header::CACHE_CONTROL], "private, no-cache");
    let bob = api.user("bob", false);
    join(&api, "alice", team, "bob");
    let (_, hb, body) = raw(
        &api,
        &format!("{base}/annotation_tiles/generation"),
        &bob,
        None,
    )
    .await;
    let kb: Value = serde_json::from_slice(&body).unwrap();
    assert_ne!(kb["key"].as_str().unwrap(), k, "{hb:?}: keys are per user");
    let (_, h, _) = raw(&api, &versioned(g, k), &bob, None).await;
    assert_eq!(
        h[header::CACHE_CONTROL],
        "private, no-cache",
        "not bob's key"
    );
}

// ---- the change hook below the server ----

/// Records every notification: (op, actor, annotation ids).
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(exact_core::catalog::ChangeOp, UserId, Vec<u64>)>>);

impl exact_core::catalog::ChangeSink for Recorder {
    fn annotations_changed(&self, c: &exact_core::catalog::AnnotationsChanged<'_>) {
        self.0.lock().unwrap().push((
            c.op,
            c.actor,
            c.annotations.iter().map(|a| a.id.0).collect(),
        ));
    }
}

#[tokio::test]
async fn every_annotation_write_of_the_library_notifies_once_after_commit() {
    use exact_core::catalog::{AnnotationPatch, ChangeOp, ChangeSink, NewAnnotation};
    use exact_core::{AnnotationTypeId, ImageId, Vector};
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&alice, "lab").await;
    let rec = std::sync::Arc::new(Recorder::default());
    let sink: std::sync::Arc<dyn ChangeSink> = rec.clone();
    // A clone of the handle shares the registration.
    let exact = api.exact.clone();
    exact.catalog().add_change_sink(&sink);
    let me = user_id(&api, "alice");
    let actor = api.exact.actor(me).unwrap();
    let new = |x: f64| {
        NewAnnotation::new(
            AnnotationTypeId(kind),
            ImageId(image),
            Some(Vector::rect(x, x, x + 10.0, x + 10.0)),
        )
    };
    let a = api.exact.annotations().create(&actor, new(1.0)).unwrap();
    let many = api
        .exact
        .annotations()
        .create_many(&actor, vec![new(50.0), new(90.0)])
        .unwrap();
    api.exact
        .annotations()
        .update(
            &actor,
            a.id,
            AnnotationPatch {
                description: Some("checked".into()),
                ..Default::default()
            },
        )
        .unwrap();
    api.exact.annotations().delete(&actor, a.id).unwrap();
    api.exact.annotations().restore(&actor, a.id, 0).unwrap();
    // A refused write notifies nothing.
    assert!(api.exact.annotations().create(&actor, new(-5e9)).is_err());
    let got = rec.0.lock().unwrap().clone();
    let ids = |v: &[u64]| v.to_vec();
    assert_eq!(
        got,
        vec![
            (ChangeOp::Created, me, vec![a.id.0]),
            (ChangeOp::Created, me, ids(&[many[0].id.0, many[1].id.0])),
            (ChangeOp::Updated, me, vec![a.id.0]),
            (ChangeOp::Deleted, me, vec![a.id.0]),
            (ChangeOp::Updated, me, vec![a.id.0]),
        ]
    );
    // Dropped sinks are forgotten.
    drop(sink);
    drop(rec);
    api.exact.annotations().delete(&actor, a.id).unwrap();
}

/// A server over `meta` and the blob directory `blobs`: another process on the same store (a
/// restart, or a second server sharing PostgreSQL), with its own memory.
fn server_on(
    meta: &std::sync::Arc<dyn exact_core::store::MetaStore>,
    blobs: &std::path::Path,
) -> Api {
    let config = exact_store::ExactConfig {
        data_dir: blobs.to_path_buf(),
        meta: Some("memory://".into()),
        blobs: Some(blobs.to_string_lossy().into_owned()),
    };
    let exact = exact_store::Exact::open_with_meta(meta.clone(), config).unwrap();
    let app = exact_http::router(exact.clone());
    Api { exact, app }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_summaries_outlive_the_server_and_follow_other_servers_writes() {
    let dir = tempfile::tempdir().unwrap();
    let meta: std::sync::Arc<dyn exact_core::store::MetaStore> =
        std::sync::Arc::new(exact_store::meta::memory::open());
    let one = server_on(&meta, dir.path());
    let alice = one.user("alice", false);
    let (_, set, kind, _) = one.world(&alice, "lab").await;
    let image = upload(&one, &alice, set, 2048, 1536).await;
    let base = format!("/api/v1/images/images/{image}");
    // More small boxes than a tile draws one by one, in one corner: the overview levels are
    // drawn from the raster.
    let many: Vec<Value> = (0..4500u64)
        .map(|i| {
            let (x, y) = (1500 + (i % 75) * 6, 1100 + (i / 75) * 6);
            json!({"annotation_type": kind, "image": image,
                   "vector": {"x1": x, "y1": y, "x2": x + 3, "y2": y + 3}})
        })
        .collect();
    one.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        &alice,
        Some(Value::Array(many)),
    )
    .await;
    let d = 16;
    let tile = format!("{base}/annotation_tiles_files/{}/0_0.png", 11 - 4);
    let (s, _, body) = raw(&one, &tile, &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    let first = Tile::decode(&body);
    assert!(first.drawn_near(1700 / d, 1250 / d, 1));

    // The scan stored the summary under the image's current stamp.
    let me = one.ok("GET", "/api/v1/auth/me/", &alice, None).await;
    let actor = one.exact.actor(UserId(me["id"].as_u64().unwrap())).unwrap();
    let img = exact_core::ImageId(image);
    let (summary, now) = one
        .exact
        .catalog()
        .overview_summary(&actor, img, None)
        .unwrap();
    assert_eq!(summary.expect("stored by the scan").stamp, now.unwrap());

    // A restarted server draws the same tile from the summary, without a scan: fresh, so it
    // is cached for good under the current version.
    let two = server_on(&meta, dir.path());
    let boot = two
        .ok("GET", &format!("/api/v1/viewer/{image}/"), &alice, None)
        .await;
    // The bootstrap answers as the separate reads do.
    let same = |what: &str, a: &Value, b: &Value| assert_eq!(a, b, "{what}");
    let image_json = two
        .ok("GET", &format!("{base}/?omit=annotations"), &alice, None)
        .await;
    same("image", &boot["image"], &image_json);
    let set_json = two
        .ok(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/"),
            &alice,
            None,
        )
        .await;
    same("image_set", &boot["image_set"], &set_json);
    let me_json = two.ok("GET", "/api/v1/auth/me/", &alice, None).await;
    same("me", &boot["me"], &me_json);
    let types = two
        .ok(
            "GET",
            &format!(
                "/api/v1/annotations/annotation_types/?product={}",
                set_json["product_set"][0]
            ),
            &alice,
            None,
        )
        .await;
    same(
        "annotation_types",
        &boot["annotation_types"],
        &types["results"],
    );
    let listed = two
        .ok(
            "GET",
            &format!("/api/v1/images/images/?image_set={set}&omit=annotations&limit=10000"),
            &alice,
            None,
        )
        .await;
    same("images", &boot["images"], &listed["results"]);
    let gen_json = two
        .ok(
            "GET",
            &format!("{base}/annotation_tiles/generation"),
            &alice,
            None,
        )
        .await;
    same("overview", &boot["overview"], &gen_json);
    let carol = two.user("carol", false);
    let (s, v) = two
        .call(
            "GET",
            &format!("/api/v1/viewer/{image}/"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = two
        .call("GET", "/api/v1/viewer/x/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (g, k) = (
        boot["overview"]["generation"].as_u64().unwrap(),
        boot["overview"]["key"].as_str().unwrap().to_owned(),
    );
    let (s, h, body) = raw(&two, &format!("{tile}?v={g}&k={k}"), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        h[header::CACHE_CONTROL],
        "private, max-age=604800, immutable"
    );
    assert_eq!(Tile::decode(&body).data, first.data, "the same picture");

    // Server one deletes the corner (server two's change hook never hears of it): the stamp
    // moves, so server two's next open finds its raster stale and rebuilds it.
    let gone: Vec<_> = one
        .exact
        .annotations()
        .query(
            &actor,
            img,
            &exact_core::catalog::AnnotationQuery::everything(),
        )
        .unwrap()
        .iter()
        .take(4000)
        .map(|a| {
            let p = exact_core::catalog::AnnotationPatch {
                deleted: Some(true),
                ..Default::default()
            };
            (a.id, p)
        })
        .collect();
    one.exact.annotations().update_many(&actor, gone).unwrap();
    let (s, _, _) = raw(&two, &format!("{base}/annotation_tiles.dzi"), &alice, None).await;
    assert_eq!(s, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, h, body) = raw(&two, &tile, &alice, None).await;
        assert_eq!(s, StatusCode::OK);
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let t = Tile::decode(&body);
        if !etag.ends_with("s\"") {
            // Rebuilt: the deleted boxes (rows y 1100..1418) are gone, the last 500 shown.
            assert_ne!(t.data, first.data, "the deletes show");
            assert!(
                !t.drawn_near(1700 / d, 1200 / d, 3),
                "deleted rows are empty"
            );
            assert!(t.drawn_near(1700 / d, 1436 / d, 2), "the rest is shown");
            break;
        }
        assert_eq!(
            h[header::CACHE_CONTROL],
            "private, no-cache",
            "stale: never for good"
        );
        assert!(Instant::now() < deadline, "never rebuilt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And a third server starts from the summary the rebuild stored.
    let (summary, now) = two
        .exact
        .catalog()
        .overview_summary(&actor, img, None)
        .unwrap();
    assert_eq!(
        summary.unwrap().stamp,
        now.unwrap(),
        "the rebuild stored it"
    );
}
