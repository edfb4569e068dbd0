//! Shared helpers for the exact-rs benchmarks.
