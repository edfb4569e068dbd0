//! The raster's bookkeeping: cell sizes, exact counts through updates and deletes, estimates
//! and the density/outline drawing.

use super::*;
use serde_json::json;

fn ann(id: u64, ty: u64, x: f64, y: f64, w: f64, h: f64, deleted: bool) -> Annotation {
    serde_json::from_value(json!({
        "id": id, "annotation_type": ty, "image": 1, "user": 7, "last_editor": 7,
        "vector": {"x1": x, "y1": y, "x2": x + w, "y2": y + h},
        "time": "2026-01-01T00:00:00", "last_edit_time": "2026-01-01T00:00:00",
        "deleted": deleted, "unique_identifier": "8c0b7e36-5d8e-4c1b-9b7e-0c8a2f7d1e11",
        "meta_data": null,
    }))
    .unwrap()
}

fn all(r: &Raster) -> u64 {
    r.estimate(&BBox::new(0.0, 0.0, 1e9, 1e9), None)
}

#[test]
fn cells_grow_so_a_raster_stays_bounded() {
    let small = Raster::new(1000, 500, &[]);
    assert_eq!((small.cell, small.cols, small.rows), (64.0, 16, 8));
    let big = Raster::new(100_000, 80_000, &[]);
    assert_eq!(big.cell, 128.0);
    assert!(big.cols <= MAX_CELLS && big.rows <= MAX_CELLS);
    let huge = Raster::new(1 << 30, 1, &[]);
    assert!(huge.cols <= MAX_CELLS);
}

#[test]
fn counts_follow_creates_moves_retypes_and_deletes() {
    let mut r = Raster::new(10_000, 10_000, &[]);
    r.put(&ann(1, 5, 100.0, 100.0, 10.0, 10.0, false));
    r.put(&ann(2, 5, 5000.0, 5000.0, 10.0, 10.0, false));
    r.put(&ann(3, 6, 5000.0, 5000.0, 10.0, 10.0, true));
    assert_eq!(all(&r), 2, "deleted ones are not counted");
    // The same annotation again (an event applied twice) is not counted twice.
    r.put(&ann(1, 5, 100.0, 100.0, 10.0, 10.0, false));
    assert_eq!(all(&r), 2);
    // Moved far away and retyped.
    r.put(&ann(1, 6, 9000.0, 9000.0, 10.0, 10.0, false));
    let corner = BBox::new(0.0, 0.0, 1000.0, 1000.0);
    assert_eq!(r.estimate(&corner, None), 0);
    assert_eq!(
        r.estimate(&BBox::new(8900.0, 8900.0, 9100.0, 9100.0), None),
        1
    );
    assert_eq!(
        r.estimate(&BBox::new(0.0, 0.0, 1e9, 1e9), Some(&[AnnotationTypeId(5)])),
        1
    );
    // Deleted: gone.
    r.put(&ann(1, 6, 9000.0, 9000.0, 10.0, 10.0, true));
    assert_eq!(all(&r), 1);
    r.remove(2);
    assert_eq!(all(&r), 0);
}

#[test]
fn large_annotations_keep_outlines_and_small_ones_density() {
    let mut r = Raster::new(4096, 4096, &[]);
    r.put(&ann(1, 5, 1000.0, 1000.0, 2000.0, 1000.0, false));
    for i in 0..50 {
        r.put(&ann(10 + i, 5, 200.0 + i as f64, 3500.0, 3.0, 3.0, false));
    }
    let colors = HashMap::from([(AnnotationTypeId(5), [0, 255, 0])]);
    // The whole slide in a 256 px tile: 16 level-0 px per tile px.
    let mut c = Canvas::new(256, 256);
    let area = BBox::new(0.0, 0.0, 4096.0, 4096.0);
    r.draw(&mut c, &area, 1.0 / 16.0, &colors, None);
    let px = |x: usize, y: usize| &c.img.data[(y * 256 + x) * 4..(y * 256 + x) * 4 + 4];
    assert_eq!(px(62, 80), &[0, 255, 0, 255], "the big box's left edge");
    assert_eq!(px(100, 80)[3], 0, "its inside");
    assert!(px(14, 219)[3] > 0, "the small ones' density mark");
    assert_eq!(px(200, 20)[3], 0, "nothing elsewhere");
    let mut none = Canvas::new(256, 256);
    r.draw(
        &mut none,
        &area,
        1.0 / 16.0,
        &colors,
        Some(&[AnnotationTypeId(9)]),
    );
    assert!(!none.touched);
}

fn on(id: u64, frame: Option<u32>) -> Annotation {
    let mut a = ann(id, 5, 100.0, 100.0, 10.0, 10.0, false);
    if let Some(v) = a.vector.as_mut() {
        v.frame = frame;
    }
    a
}

#[test]
fn a_plane_shows_its_frame_and_the_frameless() {
    assert!(on_frame(&on(1, Some(2)), Some(2)));
    assert!(!on_frame(&on(1, Some(2)), Some(3)));
    assert!(
        on_frame(&on(1, None), Some(3)),
        "no frame: shown on every frame"
    );
    assert!(
        on_frame(&on(1, Some(2)), None),
        "no plane asked: everything"
    );
}

