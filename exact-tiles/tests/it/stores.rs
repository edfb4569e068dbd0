//! Slides through object stores: the counting wrapper proves request costs.

use std::sync::Arc;

use exact_tiles::Slide;
use exact_tiles::objects::CountingStore;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{block, data};

fn in_memory(name: &str) -> (CountingStore, Path) {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let counting = CountingStore::new(store);
    let path = Path::from(format!("slides/{name}"));
    let bytes = std::fs::read(data(name)).unwrap();
    block(counting.put(&path, PutPayload::from(bytes))).unwrap();
    counting.reset();
    (counting, path)
}

#[test]
fn svs_opens_with_three_gets_and_a_native_tile_costs_one() {
    let (counting, path) = in_memory("CMU-1-Small-Region.svs");
    let slide = block(Slide::open_store(Arc::new(counting.clone()), path)).unwrap();
    let c = counting.counts();
    assert!(c.gets <= 3 && c.heads == 0, "{c:?}");
    counting.reset();
    let tile = block(slide.native_tile(0, 2, 3)).unwrap();
    let c = counting.counts();
    assert_eq!((c.gets, c.heads), (1, 0));
    let local = block(Slide::open(
        data("CMU-1-Small-Region.svs").to_str().unwrap(),
    ))
    .unwrap();
    let want = block(local.native_tile(0, 2, 3)).unwrap();
    assert_eq!(tile.to_bytes(), want.to_bytes());
    // body bytes = stored tile minus SOI, exactly
    assert_eq!(c.bytes as usize, tile.body.len() + 2);
}

#[test]
fn neighbouring_tiles_of_a_region_are_coalesced() {
    let (counting, path) = in_memory("CMU-1-Small-Region.svs");
    let slide = block(Slide::open_store(Arc::new(counting.clone()), path)).unwrap();
    counting.reset();
    // 3 x 3 tiles of 240 px, adjacent in the file
    block(slide.read_region(0, 0, 0, 700, 700)).unwrap();
    assert_eq!(counting.counts().gets, 1);
}

#[test]
fn a_batch_of_neighbouring_native_tiles_is_one_get() {
    let (counting, path) = in_memory("CMU-1-Small-Region.svs");
    let slide = block(Slide::open_store(Arc::new(counting.clone()), path)).unwrap();
    counting.reset();
    let batch = block(slide.native_tiles(0, &[(3, 2), (4, 2), (5, 2)])).unwrap();
    assert_eq!(counting.counts().gets, 1);
    for (t, c) in batch.iter().zip(3..) {
        let one = block(slide.native_tile(0, c, 2)).unwrap();
        assert_eq!(t.to_bytes(), one.to_bytes());
    }
}
