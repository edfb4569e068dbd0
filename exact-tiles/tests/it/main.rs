//! Integration tests of exact-tiles against real files (tests/fixtures/data) and hostile mutations
//! of them. One test binary (faster to link).

mod hostile;
mod ome_files;
#[cfg(feature = "openslide")]
mod openslide;
mod stores;

pub fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/data")
        .join(name)
}

pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    futures::executor::block_on(f)
}
