//! exact-tiles: the pyramidal slide engine of exact-rs.
//!
//! Slides are read through byte ranges over [`object_store`], so the same code serves a local
//! file or an object in S3. See [`objects`] for turning URLs into stores.
//!
//! ```
//! let (store, prefix) = exact_tiles::objects::object_store_from_url("memory://blobs").unwrap();
//! assert_eq!(prefix.as_ref(), "blobs");
//! # drop(store);
//! ```
#![warn(missing_docs)]

pub mod error;
pub mod objects;

pub use error::{Error, ErrorKind, Result};
