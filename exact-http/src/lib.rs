//! exact-http: the EXACT-compatible HTTP layer over the library handle.
#![warn(missing_docs)]
