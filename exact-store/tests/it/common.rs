//! Helpers shared by the store suites: the kit's backends and world (crate `exact-tests`).

pub use exact_tests::{Backend, World, memory, postgres, sled};

/// Runs `$body` (a fn taking a `Backend`) once per backend, as separate tests.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod memory_backend {
            $(#[test] fn $name() { super::$name($crate::common::memory()) })*
        }
        mod sled_backend {
            $(#[test] fn $name() { super::$name($crate::common::sled()) })*
        }
        mod postgres_backend {
            $(#[test] fn $name() {
                if let Some(b) = $crate::common::postgres() { super::$name(b) }
            })*
        }
    };
}
