//! Image series as images (issue 17): an OME-TIFF of four series written by tifffile
//! (`tests/fixtures/data/series-4.ome.tif`, made by `tests/fixtures/make_series.py`: "cells" an
//! RGB pyramid, an unnamed RGB strip image tifffile calls "Image1", "stack" 8-bit grey with
//! two z planes, and "label") uploaded through the API becomes three images sharing one stored
//! file; each serves its own series' pixels (tiles equal to the arrays tifffile wrote, per
//! plane, thumbnails, the original download); deleting one keeps the others readable.

use crate::get_bytes as get;
use crate::kit::Api;
use axum::http::StatusCode;
use futures::TryStreamExt;
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/data/series-4.ome.tif"
);

/// What `make_series.py` writes: value(y, x, c) = (3x + 5y + 70c + 40 seed) mod 256.
fn pattern(x: u32, y: u32, c: u32, seed: u32) -> u8 {
    ((3 * x + 5 * y + 70 * c + 40 * seed) % 256) as u8
}

async fn upload(api: &Api, auth: &str, set: u64, name: &str, bytes: &[u8]) -> Value {
    let (status, v) = crate::upload_files(
        api,
        auth,
        &[("image_set", set.to_string())],
        &[(name, bytes.to_vec())],
    )
    .await;
    assert!(status.is_success(), "{status} {v}");
    v
}

/// The whole level-`level` Deep Zoom tile 0_0 (OpenSlide's 254-px grid) of plane `z` as RGB.
async fn tile(api: &Api, auth: &str, id: u64, z: u32, level: u32) -> image::RgbImage {
    let (s, png) = get(
        api,
        &format!("/images/image/{id}/{z}/1/tile_files/{level}/0_0.png"),
        auth,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&png));
    image::load_from_memory(&png).unwrap().to_rgb8()
}

/// Asserts `img` is `w` × `h` and equals the pattern of `seed` (RGB: channels 0..3; grey: the
/// one channel in each of R, G and B), sampled every `step` pixels.
fn assert_pattern(img: &image::RgbImage, w: u32, h: u32, seed: u32, rgb: bool, step: u32) {
    assert_eq!(img.dimensions(), (w, h));
    for y in 0..h {
        for x in 0..w {
            let px = img.get_pixel(x, y).0;
            for c in 0..3 {
                let want = pattern(x * step, y * step, if rgb { c } else { 0 }, seed);
                assert_eq!(px[c as usize], want, "pixel ({x}, {y}) channel {c}");
            }
        }
    }
}

async fn blob_count(api: &Api) -> usize {
    let (store, _) = api.exact.blobs().object_store();
    let all: Vec<_> = store.list(None).try_collect().await.unwrap();
    all.iter()
        .filter(|m| m.location.as_ref().contains("images/"))
        .count()
}

