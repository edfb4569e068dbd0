//! File names, failed and interrupted uploads, racing duplicates, zip limits (item 5).

use super::*;

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

/// The conversion worker sweeps at its start; building a router has no such side effect.
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
    let api = api_over(local_store(dir.path()), RouterOptions::default());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        files_under(&blobs).len(),
        4,
        "a router starts no background work"
    );
    let _worker = exact_store::ConversionWorker::start(&api.exact).unwrap();
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
