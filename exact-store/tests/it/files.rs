//! Image files below the handle (issue 11): uploads with their dedupe, limit and rights rules,
//! pixels by image id with permissions and readiness, the conversion worker, downloads, set
//! zips and media bytes — all through `Exact`, with a real slide and a PNG written by `image`.

use bytes::Bytes;
use exact_core::catalog::{NewAnnotation, NewImage, NewImageSet, NewTeam, NewUser};
use exact_core::model::{MediaFileType, PixelState};
use exact_core::{Actor, ErrorKind, ImageSetId, Vector, VectorType};
use exact_store::{ConversionWorker, Exact, ExactConfig, Outcome};
use futures::StreamExt;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A PNG picture (not a slide: it must be converted), written by the `image` crate.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut img = exact_tiles::Image::new(width, height, 3);
    for (i, p) in img.data.iter_mut().enumerate() {
        *p = (i % 251) as u8;
    }
    img.encode_png().unwrap()
}

fn chunks(bytes: Vec<u8>) -> impl futures::Stream<Item = exact_core::Result<Bytes>> + Send {
    // Several chunks, as a network stream delivers them.
    let bytes = Bytes::from(bytes);
    let parts: Vec<_> = (0..bytes.len())
        .step_by(1000)
        .map(|i| Ok(bytes.slice(i..(i + 1000).min(bytes.len()))))
        .collect();
    futures::stream::iter(parts)
}

struct World {
    exact: Exact,
    me: Actor,
    stranger: Actor,
    set: ImageSetId,
    team: exact_core::TeamId,
    _dir: tempfile::TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let exact = Exact::open(ExactConfig::in_dir(dir.path())).unwrap();
    let alice = exact.users().register(NewUser::new("alice")).unwrap();
    let bob = exact.users().register(NewUser::new("bob")).unwrap();
    let me = exact.actor(alice.id).unwrap();
    let team = exact
        .teams()
        .create(&me, NewTeam::new("pathology"))
        .unwrap();
    let me = exact.actor(alice.id).unwrap();
    let set = exact
        .image_sets()
        .create(&me, NewImageSet::new("slides", team.id))
        .unwrap();
    let b = exact.actor(bob.id).unwrap();
    exact.teams().create(&b, NewTeam::new("radiology")).unwrap();
    let stranger = exact.actor(bob.id).unwrap();
    World {
        exact,
        me,
        stranger,
        set: set.id,
        team: team.id,
        _dir: dir,
    }
}