#[test]
fn the_tile_cache_keeps_recent_tiles_within_its_byte_bound() {
    let c = TileCache::default();
    let tile = bytes::Bytes::from(vec![7u8; 100 << 10]);
    c.put("first".into(), tile.clone());
    assert_eq!(c.get("first").as_deref(), Some(&tile[..]));
    assert!(c.get("other").is_none());
    // Far more than the bound: the oldest go, the bound holds, a recently read one stays.
    for i in 0..(TILE_CACHE_BYTES / tile.len() * 2) {
        c.put(format!("t{i}"), tile.clone());
        if i % 64 == 0 {
            assert!(c.get("first").is_some(), "read often, kept");
        }
    }
    assert!(c.bytes() <= TILE_CACHE_BYTES, "{} bytes kept", c.bytes());
    assert!(c.get("t0").is_none(), "least recently used dropped");
    assert!(c.get("first").is_some());
    // The same key again replaces, it does not count twice.
    let before = c.bytes();
    c.put("first".into(), tile.clone());
    assert_eq!(c.bytes(), before);
    // A tile larger than a sixteenth of the bound is not kept.
    c.put(
        "huge".into(),
        bytes::Bytes::from(vec![0u8; TILE_CACHE_BYTES / 8]),
    );
    assert!(c.get("huge").is_none());
}

#[test]
fn a_summary_reads_back_as_the_raster_it_came_from() {
    let mut r = Raster::new(10_000, 8_000, &[]);
    for i in 0..500u64 {
        r.put(&ann(
            i,
            5 + i % 3,
            (i * 97 % 9_000) as f64,
            (i * 31 % 7_000) as f64,
            10.0,
            10.0,
            false,
        ));
    }
    r.put(&ann(900, 5, 100.0, 100.0, 3_000.0, 2_000.0, false));
    let bytes = r.encode();
    let back = Raster::decode(&bytes, 10_000, 8_000, &[]).unwrap();
    assert_eq!(back.counts, r.counts);
    assert_eq!(back.outlines.len(), 1);
    assert!(!back.exact_ids && back.slots.is_empty());
    let area = BBox::new(0.0, 0.0, 10_000.0, 8_000.0);
    let colors = HashMap::new();
    let (mut a, mut b) = (Canvas::new(256, 205), Canvas::new(256, 205));
    r.draw(&mut a, &area, 256.0 / 10_000.0, &colors, None);
    back.draw(&mut b, &area, 256.0 / 10_000.0, &colors, None);
    assert_eq!(a.img.encode_png().unwrap(), b.img.encode_png().unwrap());
    assert_eq!(back.encode(), bytes, "stable");

    // Another geometry, truncation, garbage, lying counts: errors, no panic.
    assert!(
        Raster::decode(&bytes, 20_000, 8_000, &[])
            .unwrap_err()
            .contains("grid")
    );
    for n in [0, 3, 10, 30, bytes.len() - 1] {
        assert!(
            Raster::decode(&bytes[..n], 10_000, 8_000, &[]).is_err(),
            "{n}"
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(Raster::decode(&long, 10_000, 8_000, &[]).is_err());
    let mut lie = bytes.clone();
    lie[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Raster::decode(&lie, 10_000, 8_000, &[]).is_err());
    for seed in 0..200u32 {
        let mut junk = bytes.clone();
        let at = (seed as usize * 7919) % junk.len();
        junk[at] ^= 0x5a;
        let _ = Raster::decode(&junk, 10_000, 8_000, &[]);
    }

    // Read back, it takes creates; an update or delete marks it stale.
    let mut back = back;
    back.put(&ann(1000, 5, 50.0, 50.0, 10.0, 10.0, false));
    assert_eq!(all(&back), all(&r) + 1);
}

#[test]
fn a_read_back_raster_takes_creates_and_turns_stale_on_updates() {
    let mut r = Raster::new(10_000, 10_000, &[]);
    r.put(&ann(1, 5, 100.0, 100.0, 10.0, 10.0, false));
    let back = Raster::decode(&r.encode(), 10_000, 10_000, &[]).unwrap();
    let o = Overviews::new();
    let slot = o.slot((ImageId(1), Class::All, None));
    assert!(slot.store(back, 0, || 0, 7));
    assert_eq!((slot.stamp(), slot.epoch()), (7, 1));
    let change = |op, a: &[Annotation]| {
        o.apply(&AnnotationsChanged {
            op,
            actor: UserId(7),
            time: exact_core::Timestamp::default(),
            annotations: a,
        })
    };
    change(
        ChangeOp::Created,
        &[ann(2, 5, 5000.0, 5000.0, 10.0, 10.0, false)],
    );
    assert_eq!(slot.with(|r| (all(r), r.is_stale())), Some((2, false)));
    assert!(slot.has_writes());
    change(
        ChangeOp::Updated,
        &[ann(1, 5, 100.0, 100.0, 10.0, 10.0, true)],
    );
    assert_eq!(
        slot.with(Raster::is_stale),
        Some(true),
        "it cannot uncount the old version"
    );
}
