//! `exact_wsi.serve`: the HTTP server of `exact serve` (the same [`exact_http::router`] behind
//! the same accept loop, [`exact_http::serve::serve`]) run in-process on the wheel's runtime, over a store this process already holds, so a notebook
//! and a browser (or EXACT-Sync) can work on one data directory at once.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::runtime::{block_on, runtime};
use crate::store::NativeStore;

/// How long `stop()` lets open requests finish before dropping them.
const GRACE: Duration = Duration::from_secs(10);

/// How to stop a running server, and the task serving it.
type Running = (oneshot::Sender<()>, JoinHandle<std::io::Result<()>>);

/// A running server.
#[pyclass(frozen, module = "exact_wsi._native")]
pub struct NativeServer {
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
    /// The store's conversion worker, started with the server (as `exact serve` does) unless
    /// one runs already; stopped with it.
    worker: Mutex<Option<exact_store::ConversionWorker>>,
}

#[pymethods]
impl NativeServer {
    /// Listen on `bind` (`host:port`, port 0 picks a free one) and serve `store`.
    #[new]
    fn new(py: Python<'_>, store: &NativeStore, bind: String) -> PyResult<Self> {
        let addr: SocketAddr = bind.parse().map_err(|e| {
            crate::errors::invalid(format!(
                "bind must be host:port like 127.0.0.1:0, got {bind:?}: {e}"
            ))
        })?;
        let exact = (*store.exact).clone();
        let listener = block_on(py, tokio::net::TcpListener::bind(addr))?.map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot listen on {addr}: {e}"))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
        let (tx, rx) = oneshot::channel::<()>();
        let worker = {
            let rt = runtime()?;
            let _inside = rt.enter();
            exact_store::ConversionWorker::start(&exact).ok()
        };
        // Import jobs a previous run left unfinished read on from their last written batch.
        if let Err(e) = exact.resume_imports() {
            eprintln!("exact_wsi.serve: unfinished import jobs not resumed: {e}");
        }
        let app = exact_http::router(exact);
        // The accept loop of `exact serve`, with its timeouts and connection cap.
        let opts = exact_http::serve::ServeOptions {
            grace: GRACE,
            ..Default::default()
        };
        let task = runtime()?.spawn(async move {
            exact_http::serve::serve(listener, app, opts, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(Self {
            addr: local,
            running: Mutex::new(Some((tx, task))),
            worker: Mutex::new(worker),
        })
    }

    #[getter]
    fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.addr.port()
    }

    #[getter]
    fn running(&self) -> bool {
        self.running
            .lock()
            .map(|g| g.as_ref().is_some_and(|(_, t)| !t.is_finished()))
            .unwrap_or(false)
    }

    /// Stop accepting, let open requests finish (up to 10 s), then return. Idempotent.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.running.lock().ok().and_then(|mut g| g.take());
        drop(self.worker.lock().ok().and_then(|mut w| w.take()));
        let Some((tx, mut task)) = taken else {
            return Ok(());
        };
        let _ = tx.send(());
        let done = block_on(py, async {
            tokio::time::timeout(GRACE, &mut task).await.is_ok()
        })?;
        if !done {
            task.abort();
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        let state = if self.running() { "running" } else { "stopped" };
        format!("NativeServer(http://{}, {state})", self.addr)
    }
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        // Not stopped explicitly: ask for a graceful stop without waiting for it.
        if let Ok(mut g) = self.running.lock()
            && let Some((tx, _)) = g.take()
        {
            let _ = tx.send(());
        }
        if let Ok(mut w) = self.worker.lock() {
            drop(w.take());
        }
    }
}
