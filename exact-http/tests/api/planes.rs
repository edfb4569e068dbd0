//! Planes (issue 17): an OME-TIFF with 2 z planes, 3 frames and 2 16-bit channels (written by
//! tifffile, `tests/fixtures/data/planes-t3-z2-c2.ome.tif`) uploaded; the image JSON has its
//! `depth`, `frames` and `channels`; every plane has its own DZI and tiles at EXACT's URLs and
//! on the native grid (`?z=&frame=`); a plane beyond the image is a 404 with a JSON reason.

use crate::get_bytes as get;
use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::Value;

/// Uploads the fixture into a fresh set of `auth`'s (with a box type): the image id and the
/// type's.
pub async fn upload_planes(api: &Api, auth: &str, user: &str) -> (u64, u64) {
    let (_, set, kind, _) = api.world(auth, user).await;
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/data/planes-t3-z2-c2.ome.tif"
    ))
    .unwrap();
    let me = api
        .exact
        .actor(api.exact.users().by_username(user).unwrap().unwrap().id)
        .unwrap();
    let up = api
        .exact
        .images()
        .upload(
            &me,
            exact_core::ImageSetId(set),
            "planes.ome.tif",
            futures::stream::iter([Ok(bytes.into())]),
        )
        .await
        .unwrap();
    (up[0].image().unwrap().id.0, kind)
}

#[tokio::test]
async fn every_plane_has_its_tiles_and_planes_beyond_are_404() {
    let api = Api::new();
    let auth = api.user("zoe", false);
    let (id, _) = upload_planes(&api, &auth, "zoe").await;
    let img = api
        .ok("GET", &format!("/api/v1/images/images/{id}/"), &auth, None)
        .await;
    assert_eq!(
        (&img["depth"], &img["frames"], &img["channels"]),
        (&Value::from(2), &Value::from(3), &Value::from(2)),
        "{img}"
    );
    // EXACT's DZI per plane (OpenSlide's grid: 96×64 needs levels 0..=7), and tiles that
    // differ between planes (each plane has its bright block elsewhere).
    let mut tiles = Vec::new();
    let mut natives = Vec::new();
    for (z, f) in [(1, 1), (2, 1), (1, 3), (2, 3)] {
        let (s, dzi) = get(&api, &format!("/images/image/{id}/{z}/{f}/tile/"), &auth).await;
        assert_eq!(s, StatusCode::OK);
        assert!(String::from_utf8_lossy(&dzi).contains("Width=\"96\""));
        let (s, t) = get(
            &api,
            &format!("/images/image/{id}/{z}/{f}/tile_files/7/0_0.png"),
            &auth,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        tiles.push(t);
        let (s, n) = get(
            &api,
            &format!("/api/v1/images/images/{id}/native_files/7/0_0.jpeg?z={z}&frame={f}"),
            &auth,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(n.starts_with(&[0xFF, 0xD8]));
        natives.push(n);
    }
    // Asked again (now kept in memory, where the fast tile path looks first), every plane still
    // gets its own native tile.
    for (i, (z, f)) in [(1, 1), (2, 1), (1, 3), (2, 3)].into_iter().enumerate() {
        let (_, n) = get(
            &api,
            &format!("/api/v1/images/images/{id}/native_files/7/0_0.jpeg?z={z}&frame={f}"),
            &auth,
        )
        .await;
        assert_eq!(
            n, natives[i],
            "plane ({z}, {f}) served another plane's kept tile"
        );
    }
    assert_ne!(natives[0], natives[1]);
    assert_ne!(natives[0], natives[3]);
    for i in 0..tiles.len() {
        for j in i + 1..tiles.len() {
            assert_ne!(
                tiles[i], tiles[j],
                "planes {i} and {j} served the same tile"
            );
        }
    }
    let (s, _) = get(
        &api,
        &format!("/api/v1/images/images/{id}/native.dzi?z=2&frame=3"),
        &auth,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for uri in [
        format!("/images/image/{id}/3/1/tile/"),
        format!("/images/image/{id}/1/4/tile_files/7/0_0.jpeg"),
        format!("/images/image/{id}/0/1/tile/"),
        format!("/api/v1/images/images/{id}/native.dzi?frame=4"),
        format!("/api/v1/images/images/{id}/native_files/7/0_0.jpeg?z=3"),
    ] {
        let (s, b) = get(&api, &uri, &auth).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
        let v: Value = serde_json::from_slice(&b).unwrap();
        let reason = v["detail"].as_str().unwrap_or_default();
        assert!(reason.contains("it has"), "{uri}: {v}");
    }
}

/// Annotations keep the frame they were drawn on; `?frame=` lists those of that frame and
/// those without one (EXACT's rule: no frame shows on every frame); a bad frame is a 400.
#[tokio::test]
async fn annotations_are_filtered_by_frame() {
    let api = Api::new();
    let auth = api.user("fay", false);
    let (id, kind) = upload_planes(&api, &auth, "fay").await;
    let anns = "/api/v1/annotations/annotations/";
    let mut made = Vec::new();
    for frame in [Some(1), Some(2), Some(3), None] {
        let mut vector = serde_json::json!({"x1": 10, "y1": 10, "x2": 20, "y2": 20});
        if let Some(f) = frame {
            vector["frame"] = f.into();
        }
        let a = api
            .ok(
                "POST",
                anns,
                &auth,
                Some(serde_json::json!({"annotation_type": kind, "image": id, "vector": vector})),
            )
            .await;
        assert_eq!(a["vector"]["frame"], frame.map_or(Value::Null, Value::from));
        made.push(a["id"].as_u64().unwrap());
    }
    let ids = |v: &Value| -> Vec<u64> {
        let mut ids: Vec<u64> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_u64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    for (frame, want) in [(2, vec![made[1], made[3]]), (3, vec![made[2], made[3]])] {
        let v = api
            .ok(
                "GET",
                &format!("{anns}?image={id}&frame={frame}&vector_x_min=0&vector_x_max=50&vector_y_min=0&vector_y_max=50"),
                &auth,
                None,
            )
            .await;
        assert_eq!(ids(&v), want, "frame {frame}");
    }
    let all = api
        .ok("GET", &format!("{anns}?image={id}"), &auth, None)
        .await;
    assert_eq!(ids(&all), made);
    let (s, v) = api
        .call(
            "GET",
            &format!("{anns}?image={id}&frame=0"),
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("frame"), "{v}");
}
