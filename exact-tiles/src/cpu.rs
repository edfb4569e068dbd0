//! The bounded CPU pool: decode, resize and encode run on tokio's blocking threads behind a
//! semaphore sized to the machine's cores, never inline in an async task. Without a tokio
//! runtime (sync callers, fuzzing) the work runs on the calling thread.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

fn permits() -> &'static Semaphore {
    static SEM: OnceLock<Semaphore> = OnceLock::new();
    SEM.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(n)
    })
}

/// Run `f` on the CPU pool and wait for it.
pub async fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    let _permit = permits().acquire().await;
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
