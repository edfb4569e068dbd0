//! exact-store: storage adapters and the `Exact` library handle.
#![warn(missing_docs)]
