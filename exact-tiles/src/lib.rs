//! exact-tiles: the pyramidal slide engine of exact-rs.
//!
//! Slides are read in pure Rust through byte ranges over [`object_store`], so the same code
//! serves a local file or an object in S3:
//!
//! - [`objects`] turns URLs (`file://`, paths, `memory://`, `s3://`) into stores, and counts
//!   requests ([`objects::CountingStore`]);
//! - [`source`] reads (coalesced) byte ranges of one object;
//! - [`tiff`] parses TIFF/BigTIFF directories once per slide, [`dicom`] the headers and frame
//!   tables of DICOM whole-slide image instances;
//! - [`Slide`] exposes levels, OpenSlide-named properties, associated images, zero-copy JPEG
//!   tiles ([`Slide::native_tile`]), regions ([`Slide::read_region`]) and thumbnails;
//! - [`deepzoom`] serves Deep Zoom tiles with openslide-python's geometry, passing native
//!   tiles through and rendering the rest on a bounded CPU pool ([`cpu`]) with a byte-bounded
//!   cache ([`cache`]);
//! - [`budget`] bounds the memory of concurrent renders ([`Error::Busy`] when it is used up),
//!   and [`Slide::check`] refuses damaged or hostile files before they are served;
//! - [`convert`] turns PNG/JPEG/BMP/WebP/striped TIFF uploads into tiled JPEG pyramids.
//!
//! Cargo features: `s3` (default) for `s3://` URLs, `jpeg2000` (default) for Aperio
//! 33003/33005 tiles, `openslide` for formats only OpenSlide reads (local files).
//!
//! ```
//! # futures::executor::block_on(async {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/data/CMU-1-Small-Region.svs");
//! let slide = exact_tiles::Slide::open(path).await.unwrap();
//! assert_eq!(slide.dimensions(), (2220, 2967));
//! let tile = slide.native_tile(0, 0, 0).await.unwrap(); // one ranged read, no decoding
//! assert_eq!(&tile.prefix[..2], &[0xFF, 0xD8]);
//! # });
//! ```
#![warn(missing_docs)]

pub mod budget;
pub mod cache;
pub mod codec;
pub mod convert;
pub mod cpu;
pub mod deepzoom;
pub mod dicom;
pub mod error;
pub mod image;
pub mod jpeg;
pub mod objects;
pub mod overlay;
pub mod register;
pub mod registry;
pub mod resize;
pub mod slide;
pub mod source;
pub mod tiff;

pub use deepzoom::{DeepZoom, DeepZoomGenerator, DeepZoomOptions, TileInfo};
pub use error::{Error, ErrorKind, Result};
pub use image::Image;
pub use registry::SlideCache;
pub use slide::{ChannelSetting, Level, NativeTile, PlaneNames, Slide};
