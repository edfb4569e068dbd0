//! exact-tiles: the pyramidal slide engine of exact-rs.
//!
//! Slides are read in pure Rust through byte ranges over [`object_store`], so the same code
//! serves a local file or an object in S3: [`objects`] turns URLs into stores, [`source`] reads
//! (coalesced) ranges, [`tiff`] parses TIFF/BigTIFF directories, [`Slide`] exposes levels,
//! properties (OpenSlide's names), zero-copy JPEG tiles, regions and thumbnails, and
//! [`deepzoom`] serves Deep Zoom tiles with openslide-python's geometry.
//!
//! ```
//! let (store, prefix) = exact_tiles::objects::object_store_from_url("memory://blobs").unwrap();
//! assert_eq!(prefix.as_ref(), "blobs");
//! # drop(store);
//! ```
#![warn(missing_docs)]

pub mod cache;
pub mod codec;
pub mod convert;
pub mod cpu;
pub mod deepzoom;
pub mod error;
pub mod image;
pub mod jpeg;
pub mod objects;
pub mod resize;
pub mod slide;
pub mod source;
pub mod tiff;

pub use deepzoom::{DeepZoom, DeepZoomGenerator, DeepZoomOptions, TileInfo};
pub use error::{Error, ErrorKind, Result};
pub use image::Image;
pub use slide::{Level, NativeTile, Slide};
