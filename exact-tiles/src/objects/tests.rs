use super::*;
use object_store::{ObjectStoreExt, PutPayload};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn file_url_creates_and_roots_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("blobs/nested");
    let url = format!("file://{}", dir.display());
    let (store, prefix) = object_store_from_url(&url).unwrap();
    assert!(dir.is_dir());
    assert_eq!(prefix, Path::default());
    rt().block_on(async {
        store
            .put(&Path::from("a/b.bin"), PutPayload::from_static(b"hello"))
            .await
            .unwrap();
        let got = store.get_range(&Path::from("a/b.bin"), 1..4).await.unwrap();
        assert_eq!(&got[..], b"ell");
    });
    assert_eq!(std::fs::read(dir.join("a/b.bin")).unwrap(), b"hello");
}

#[test]
fn plain_relative_and_absolute_paths_are_local() {
    let tmp = tempfile::tempdir().unwrap();
    let abs = tmp.path().join("abs");
    let (_, prefix) = object_store_from_url(abs.to_str().unwrap()).unwrap();
    assert!(abs.is_dir());
    assert_eq!(prefix, Path::default());
    // A relative path resolves against the working directory (here the crate directory).
    let rel = format!(
        "target-test-{}/rel",
        std::process::id() // unique per run, removed below
    );
    object_store_from_url(&rel).unwrap();
    assert!(std::path::Path::new(&rel).is_dir());
    std::fs::remove_dir_all(rel.split('/').next().unwrap()).unwrap();
}

#[test]
fn memory_url_gives_an_empty_store_with_prefix() {
    let (store, prefix) = object_store_from_url("memory://x/y/").unwrap();
    assert_eq!(prefix.as_ref(), "x/y");
    rt().block_on(async {
        let p = prefix.clone().join("k");
        store.put(&p, PutPayload::from_static(b"v")).await.unwrap();
        assert_eq!(&store.get_range(&p, 0..1).await.unwrap()[..], b"v");
    });
}

#[test]
fn s3_url_builds_without_network() {
    let (_, prefix) = object_store_from_url("s3://bucket/some/prefix").unwrap();
    assert_eq!(prefix.as_ref(), "some/prefix");
    assert_eq!(
        object_store_from_url("s3:///nobucket").unwrap_err().kind(),
        crate::ErrorKind::InvalidInput
    );
}

#[test]
fn unknown_scheme_lists_known_ones() {
    let err = object_store_from_url("gopher://x/y").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
    let msg = err.to_string();
    for s in KNOWN_SCHEMES {
        assert!(msg.contains(&format!("{s}://")), "{msg}");
    }
}

#[test]
fn object_from_url_roots_at_the_parent_and_never_creates() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("my slide.svs");
    std::fs::write(&file, b"0123456789").unwrap();
    for url in [
        file.display().to_string(),
        format!("file://{}", tmp.path().join("my%20slide.svs").display()),
    ] {
        let (store, path) = object_from_url(&url).unwrap();
        assert_eq!(path.filename(), Some("my slide.svs"));
        let got = rt().block_on(store.get_range(&path, 2..5)).unwrap();
        assert_eq!(&got[..], b"234");
    }
    let missing = tmp.path().join("missing.svs");
    let err = object_from_url(missing.to_str().unwrap()).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
    assert!(!missing.exists());
}

#[test]
fn counting_store_counts_gets_heads_and_bytes() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = CountingStore::new(inner);
    rt().block_on(async {
        let p = Path::from("o");
        store
            .put(&p, PutPayload::from(vec![7u8; 1000]))
            .await
            .unwrap();
        store.get_range(&p, 10..110).await.unwrap();
        store.get_range(&p, 500..510).await.unwrap();
        store.head(&p).await.unwrap();
    });
    let c = store.counts();
    assert_eq!(
        c,
        RequestCounts {
            gets: 2,
            heads: 1,
            bytes: 110,
            writes: 1,
            lists: 0
        }
    );
    store.reset();
    assert_eq!(store.counts(), RequestCounts::default());
}
