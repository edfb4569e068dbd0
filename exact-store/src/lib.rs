//! exact-store: the storage adapters of exact-rs and [`Exact`], the library handle that opens
//! everything from one configuration and exposes the use cases as typed methods.
//!
//! ```
//! use exact_core::{BBox, Vector, VectorType};
//! use exact_core::catalog::{AnnotationQuery, NewAnnotation, NewAnnotationType, NewImage,
//!     NewImageSet, NewProduct, NewTeam, NewUser};
//! use exact_store::{Exact, ExactConfig};
//!
//! let exact = Exact::open(ExactConfig::memory())?;
//! let alice = exact.users().register(NewUser::new("alice"))?;
//! let me = exact.actor(alice.id)?;
//! let team = exact.teams().create(&me, NewTeam::new("pathology"))?;
//! let me = exact.actor(alice.id)?; // roles are loaded per request
//! let set = exact.image_sets().create(&me, NewImageSet::new("mitoses", team.id))?;
//! let product = exact.products().create(&me, NewProduct {
//!     name: "cells".into(), team: Some(team.id), imagesets: vec![set.id], ..Default::default()
//! })?;
//! let mitosis = exact.annotation_types().create(&me,
//!     NewAnnotationType::new("mitosis", VectorType::BoundingBox, product.id))?;
//! let image = exact.images().add(&me, NewImage::new(set.id, "slide.svs", 100_000, 80_000))?;
//! exact.annotations().create(&me, NewAnnotation::new(mitosis.id, image.id,
//!     Some(Vector::rect(5_000.0, 5_000.0, 5_050.0, 5_050.0))))?;
//! let seen = exact.annotations().query(&me, image.id,
//!     &AnnotationQuery::viewport(BBox::new(4_000.0, 4_000.0, 6_000.0, 6_000.0)))?;
//! assert_eq!(seen.len(), 1);
//! # Ok::<(), exact_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod blobs;
pub mod demo;
pub mod files;
mod handle;
mod import_jobs;
pub mod meta;
pub mod pixels;
pub mod registration;
pub mod secrets;

pub use blobs::Blobs;
pub use files::worker::ConversionWorker;
pub use files::{ImageFiles, MediaStore, Outcome, Received};
pub use handle::{Exact, ExactConfig};
pub use meta::open_meta_store;
pub use secrets::Argon2Secrets;
