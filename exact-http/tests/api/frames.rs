//! Frames (issue 17): EXACT's per-frame descriptions (read from an OME-TIFF's `Plane`
//! positions, written by tifffile; changed by a PATCH, bad ones refused with the reason) and
//! several uploads — real JPEGs and a PNG written by Pillow — registered as the frames of one
//! image, converted into one multi-page pyramid and served per plane.

use crate::kit::Api;
use crate::{get_bytes as get, upload_files as upload};
use axum::http::StatusCode;
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tests/fixtures/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn frame_descriptions_come_from_the_file_and_can_be_changed() {
    let api = Api::new();
    let auth = api.user("fd", false);
    let (_, set, _, _) = api.world(&auth, "fdesc").await;
    let (s, v) = upload(
        &api,
        &auth,
        &[("image_set", set.to_string())],
        &[("positions.ome.tif", fixture("planes-positions.ome.tif"))],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["results"][0]["id"].as_u64().unwrap();
    let uri = format!("/api/v1/images/images/{id}/");
    let img = api.ok("GET", &uri, &auth, None).await;
    assert_eq!((&img["depth"], &img["frames"]), (&json!(3), &json!(2)));
    // EXACT's shape (as `expand=FrameDescriptions` shows it): z planes as frame_type 0,
    // time points as 1, counted from 0; named by the OME Plane positions.
    assert_eq!(
        img["FrameDescriptions"],
        json!([
            {"frame_id": 0, "frame_type": 0, "description": "z=0.0 µm"},
            {"frame_id": 1, "frame_type": 0, "description": "z=0.5 µm"},
            {"frame_id": 2, "frame_type": 0, "description": "z=1.0 µm"},
            {"frame_id": 0, "frame_type": 1, "description": "t=0.0 s"},
            {"frame_id": 1, "frame_type": 1, "description": "t=30.0 s"},
        ]),
        "{img}"
    );
    let expanded = api
        .ok(
            "GET",
            &format!("{uri}?expand=FrameDescriptions"),
            &auth,
            None,
        )
        .await;
    assert_eq!(expanded["FrameDescriptions"], img["FrameDescriptions"]);
    let new = json!([{"frame_id": 1, "frame_type": 1, "description": "after treatment"}]);
    let patched = api
        .ok(
            "PATCH",
            &uri,
            &auth,
            Some(json!({"FrameDescriptions": new})),
        )
        .await;
    assert_eq!(patched["FrameDescriptions"], new);
    let again = api.ok("GET", &uri, &auth, None).await;
    assert_eq!(again["FrameDescriptions"], new);
    // Bad descriptions are refused with the reason, and nothing changes.
    for (bad, why) in [
        (
            json!([{"frame_id": 2, "frame_type": 1, "description": "x"}]),
            "beyond the image's frames",
        ),
        (
            json!([{"frame_id": 0, "frame_type": 0, "description": "y".repeat(161)}]),
            "longer than 160",
        ),
        (
            json!([{"frame_id": 0, "frame_type": 0, "description": "a"},
                   {"frame_id": 0, "frame_type": 0, "description": "b"}]),
            "described twice",
        ),
        (
            json!([{"frame_id": 0, "frame_type": 7, "description": "a"}]),
            "FrameType",
        ),
        (json!("not a list"), "FrameDescriptions"),
    ] {
        let (s, v) = api
            .call(
                "PATCH",
                &uri,
                Some(&auth),
                Some(json!({"FrameDescriptions": bad})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v.to_string().contains(why), "{bad}: {v}");
    }
    let after = api.ok("GET", &uri, &auth, None).await;
    assert_eq!(after["FrameDescriptions"], new);
}

/// The colour of the pixel at (`x`, `y`) of a PNG.
fn pixel(png: &[u8], x: u32, y: u32) -> [u8; 3] {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    img.get_pixel(x, y).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_uploads_become_the_frames_of_one_image() {
    let api = Api::new();
    let auth = api.user("fr", false);
    let (_, set, _, _) = api.world(&auth, "frames").await;
    let files = [
        ("frame-1.jpg", fixture("frame-1.jpg")),
        ("frame-2.png", fixture("frame-2.png")),
        ("frame-3.jpg", fixture("frame-3.jpg")),
    ];
    let (s, v) = upload(
        &api,
        &auth,
        &[
            ("image_set", set.to_string()),
            ("multi_frame", "true".into()),
            ("name", "timelapse".into()),
        ],
        &files,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["count"], 1, "{v}");
    let img = &v["results"][0];
    assert_eq!(
        (&img["name"], &img["frames"], &img["state"]),
        (&json!("timelapse"), &json!(3), &json!("converting")),
        "{img}"
    );
    let id = img["id"].as_u64().unwrap();
    let _worker = exact_store::ConversionWorker::start(&api.exact).unwrap();
    let start = std::time::Instant::now();
    let img = loop {
        let img = api
            .ok("GET", &format!("/api/v1/images/images/{id}/"), &auth, None)
            .await;
        if img["state"] == "ready" {
            break img;
        }
        assert_eq!(img["state"], "converting", "{img}");
        assert!(start.elapsed().as_secs() < 60, "not converted in 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        (&img["width"], &img["height"], &img["depth"], &img["frames"]),
        (&json!(300), &json!(200), &json!(1), &json!(3)),
        "{img}"
    );
    let names: Vec<&str> = img["FrameDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["description"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frame-1.jpg", "frame-2.png", "frame-3.jpg"]);
    // Each frame is its own plane at EXACT's tile URLs: frame f shows its box (red, green,
    // blue, left to right) and not the others'.
    for f in 1..=3u32 {
        let (s, png) = get(
            &api,
            &format!("/images/image/{id}/1/{f}/tile_files/9/0_0.png"),
            &auth,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
        for box_of in 1..=3u32 {
            let [r, g, b] = pixel(&png, 55 + 80 * (box_of - 1), 95);
            let want = [[200, 30, 30], [30, 160, 30], [30, 30, 200]][box_of as usize - 1];
            let near = |p: [u8; 3], q: [u8; 3]| (0..3).all(|c| p[c].abs_diff(q[c]) < 40);
            if box_of == f {
                assert!(
                    near([r, g, b], want),
                    "frame {f}: box {box_of} is {r},{g},{b}"
                );
            } else {
                assert!(
                    near([r, g, b], [240, 240, 240]),
                    "frame {f}: box {box_of} should be background, is {r},{g},{b}"
                );
            }
        }
    }
    let (s, body) = get(&api, &format!("/images/image/{id}/1/4/tile/"), &auth).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Frames of different sizes are refused as a whole, naming the file; nothing is added.
    let small = exact_tiles::Image {
        width: 10,
        height: 10,
        channels: 3,
        data: vec![128; 300],
    }
    .encode_png()
    .unwrap();
    let (s, v) = upload(
        &api,
        &auth,
        &[("image_set", set.to_string()), ("multi_frame", "1".into())],
        &[("a.jpg", fixture("frame-1.jpg")), ("small.png", small)],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("small.png is 10x10"), "{v}");
    let list = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/?image_set={set}&omit=annotations"),
            &auth,
            None,
        )
        .await;
    assert!(
        !list.to_string().contains("a.jpg"),
        "a refused stack left an image: {list}"
    );
}

/// Per-channel display through the API: the 2-channel 16-bit OME-TIFF's channels listed with
/// their names, colours and windows; set to red over a window of 0..1 for DAPI and black for
/// GFP, every pixel of a plane's tile is then black or pure red; bad settings are 400 with
/// the reason; `[]` restores the file's display (the same tile as before).
#[tokio::test]
async fn channel_display_is_set_through_the_api() {
    let api = Api::new();
    let auth = api.user("chan", false);
    let (id, _) = crate::planes::upload_planes(&api, &auth, "chan").await;
    let uri = format!("/api/v1/images/images/{id}/channels/");
    let v = api.ok("GET", &uri, &auth, None).await;
    let chans = v["channels"].as_array().unwrap();
    assert_eq!(chans.len(), 2, "{v}");
    assert_eq!(
        (&chans[0]["name"], &chans[1]["name"]),
        (&json!("DAPI"), &json!("GFP"))
    );
    assert_eq!(chans[0]["bits"], 16);
    assert_eq!(chans[0]["custom"], false);
    let tile = format!("/images/image/{id}/2/3/tile_files/7/0_0.png");
    let (s, before) = get(&api, &tile, &auth).await;
    assert_eq!(s, StatusCode::OK);
    let set = json!({"channels": [
        {"channel": 0, "color": "#ff0000", "min": 0, "max": 1},
        {"channel": 1, "color": "#000000"},
    ]});
    let v = api.ok("PUT", &uri, &auth, Some(set)).await;
    assert_eq!(
        (
            &v["channels"][0]["color"],
            &v["channels"][0]["min"],
            &v["channels"][0]["max"]
        ),
        (&json!("#ff0000"), &json!(0), &json!(1)),
        "{v}"
    );
    assert_eq!(v["channels"][1]["color"], "#000000");
    assert_eq!(v["channels"][0]["custom"], true);
    let img = api
        .ok("GET", &format!("/api/v1/images/images/{id}/"), &auth, None)
        .await;
    assert_eq!(img["channel_display"][0]["color"], "#ff0000", "{img}");
    let (s, after) = get(&api, &tile, &auth).await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(before, after);
    let rgb = image::load_from_memory_with_format(&after, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    let mut red = 0;
    for p in rgb.pixels() {
        let [r, g, b] = p.0;
        assert!(
            g == 0 && b == 0 && (r == 0 || r == 255),
            "pixel {r},{g},{b}"
        );
        red += usize::from(r == 255);
    }
    assert!(red > 0, "no pixel is red");
    for (bad, why) in [
        (
            json!({"channels": [{"channel": 0, "color": "red"}]}),
            "not #rrggbb",
        ),
        (
            json!({"channels": [{"channel": 2}]}),
            "beyond the image's 2 channels",
        ),
        (
            json!({"channels": [{"channel": 0, "min": 9, "max": 9}]}),
            "not below max",
        ),
        (
            json!({"channels": [{"channel": 0, "max": 70000}]}),
            "above 65535",
        ),
        (json!({"nothing": 1}), "channels"),
    ] {
        let (s, v) = api.call("PUT", &uri, Some(&auth), Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v.to_string().contains(why), "{bad}: {v}");
    }
    // Another user (no rights on the set) cannot change it.
    let other = api.user("mallory", false);
    let (s, _) = api
        .call("PUT", &uri, Some(&other), Some(json!({"channels": []})))
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    let v = api
        .ok("PUT", &uri, &auth, Some(json!({"channels": []})))
        .await;
    assert_eq!(v["channels"][0]["custom"], false);
    let (_, reset) = get(&api, &tile, &auth).await;
    assert_eq!(reset, before, "[] did not restore the file's display");
}
