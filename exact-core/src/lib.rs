//! exact-core: the domain of exact-rs — model, validation, geometry, permissions, use cases and
//! the port traits the storage adapters implement. Pure and synchronous: no runtime, no I/O crates.
#![warn(missing_docs)]