#[tokio::test]
async fn every_series_is_an_image_sharing_one_file() {
    let api = Api::new();
    let auth = api.user("sena", false);
    let (_, set, _, _) = api.world(&auth, "sena").await;
    let before = blob_count(&api).await;
    let bytes = std::fs::read(FIXTURE).unwrap();
    let up = upload(&api, &auth, set, "series-4.ome.tif", &bytes).await;
    let results = up["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // Series 0 keeps the file's name; the label series is not an image of its own.
    assert_eq!(
        names,
        [
            "series-4.ome.tif",
            "series-4.ome.tif - Image1",
            "series-4.ome.tif - stack"
        ],
        "{up}"
    );
    let ids: Vec<u64> = results.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    // One stored file for the three images.
    assert_eq!(blob_count(&api).await, before + 1);
    let mut originals = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let img = api
            .ok("GET", &format!("/api/v1/images/images/{id}/"), &auth, None)
            .await;
        assert_eq!(img["series"], n as u64, "{img}");
        let me = api
            .exact
            .actor(api.exact.users().by_username("sena").unwrap().unwrap().id)
            .unwrap();
        originals.push(
            api.exact
                .images()
                .get(&me, exact_core::ImageId(*id))
                .unwrap()
                .original,
        );
        let want = [(64, 48, 1), (40, 30, 1), (32, 24, 2)][n];
        assert_eq!(
            (&img["width"], &img["height"], &img["depth"]),
            (
                &Value::from(want.0),
                &Value::from(want.1),
                &Value::from(want.2)
            ),
            "{img}"
        );
    }
    assert!(
        originals
            .iter()
            .all(|o| o == &originals[0] && !o.is_empty())
    );

    // Tiles: each image its own series, level by level and plane by plane.
    let (cells, plain, stack) = (ids[0], ids[1], ids[2]);
    assert_pattern(&tile(&api, &auth, cells, 1, 6).await, 64, 48, 0, true, 1);
    assert_pattern(&tile(&api, &auth, cells, 1, 5).await, 32, 24, 0, true, 2);
    assert_pattern(&tile(&api, &auth, plain, 1, 6).await, 40, 30, 1, true, 1);
    assert_pattern(&tile(&api, &auth, stack, 1, 5).await, 32, 24, 2, false, 1);
    assert_pattern(&tile(&api, &auth, stack, 2, 5).await, 32, 24, 3, false, 1);
    // The native grid per series and plane.
    let (s, dzi) = get(
        &api,
        &format!("/api/v1/images/images/{stack}/native.dzi?z=2"),
        &auth,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8_lossy(&dzi).contains("Width=\"32\""));
    // Thumbnails differ; downloads are the uploaded file, whole.
    let mut thumbs = Vec::new();
    for id in &ids {
        let (s, png) = get(
            &api,
            &format!("/api/v1/images/images/{id}/thumbnail/"),
            &auth,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        thumbs.push(png);
        let (s, got) = get(&api, &format!("/images/api/image/download/{id}/"), &auth).await;
        assert_eq!(s, StatusCode::OK);
        assert!(got == bytes, "image {id} downloads another file");
    }
    assert_ne!(thumbs[0], thumbs[1]);
    assert_ne!(thumbs[1], thumbs[2]);

    // Uploaded again: the same file, answered as the duplicate, no more images.
    let again = upload(&api, &auth, set, "series-4.ome.tif", &bytes).await;
    assert_eq!(again["results"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again["results"][0]["id"], ids[0], "{again}");

    // Deleting one series' image leaves the file and the other series served.
    api.ok(
        "DELETE",
        &format!("/api/v1/images/images/{plain}/"),
        &auth,
        None,
    )
    .await;
    let (s, _) = get(&api, &format!("/api/v1/images/images/{plain}/"), &auth).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(blob_count(&api).await, before + 1);
    assert_pattern(&tile(&api, &auth, cells, 1, 6).await, 64, 48, 0, true, 1);
    assert_pattern(&tile(&api, &auth, stack, 2, 5).await, 32, 24, 3, false, 1);

    // Series 0 deleted too and the file uploaded again: series 0 and 1 are new images (of a
    // new stored copy), the kept series 2 is answered as the duplicate it is.
    api.ok(
        "DELETE",
        &format!("/api/v1/images/images/{cells}/"),
        &auth,
        None,
    )
    .await;
    let third = upload(&api, &auth, set, "series-4.ome.tif", &bytes).await;
    let r = third["results"].as_array().unwrap();
    assert_eq!(r.len(), 3, "{third}");
    assert!(r[0]["id"] != cells && r[1]["id"] != plain, "{third}");
    assert_eq!(r[2]["id"], stack, "{third}");
    assert_eq!(blob_count(&api).await, before + 2);
    let new_plain = r[1]["id"].as_u64().unwrap();
    assert_pattern(
        &tile(&api, &auth, new_plain, 1, 6).await,
        40,
        30,
        1,
        true,
        1,
    );
}

/// An image record naming a series its file lacks (e.g. registered against another file):
/// its pixels are a 404 that names the series count, not a panic or another series.
#[tokio::test]
async fn a_series_beyond_the_file_is_a_404_naming_the_count() {
    let api = Api::new();
    let auth = api.user("sami", false);
    let (_, set, _, _) = api.world(&auth, "sami").await;
    let bytes = std::fs::read(FIXTURE).unwrap();
    let up = upload(&api, &auth, set, "series-4.ome.tif", &bytes).await;
    let id = up["results"][0]["id"].as_u64().unwrap();
    let me = api
        .exact
        .actor(api.exact.users().by_username("sami").unwrap().unwrap().id)
        .unwrap();
    let mut img = api
        .exact
        .images()
        .get(&me, exact_core::ImageId(id))
        .unwrap();
    img.series = 9;
    img.name = "beyond".into();
    let err = api
        .exact
        .pixel_cache()
        .deepzoom(&img, None)
        .await
        .map(|_| ())
        .unwrap_err();
    let e = exact_core::Error::from(err);
    assert_eq!(e.kind(), exact_core::ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("series 9") && e.to_string().contains("it has 4"),
        "{e}"
    );
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
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

/// A multi-file OME-TIFF (three files, plane z in `multi_z{z}.ome.tif`, written by
/// `tests/fixtures/make_series.py`) uploaded as a zip of its files is one image of three z
/// planes, each served from its own file; the zip's other picture stays an image of its own.
#[tokio::test]
async fn a_zip_of_a_multi_file_ome_tiff_is_one_image() {
    let api = Api::new();
    let auth = api.user("mira", false);
    let (_, set, _, _) = api.world(&auth, "mira").await;
    let file = |n: &str| {
        std::fs::read(format!(
            "{}/../tests/fixtures/data/multifile/{n}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let zip = zip_of(&[
        ("case/multi_z1.ome.tif", file("multi_z1.ome.tif")),
        ("case/multi_z0.ome.tif", file("multi_z0.ome.tif")),
        ("case/multi_z2.ome.tif", file("multi_z2.ome.tif")),
        ("series-4.ome.tif", std::fs::read(FIXTURE).unwrap()),
    ]);
    let up = upload(&api, &auth, set, "case.zip", &zip).await;
    let results = up["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("multi_z")).count(),
        1,
        "{up}"
    );
    assert!(names.contains(&"series-4.ome.tif"), "{up}");
    let multi = results
        .iter()
        .find(|r| r["name"].as_str().unwrap().starts_with("multi_z"))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let img = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/{multi}/"),
            &auth,
            None,
        )
        .await;
    assert_eq!(
        (&img["depth"], &img["series"]),
        (&Value::from(3), &Value::from(0)),
        "{img}"
    );
    for z in 0..3 {
        assert_pattern(
            &tile(&api, &auth, multi, z + 1, 6).await,
            64,
            48,
            10 + z,
            true,
            1,
        );
        assert_pattern(
            &tile(&api, &auth, multi, z + 1, 5).await,
            32,
            24,
            10 + z,
            true,
            2,
        );
    }
    // The set's zip holds every file of the multi-file slide, in a folder of their own, so
    // it opens again (and uploads again as one image); the one-file slide stays at the top.
    let (s, zip) = get(&api, &format!("/images/imageset/{set}/download/"), &auth).await;
    assert_eq!(s, StatusCode::OK);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut entries: Vec<String> = archive
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [
            "multi_z0/multi_z0.ome.tif",
            "multi_z0/multi_z1.ome.tif",
            "multi_z0/multi_z2.ome.tif",
            "series-4.ome.tif"
        ],
        "{entries:?}"
    );
    for z in 0..3 {
        let mut got = Vec::new();
        std::io::Read::read_to_end(
            &mut archive
                .by_name(&format!("multi_z0/multi_z{z}.ome.tif"))
                .unwrap(),
            &mut got,
        )
        .unwrap();
        assert!(
            got == file(&format!("multi_z{z}.ome.tif")),
            "file {z} differs"
        );
    }
}

/// One file of a multi-file OME-TIFF uploaded alone is refused, naming the files it lacks,
/// rather than converted as a picture of its one plane.
#[tokio::test]
async fn one_file_of_a_multi_file_set_alone_is_refused_naming_the_others() {
    let api = Api::new();
    let auth = api.user("otto", false);
    let (_, set, _, _) = api.world(&auth, "otto").await;
    let me = api
        .exact
        .actor(api.exact.users().by_username("otto").unwrap().unwrap().id)
        .unwrap();
    let bytes = std::fs::read(format!(
        "{}/../tests/fixtures/data/multifile/multi_z0.ome.tif",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let up = api
        .exact
        .images()
        .upload(
            &me,
            exact_core::ImageSetId(set),
            "multi_z0.ome.tif",
            futures::stream::iter([Ok(bytes.into())]),
        )
        .await
        .unwrap();
    assert_eq!(up.len(), 1);
    let err = up[0].image().unwrap_err();
    assert_eq!(err.kind(), exact_core::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("multi_z1.ome.tif") && msg.contains("multi-file"),
        "{msg}"
    );
}

/// A slide linked by URL names the image series it shows (`series`, from 0): the series'
/// size, planes and pixels; named after the series when its name is the URL; a series the
/// file lacks is a 400 naming the count.
#[tokio::test]
async fn a_linked_slide_shows_the_series_it_names() {
    let api = Api::new();
    let root = api.user("root", true);
    let (_, set, _, _) = api.world(&root, "links").await;
    let url = format!(
        "file://{}",
        std::fs::canonicalize(FIXTURE).unwrap().display()
    );
    let img = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &root,
            Some(serde_json::json!({
                "image_set": set, "name": url, "filename": url, "image_type": 2, "series": 2
            })),
        )
        .await;
    assert_eq!(
        (&img["series"], &img["width"], &img["depth"], &img["name"]),
        (
            &Value::from(2),
            &Value::from(32),
            &Value::from(2),
            &Value::from("series-4.ome.tif - stack")
        ),
        "{img}"
    );
    let id = img["id"].as_u64().unwrap();
    assert_pattern(&tile(&api, &root, id, 2, 5).await, 32, 24, 3, false, 1);
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/images/images/",
            Some(&root),
            Some(serde_json::json!({
                "image_set": set, "name": "beyond", "filename": url, "image_type": 2, "series": 4
            })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("it has 4"), "{v}");
}
