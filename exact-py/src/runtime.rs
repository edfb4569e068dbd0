//! The tokio runtime behind every blocking call, and how Python waits on it.
//!
//! One multi-threaded runtime is created on first use. A forked child inherits the parent's
//! memory but not its threads, so the runtime is keyed by process id and re-created in a child
//! (delta-rs and lance learned this the hard way). While a call runs, the GIL is released; every
//! 100 ms the waiting thread briefly re-takes it to run Python's signal handlers, so Ctrl-C
//! raises `KeyboardInterrupt` instead of waiting for a slow S3 read.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);

/// The runtime of this process, created on first use (and again after `fork`).
pub fn runtime() -> PyResult<Arc<tokio::runtime::Runtime>> {
    let pid = std::process::id();
    // A poisoned lock only means another thread panicked while holding it; the Option is
    // still consistent.
    let mut guard = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, rt)) = guard.as_ref()
        && *owner == pid
    {
        return Ok(rt.clone());
    }
    if let Some((_, stale)) = guard.take() {
        // The parent's worker threads do not exist in this child: never drop (join) it here.
        #[allow(clippy::mem_forget)]
        std::mem::forget(stale);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("exact-wsi")
        .enable_all()
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start runtime: {e}"))
        })?;
    let rt = Arc::new(rt);
    *guard = Some((pid, rt.clone()));
    Ok(rt)
}

/// Run `fut` to completion with the GIL released, checking for Ctrl-C while it runs.
pub fn block_on<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    py.detach(|| {
        rt.block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    out = &mut fut => return Ok(out),
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}
