//! exact-tiles: the pyramidal slide engine of exact-rs.
#![warn(missing_docs)]
