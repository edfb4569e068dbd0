//! Annotation maps (issue 18) through `Exact`, with a real slide: the map is a
//! server-generated pyramid whose tiles serve and whose patches show the slide around each
//! annotation; its annotations carry the originals' UUIDs; a relabel on the map is synced
//! back with history; bad input is refused before anything is written.

use bytes::Bytes;
use exact_core::catalog::{
    AnnotationPatch, AnnotationQuery, ImageSetPatch, NewAnnotation, NewAnnotationType, NewImage,
    NewImageSet, NewProduct, NewTeam, NewUser,
};
use exact_core::model::{ImageType, PixelState};
use exact_core::{AnnotationTypeId, ErrorKind, Vector, VectorType};
use exact_store::{Exact, ExactConfig, Outcome};
use std::collections::BTreeSet;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Files under the blob store's `images/`.
fn blob_files(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p).map_or(0, |d| {
            d.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
    }
    walk(&dir.join("blobs/images"))
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_collage_a_type_keep_uuids_and_sync_relabels_back() {
    let dir = tempfile::tempdir().unwrap();
    let exact = Exact::open(ExactConfig::in_dir(dir.path())).unwrap();
    let alice = exact.users().register(NewUser::new("alice")).unwrap();
    let bob = exact.users().register(NewUser::new("bob")).unwrap();
    let me = exact.actor(alice.id).unwrap();
    let team = exact.teams().create(&me, NewTeam::new("path")).unwrap();
    let me = exact.actor(alice.id).unwrap();
    let set = exact
        .image_sets()
        .create(&me, NewImageSet::new("slides", team.id))
        .unwrap();
    let product = exact
        .products()
        .create(
            &me,
            NewProduct {
                name: "mitosis".into(),
                team: Some(team.id),
                imagesets: vec![set.id],
                ..Default::default()
            },
        )
        .unwrap();
    let mut cell = NewAnnotationType::new("cell", VectorType::BoundingBox, product.id);
    (cell.default_width, cell.default_height) = (64, 64);
    let cell = exact.annotation_types().create(&me, cell).unwrap();
    let other = exact
        .annotation_types()
        .create(
            &me,
            NewAnnotationType::new("other", VectorType::BoundingBox, product.id),
        )
        .unwrap();
    let empty = exact
        .annotation_types()
        .create(
            &me,
            NewAnnotationType::new("empty", VectorType::BoundingBox, product.id),
        )
        .unwrap();
    let svs = fixture("CMU-1-Small-Region.svs");
    let out = exact
        .images()
        .upload(
            &me,
            set.id,
            "cmu.svs",
            futures::stream::iter([Ok(Bytes::from(svs))]),
        )
        .await
        .unwrap();
    let Outcome::Created(slide) = &out[0] else {
        panic!("{out:?}")
    };
    // Five cells (one a tiny box in the corner, clamped to the slide) and one other.
    let boxes = [
        (100.0, 100.0, 164.0, 164.0),
        (1000.0, 1500.0, 1040.0, 1580.0),
        (2000.0, 2800.0, 2219.0, 2966.0),
        (500.0, 700.0, 600.0, 800.0),
        (0.0, 0.0, 2.0, 2.0),
    ];
    let originals = exact
        .annotations()
        .create_many(
            &me,
            boxes
                .iter()
                .map(|&(x1, y1, x2, y2)| {
                    NewAnnotation::new(cell.id, slide.id, Some(Vector::rect(x1, y1, x2, y2)))
                })
                .chain([NewAnnotation::new(
                    other.id,
                    slide.id,
                    Some(Vector::rect(10.0, 10.0, 50.0, 50.0)),
                )])
                .collect(),
        )
        .unwrap();
    // An annotation on an image without pixels (registered by metadata only) is skipped,
    // as EXACT skips images whose file is missing.
    let meta_only = exact
        .images()
        .add(&me, NewImage::new(set.id, "meta-only.svs", 1000, 1000))
        .unwrap();
    exact
        .annotations()
        .create(
            &me,
            NewAnnotation::new(
                cell.id,
                meta_only.id,
                Some(Vector::rect(5.0, 5.0, 60.0, 60.0)),
            ),
        )
        .unwrap();
    let images_before = exact.images().list(&me).unwrap().len();
    let blobs_before = blob_files(dir.path());

    // Bad input: refused with the reason, nothing written.
    let e = exact
        .annotation_maps()
        .create(&me, set.id, Some(AnnotationTypeId(999_999)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("not an annotation type"), "{e}");
    let e = exact
        .annotation_maps()
        .create(&me, set.id, Some(empty.id))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("no live annotations"), "{e}");
    exact
        .image_sets()
        .update(
            &me,
            set.id,
            ImageSetPatch {
                public: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    let reader = exact.actor(bob.id).unwrap();
    let e = exact
        .annotation_maps()
        .create(&reader, set.id, Some(cell.id))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("no rights to edit"), "{e}");
    let e = exact
        .annotation_maps()
        .sync(&reader, set.id)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(exact.images().list(&me).unwrap().len(), images_before);
    assert_eq!(blob_files(dir.path()), blobs_before);

    // The map of "cell": 5 patches of 73x73 (64 + 15 %) in a 3x3 grid.
    let made = exact
        .annotation_maps()
        .create(&me, set.id, Some(cell.id))
        .await
        .unwrap();
    assert_eq!(made.len(), 1);
    let map = &made[0].image;
    assert_eq!(made[0].annotations, 5);
    assert_eq!(map.name, "mitosis_cell.tiff");
    assert_eq!(map.image_type, ImageType::ServerGenerated);
    assert_eq!(map.state, PixelState::Ready);
    assert_eq!((map.width, map.height), (219, 219));
    assert_eq!(map.image_set, set.id);

    // Its tiles serve, and each patch shows the slide around its annotation.
    let (_, g) = exact.pixels(&me, map.id, None).await.unwrap();
    assert_eq!(g.slide().dimensions(), (219, 219));
    let tile = g.tile(g.geometry().level_count() - 1, 0, 0).await.unwrap();
    assert!(tile.starts_with(&[0xFF, 0xD8]), "a JPEG tile");
    let (_, src) = exact.pixels(&me, slide.id, None).await.unwrap();
    let got = g
        .slide()
        .read_region_rgb(0, 0, 0, 219, 219, [255, 255, 255])
        .await
        .unwrap();
    let on_map = exact
        .annotations()
        .query(&me, map.id, &AnnotationQuery::default())
        .unwrap();
    assert_eq!(on_map.len(), 5);
    for a in &on_map {
        let b = a.vector.as_ref().unwrap().bbox().unwrap();
        let (col, row) = ((b.min_x / 73.0) as usize, (b.min_y / 73.0) as usize);
        assert!(
            b.max_x <= (col as f64 + 1.0) * 73.0 + 1.0,
            "{b:?} in its cell"
        );
        assert!(
            b.max_y <= (row as f64 + 1.0) * 73.0 + 1.0,
            "{b:?} in its cell"
        );
        let o = originals
            .iter()
            .find(|o| o.unique_identifier == a.unique_identifier)
            .expect("every map annotation carries an original's UUID");
        assert_eq!(o.annotation_type, a.annotation_type);
        // The original's box with 15 % context, centred, as the patch shows it.
        let ob = o.vector.as_ref().unwrap().bbox().unwrap();
        if ob.max_x - ob.min_x >= 1.0 {
            let (w, h) = ((ob.max_x - ob.min_x) * 1.15, (ob.max_y - ob.min_y) * 1.15);
            let x = (ob.min_x - (w - (ob.max_x - ob.min_x)) / 2.0)
                .clamp(0.0, 2219.0)
                .floor();
            let y = (ob.min_y - (h - (ob.max_y - ob.min_y)) / 2.0)
                .clamp(0.0, 2966.0)
                .floor();
            let (w, h) = (w.ceil().min(2220.0 - x), h.ceil().min(2967.0 - y));
            let want = src
                .slide()
                .read_region_resized(
                    x as i64,
                    y as i64,
                    0,
                    w as u32,
                    h as u32,
                    Some((73, 73)),
                    [255, 255, 255],
                )
                .await
                .unwrap();
            let mut patch = Vec::new();
            for r in 0..73 {
                let at = ((row * 73 + r) * 219 + col * 73) * 3;
                patch.extend_from_slice(&got.data[at..at + 73 * 3]);
            }
            let d = mean_abs_diff(&patch, &want.data);
            assert!(d < 12.0, "patch of {ob:?} differs from the slide by {d}");
        }
    }
    let uuids = |v: &[exact_core::model::Annotation]| -> BTreeSet<_> {
        v.iter().map(|a| a.unique_identifier).collect()
    };
    assert_eq!(uuids(&on_map), uuids(&originals[..5]));
    // Cells without a patch stay black (EXACT's background).
    let last = ((2 * 73 + 36) * 219 + 2 * 73 + 36) * 3;
    assert!(
        got.data[last..last + 3].iter().all(|&v| v < 16),
        "empty cell is black"
    );

    // Relabel one on the map, sync: the original changes, with history.
    let moved = &on_map[0];
    exact
        .annotations()
        .update(
            &me,
            moved.id,
            AnnotationPatch {
                annotation_type: Some(other.id),
                ..Default::default()
            },
        )
        .unwrap();
    let updates = exact.annotation_maps().sync(&me, set.id).await.unwrap();
    let original = originals
        .iter()
        .find(|o| o.unique_identifier == moved.unique_identifier)
        .unwrap();
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(
        updates[&original.id],
        format!("Id: {} Original Type: cell New Type: other", original.id.0)
    );
    let now = exact.annotations().get(&me, original.id).unwrap();
    assert_eq!(now.annotation_type, other.id);
    let history = exact.annotations().history(&me, original.id).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.before.as_ref().unwrap().annotation_type, cell.id);
    assert_eq!(last.after.annotation_type, other.id);
    assert_eq!(last.user, Some(alice.id));
    // Nothing left to sync; the other originals kept their type.
    assert!(
        exact
            .annotation_maps()
            .sync(&me, set.id)
            .await
            .unwrap()
            .is_empty()
    );
    for o in &originals[..5] {
        if o.id != original.id {
            assert_eq!(
                exact.annotations().get(&me, o.id).unwrap().annotation_type,
                cell.id
            );
        }
    }

    // Mapping every type again reuses the map image and replaces its annotations.
    let made = exact
        .annotation_maps()
        .create(&me, set.id, None)
        .await
        .unwrap();
    let names: BTreeSet<_> = made.iter().map(|m| m.image.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["mitosis_cell.tiff", "mitosis_other.tiff"])
    );
    let again = made
        .iter()
        .find(|m| m.image.name == "mitosis_cell.tiff")
        .unwrap();
    assert_eq!(
        again.image.id, map.id,
        "the set's map of that name is reused"
    );
    assert_eq!(
        (again.image.width, again.image.height),
        (146, 146),
        "4 cells now"
    );
    let live = exact
        .annotations()
        .query(&me, map.id, &AnnotationQuery::default())
        .unwrap();
    assert_eq!(live.len(), 4, "the previous map annotations were replaced");
    let (_, g) = exact.pixels(&me, map.id, None).await.unwrap();
    assert_eq!(
        g.slide().dimensions(),
        (146, 146),
        "the new pixels are served"
    );
}
