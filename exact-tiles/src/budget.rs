//! The render memory budget: every render (a region, a Deep Zoom tile, a thumbnail) reserves
//! the bytes it will hold at its peak before it starts, and a render that does not fit in what
//! is left fails at once with [`Error::Busy`] instead of queueing. Memory is then bounded by the
//! budget, whatever many clients ask at the same time, and a server under pressure answers
//! "retry shortly" (HTTP 503 + `Retry-After`) rather than growing until the kernel kills it.
//!
//! The budget is opt-in per slide ([`crate::Slide::with_budget`], or a
//! [`crate::SlideCache::with_budget`] for every slide it opens): a library user reading regions
//! in their own process keeps the unbounded behaviour unless they ask for one.

use std::sync::Arc;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{Error, Result};

/// Default budget: 1 GiB of decoded and composed pixels in flight.
pub const DEFAULT_RENDER_MEMORY: u64 = 1 << 30;

/// The environment variable that sets the budget of [`RenderBudget::from_env`].
pub const RENDER_MEMORY_ENV: &str = "EXACT_RENDER_MEMORY";

/// Budget accounting unit: permits are KiB, so a `u32` count covers 4 TiB.
const UNIT: u64 = 1024;

/// Seconds a client is told to wait when the budget is used up (renders take well under that).
const RETRY_AFTER_SECS: u32 = 1;

/// A memory budget shared by concurrent renders.
#[derive(Debug)]
pub struct RenderBudget {
    bytes: u64,
    permits: Semaphore,
}

/// Bytes held by a render until it is dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    _permit: Option<SemaphorePermit<'a>>,
}

impl RenderBudget {
    /// A budget of `bytes` (at least 1 MiB, so a single small tile always fits).
    pub fn new(bytes: u64) -> Arc<Self> {
        let bytes = bytes.max(1 << 20);
        let units = (bytes / UNIT).min(u64::from(u32::MAX)) as usize;
        Arc::new(Self {
            bytes,
            permits: Semaphore::new(units),
        })
    }

    /// The budget named by `EXACT_RENDER_MEMORY` (bytes, or with a `K`/`M`/`G` suffix, binary
    /// multiples: `512M`, `2G`, `1GiB`), else [`DEFAULT_RENDER_MEMORY`]. A value that does not
    /// parse is an [`Error::InvalidInput`] naming the variable.
    pub fn from_env() -> Result<Arc<Self>> {
        match std::env::var(RENDER_MEMORY_ENV) {
            Ok(v) => Ok(Self::new(parse_bytes(&v).ok_or_else(|| {
                Error::invalid(
                    "EXACT_RENDER_MEMORY",
                    format!("{v:?} is not a size (e.g. 1073741824, 512M, 2G)"),
                )
            })?)),
            Err(_) => Ok(Self::new(DEFAULT_RENDER_MEMORY)),
        }
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Reserve `bytes` for `what`, or fail at once with [`Error::Busy`] when other renders hold
    /// too much of the budget. A render needing more than the whole budget reserves all of it
    /// (it then runs alone) rather than being refused: whether one request may be that large
    /// is decided by the request limits (region size, tile size), not here.
    pub fn try_reserve(&self, bytes: u64, what: &dyn std::fmt::Display) -> Result<Reservation<'_>> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.bytes / UNIT) as u32;
        match self.permits.try_acquire_many(units) {
            Ok(p) => Ok(Reservation { _permit: Some(p) }),
            Err(_) => Err(Error::Busy {
                what: format!(
                    "{what} needs {} MiB of the render memory budget ({} MiB, {RENDER_MEMORY_ENV}), \
                     which other requests are using",
                    bytes.div_ceil(1 << 20),
                    self.bytes >> 20
                ),
                retry_after_secs: RETRY_AFTER_SECS,
            }),
        }
    }
}

/// Reserve from `budget` if there is one.
pub(crate) fn reserve<'a>(
    budget: Option<&'a RenderBudget>,
    bytes: u64,
    what: &dyn std::fmt::Display,
) -> Result<Reservation<'a>> {
    match budget {
        Some(b) => b.try_reserve(bytes, what),
        None => Ok(Reservation { _permit: None }),
    }
}

/// `1073741824`, `512K`, `512M`, `2G`, `1GiB`, `64MB` (all binary multiples).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1073741824"), Some(1 << 30));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
        assert_eq!(parse_bytes(" 64 kb "), Some(64 << 10));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("-1"), None);
        assert_eq!(parse_bytes("99999999999999999999G"), None);
    }

    #[test]
    fn a_full_budget_is_busy_and_frees_on_drop() {
        let b = RenderBudget::new(8 << 20);
        let big = b.try_reserve(6 << 20, &"first").unwrap();
        let err = b.try_reserve(4 << 20, &"second").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Busy);
        assert_eq!(err.retry_after_secs(), Some(1));
        assert!(err.to_string().contains("second"), "{err}");
        drop(big);
        // more than the whole budget: runs alone
        let all = b.try_reserve(100 << 20, &"huge").unwrap();
        assert_eq!(b.available(), 0);
        drop(all);
        assert_eq!(b.available(), 8 << 20);
    }
}
