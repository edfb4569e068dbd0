//! exact-core: the domain of exact-rs — EXACT's data model, vector validation and geometry,
//! permission rules, the use cases, and the [`MetaStore`](store::MetaStore) port that storage
//! adapters implement. Pure and synchronous: no runtime, no I/O, no storage or web crates.
//!
//! ```
//! use exact_core::{Vector, VectorType};
//! let v = Vector::from_json(&serde_json::json!({"x1": 10, "y1": 20, "x2": 60, "y2": 70}))
//!     .unwrap()
//!     .unwrap();
//! assert!(Vector::validate(Some(&v), VectorType::BoundingBox, 0).is_ok());
//! assert_eq!(v.bbox().unwrap().width(), 50.0);
//! assert_eq!(v.to_json()["x2"], 60);
//! ```
#![warn(missing_docs)]

pub mod catalog;
pub mod codec;
mod error;
pub mod export_template;
pub mod geometry;
pub mod grid;
mod ids;
pub mod keys;
pub mod limits;
pub mod model;
pub mod pages;
pub mod permissions;
pub mod record;
pub mod store;
mod time;
pub mod vector;
pub mod wire;

pub use catalog::Catalog;
pub use error::{Error, ErrorKind, Result};
pub use geometry::{BBox, Measures};
pub use ids::*;
pub use model::VectorType;
pub use permissions::Actor;
pub use time::{Clock, SystemClock, Timestamp};
pub use vector::{Point, Vector};
