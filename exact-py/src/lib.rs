//! exact-py: Python bindings of exact-rs (module `exact_wsi`).