/// Blobs under `images/` (what uploads leave behind).
fn stored(w: &World) -> usize {
    let root = w._dir.path().join("blobs/images");
    let Ok(dirs) = std::fs::read_dir(root) else {
        return 0;
    };
    dirs.flatten()
        .map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slide_upload_is_ready_and_readable_by_id_with_permissions() {
    let w = world();
    let svs = fixture("openslide-python-small.svs");
    let out = w
        .exact
        .images()
        .upload(&w.me, w.set, "small.svs", chunks(svs.clone()))
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    let Outcome::Created(image) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(image.state, PixelState::Ready);
    assert_eq!(image.checksum.len(), 128, "SHA-512 hex");

    let (_, g) = w.exact.pixels(&w.me, image.id, None).await.unwrap();
    assert_eq!(g.slide().dimensions(), (image.width, image.height));
    let tile = g.tile(g.geometry().level_count() - 1, 0, 0).await.unwrap();
    assert!(tile.starts_with(&[0xFF, 0xD8]), "a JPEG tile");

    // Another team's member learns nothing about the image.
    let e = w
        .exact
        .pixels(&w.stranger, image.id, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = w
        .exact
        .images()
        .file(&w.stranger, image.id, true)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // The original comes back byte for byte, also by range.
    let file = w.exact.images().file(&w.me, image.id, true).await.unwrap();
    assert_eq!((file.size(), file.name()), (svs.len() as u64, "small.svs"));
    let read = |r| async {
        let mut s = file.read(r).await.unwrap();
        let mut v = Vec::new();
        while let Some(c) = s.next().await {
            v.extend_from_slice(&c.unwrap());
        }
        v
    };
    assert_eq!(read(None).await, svs);
    assert_eq!(read(Some(10..20)).await, &svs[10..20]);

    // The same bytes again: a duplicate, nothing stored; other bytes under the name: refused.
    let before = stored(&w);
    let again = w
        .exact
        .images()
        .upload(&w.me, w.set, "small.svs", chunks(svs.clone()))
        .await
        .unwrap();
    assert!(
        matches!(&again[0], Outcome::Duplicate(i) if i.id == image.id),
        "{again:?}"
    );
    let other = w
        .exact
        .images()
        .upload(&w.me, w.set, "small.svs", chunks(png(64, 64)))
        .await
        .unwrap();
    let e = other[0].image().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(stored(&w), before, "refused uploads leave no blobs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_refused_whole_without_rights_beyond_the_limit_or_unreadable() {
    let w = world();
    let e = w
        .exact
        .images()
        .upload(
            &w.stranger,
            w.set,
            "x.svs",
            chunks(fixture("openslide-python-small.svs")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "another team's set: {e}");

    let e = w
        .exact
        .images()
        .receive("big.png", chunks(png(64, 64)), 100)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");

    let out = w
        .exact
        .images()
        .upload(
            &w.me,
            w.set,
            "notes.txt",
            chunks(b"not an image at all".to_vec()),
        )
        .await
        .unwrap();
    let e = out[0].image().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("not an image"), "{e}");
    assert_eq!(stored(&w), 0, "nothing of a refused upload is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_are_not_ready_until_a_worker_converts_them() {
    let w = world();
    let out = w
        .exact
        .images()
        .upload(&w.me, w.set, "cells.png", chunks(png(300, 200)))
        .await
        .unwrap();
    let image = out[0].image().unwrap().clone();
    assert_eq!(image.state, PixelState::Converting);
    // No worker runs: the image waits, and says so.
    let e = w.exact.pixels(&w.me, image.id, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotReady, "{e}");
    let e = w
        .exact
        .images()
        .file(&w.me, image.id, false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotReady, "{e}");

    // A worker resumes it; a second worker of the same store is refused.
    let worker = ConversionWorker::start(&w.exact).unwrap();
    let e = ConversionWorker::start(&w.exact).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let mut ready = None;
    for _ in 0..200 {
        match w.exact.pixels(&w.me, image.id, None).await {
            Ok((i, g)) => {
                ready = Some((i, g));
                break;
            }
            Err(e) if e.kind() == ErrorKind::NotReady => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (i, g) = ready.expect("converted within 10 s");
    assert_eq!((i.width, i.height), (300, 200));
    assert_eq!(g.slide().dimensions(), (300, 200));

    // A picture uploaded while the worker runs is converted without a restart.
    let out = w
        .exact
        .images()
        .upload(&w.me, w.set, "more.png", chunks(png(100, 80)))
        .await
        .unwrap();
    let id = out[0].image().unwrap().id;
    let mut state = PixelState::Converting;
    for _ in 0..200 {
        state = w.exact.images().get(&w.me, id).unwrap().state;
        if state != PixelState::Converting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, PixelState::Ready);
    drop(worker);
    // Stopped: a new worker may start.
    ConversionWorker::start(&w.exact).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_registered_by_metadata_have_no_pixels_and_stay_out_of_zips() {
    let w = world();
    let meta_only = w
        .exact
        .images()
        .add(&w.me, NewImage::new(w.set, "elsewhere.svs", 1000, 1000))
        .unwrap();
    let e = w.exact.pixels(&w.me, meta_only.id, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        w.exact
            .images()
            .set_zip(&w.me, w.set)
            .await
            .unwrap()
            .is_none()
    );

    let svs = fixture("openslide-python-small.svs");
    for name in ["a.svs", "b.svs"] {
        w.exact
            .images()
            .upload(&w.me, w.set, name, chunks(svs.clone()))
            .await
            .unwrap()[0]
            .image()
            .unwrap();
    }
    let zip = w
        .exact
        .images()
        .set_zip(&w.me, w.set)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(zip.names().collect::<Vec<_>>(), ["a.svs", "b.svs"]);
    let mut bytes = Vec::new();
    let mut s = std::pin::pin!(zip.into_stream());
    while let Some(c) = s.next().await {
        bytes.extend_from_slice(&c.unwrap());
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), 2);
    let mut entry = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("b.svs").unwrap(), &mut entry).unwrap();
    assert_eq!(entry, svs);
    let e = w
        .exact
        .images()
        .set_zip(&w.stranger, w.set)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

/// A set zip is written by an async task into a bounded channel: a download whose reader
/// stalls holds no blocking-pool thread. With a pool of one thread, other blocking work still
/// runs while ~7.6 MB wait behind a channel of a few 1 MiB chunks (a writer on the blocking
/// pool would hold that one thread until the reader came back).
#[test]
fn a_stalled_set_zip_download_holds_no_blocking_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let w = world();
        let svs = fixture("CMU-1-Small-Region.svs");
        for n in 0..4 {
            w.exact
                .images()
                .upload(&w.me, w.set, &format!("s{n}.svs"), chunks(svs.clone()))
                .await
                .unwrap()[0]
                .image()
                .unwrap();
        }
        let zip = w
            .exact
            .images()
            .set_zip(&w.me, w.set)
            .await
            .unwrap()
            .unwrap();
        let mut s = std::pin::pin!(zip.into_stream());
        let mut total = s.next().await.unwrap().unwrap().len();
        // The writer fills the channel and waits for the reader.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let other = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio::task::spawn_blocking(|| 7),
        )
        .await
        .expect("the only blocking thread is free while the download stalls");
        assert_eq!(other.unwrap(), 7);
        while let Some(c) = s.next().await {
            total += c.unwrap().len();
        }
        assert!(total > 4 * svs.len(), "{total}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_files_keep_their_bytes_for_readers_only() {
    let w = world();
    let image = w
        .exact
        .images()
        .add(&w.me, NewImage::new(w.set, "s.svs", 1000, 1000))
        .unwrap();
    let product = w
        .exact
        .products()
        .create(
            &w.me,
            exact_core::catalog::NewProduct {
                name: "p".into(),
                team: Some(w.team),
                imagesets: vec![w.set],
                ..Default::default()
            },
        )
        .unwrap();
    let t = w
        .exact
        .annotation_types()
        .create(
            &w.me,
            exact_core::catalog::NewAnnotationType::new("box", VectorType::BoundingBox, product.id),
        )
        .unwrap();
    let a = w
        .exact
        .annotations()
        .create(
            &w.me,
            NewAnnotation::new(t.id, image.id, Some(Vector::rect(1.0, 1.0, 9.0, 9.0))),
        )
        .unwrap();
    let m = w
        .exact
        .media_files()
        .upload(
            &w.me,
            a.id,
            "note.wav",
            MediaFileType::Audio,
            Bytes::from_static(b"RIFF...."),
        )
        .await
        .unwrap();
    let (got, bytes) = w.exact.media_files().read(&w.me, m.id).await.unwrap();
    assert_eq!(
        (got.name.as_str(), &bytes[..]),
        ("note.wav", &b"RIFF...."[..])
    );
    let e = w
        .exact
        .media_files()
        .read(&w.stranger, m.id)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = w
        .exact
        .media_files()
        .upload(
            &w.stranger,
            a.id,
            "x",
            MediaFileType::Audio,
            Bytes::from_static(b"x"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}
