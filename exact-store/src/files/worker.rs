//! The conversion worker: the one background job of a store. Uploads of pictures are
//! registered as converting and queued; a [`ConversionWorker`] converts them into tiled
//! pyramidal TIFFs and records the result. Starting one also resumes conversions a previous
//! run left unfinished and removes uploads a crash interrupted. Nothing starts it implicitly:
//! `exact serve` and `exact_wsi.serve` start one; an embedder starts one if it wants
//! conversions (without one, converted images stay `NotReady` until a worker runs).
//!
//! Any number of servers may run a worker on one store (PostgreSQL + S3): each conversion is
//! done by the one worker holding its lease, renewed while it works; when a server dies its
//! lease expires and another server's scan finds the conversion and takes it over.

use super::pending::fresh_dir;
use super::receive::{local_copy, put_file};
use crate::Exact;
use exact_core::catalog::PixelUpdate;
use exact_core::model::{Image, PixelState};
use exact_core::{Error, Result};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Conversions run at once by one worker (each is CPU- and memory-heavy).
const PARALLEL: usize = 2;

/// The queue between uploads and the running worker, held by the handle.
#[derive(Debug, Default)]
pub(crate) struct Conversions {
    tx: Mutex<Option<mpsc::UnboundedSender<Image>>>,
}

impl Conversions {
    /// A sender to the running worker, if any.
    fn sender(&self) -> Option<mpsc::UnboundedSender<Image>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Hands an image to the running worker; without one it waits, converting, for the next
    /// worker to start (which resumes every converting image).
    pub(crate) fn queue(&self, image: Image) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(image);
        }
    }
}

/// A running conversion worker. Stops when dropped (or by [`ConversionWorker::stop`]);
/// a conversion in progress is then resumed by the next worker.
#[derive(Debug)]
pub struct ConversionWorker {
    exact: Exact,
    task: tokio::task::JoinHandle<()>,
}

impl ConversionWorker {
    /// Starts the worker of `exact` on the current tokio runtime: removes uploads a crash
    /// interrupted, resumes unfinished conversions, then converts what uploads queue.
    /// `AlreadyExists` if a worker of this handle is running already (one per store).
    pub fn start(exact: &Exact) -> Result<ConversionWorker> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::invalid(
                "runtime",
                "the conversion worker runs on a tokio runtime: start it inside one",
            )
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut slot = exact
                .conversions()
                .tx
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if slot.as_ref().is_some_and(|t| !t.is_closed()) {
                return Err(Error::exists("a conversion worker of this store"));
            }
            *slot = Some(tx);
        }
        let started = std::time::SystemTime::now();
        let task = runtime.spawn(run(exact.clone(), rx, started));
        Ok(ConversionWorker {
            exact: exact.clone(),
            task,
        })
    }

    /// Stops the worker (the same as dropping it).
    pub fn stop(self) {}
}

impl Drop for ConversionWorker {
    fn drop(&mut self) {
        self.task.abort();
        let mut slot = self
            .exact
            .conversions()
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *slot = None;
    }
}

/// How long a conversion's lease lasts unless renewed (`EXACT_CONVERSION_LEASE_SECS`, default
/// 30): how soon another server takes over the conversions of a server that died. The owner
/// renews it every third of that, and every server looks for orphaned conversions every half.
fn lease_time() -> std::time::Duration {
    let secs = std::env::var("EXACT_CONVERSION_LEASE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
        .unwrap_or(30);
    std::time::Duration::from_secs(secs)
}

async fn run(exact: Exact, mut rx: mpsc::UnboundedReceiver<Image>, started: std::time::SystemTime) {
    super::sweep(&exact, started).await;
    // This worker's name in leases: any number of servers share the store, and each
    // conversion is done by the one holding its lease (see `exact_core::catalog::Leases`).
    // A store only one process can open (sled locks its directory, memory is private) has
    // one worker at a time: it keeps one name, so a restart after a crash takes the dead
    // worker's leases over at once instead of waiting for them to expire. (The same reading
    // of the URL as the start-up sweep's: a handle opened over a shared store must name it.)
    let meta = exact.config().meta_url();
    let owner = if meta.starts_with("sled://") || meta.starts_with("memory://") {
        0
    } else {
        uuid::Uuid::new_v4().as_u64_pair().0
    };
    let lease = lease_time();
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut running = tokio::task::JoinSet::new();
    // Conversions this worker is on (or waiting for a slot); an image met twice (queued by an
    // upload and found by a scan) runs once.
    let busy = Arc::new(Mutex::new(std::collections::HashSet::new()));
    // Unfinished conversions (left by a restart, or by a server that died) are found by
    // scanning at start and then every half lease; their lease says whether anyone is on them.
    {
        let (exact, tx) = (exact.clone(), exact.conversions().sender());
        running.spawn(async move {
            let Some(tx) = tx else { return };
            loop {
                let e = exact.clone();
                match super::blocking(move || e.catalog().images().converting()).await {
                    Ok(images) => {
                        for image in images {
                            if tx.send(image).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot list unfinished conversions"),
                }
                tokio::time::sleep(lease / 2).await;
            }
        });
    }
    while let Some(image) = rx.recv().await {
        if !busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image.id)
        {
            continue;
        }
        let (exact, limit, busy) = (exact.clone(), limit.clone(), busy.clone());
        running.spawn(async move {
            let id = image.id;
            if let Ok(_permit) = limit.acquire_owned().await {
                leased(&exact, image, owner, lease).await;
            }
            busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }
}

/// Converts `image` if this worker gets its lease (and it still needs converting), renewing
/// the lease while it works and giving it up when the result is recorded.
async fn leased(exact: &Exact, image: Image, owner: u64, lease: std::time::Duration) {
    let id = image.id;
    let ttl = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    let e = exact.clone();
    let claimed = super::blocking(move || {
        if !e.catalog().leases().claim(id.0, owner, ttl)? {
            return Ok(false);
        }
        // Another server may have finished it between the scan and the claim.
        let still = e.catalog().images().converting()?;
        Ok(still.iter().any(|i| i.id == id))
    })
    .await;
    match claimed {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(image = id.0, error = %e, "cannot take the conversion's lease");
            return;
        }
    }
    tracing::info!(image = id.0, "converting");
    let renew = {
        let exact = exact.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let e = exact.clone();
                match super::blocking(move || e.catalog().leases().claim(id.0, owner, ttl)).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(image = id.0, "lost the conversion's lease"),
                    Err(e) => tracing::warn!(image = id.0, error = %e, "cannot renew a lease"),
                }
            }
        })
    };
    // Renewal stops and the lease is released however this ends: done, or the worker stopped
    // (dropped) mid-conversion, so the next worker need not wait for the lease to expire.
    let _held = Held {
        exact: exact.clone(),
        id,
        owner,
        renew: renew.abort_handle(),
    };
    convert_and_record(exact, image).await;
}

/// A lease this worker holds; released when dropped.
struct Held {
    exact: Exact,
    id: exact_core::ImageId,
    owner: u64,
    renew: tokio::task::AbortHandle,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renew.abort();
        // One small write; if it fails the lease simply expires.
        if let Err(e) = self.exact.catalog().leases().release(self.id.0, self.owner) {
            tracing::warn!(image = self.id.0, error = %e, "cannot release a lease (it will expire)");
        }
    }
}

async fn convert_and_record(exact: &Exact, image: Image) {
    let id = image.id;
    let update = match convert(exact, &image).await {
        Ok(update) => update,
        Err(reason) => {
            tracing::warn!(image = id.0, %reason, "conversion failed");
            PixelUpdate {
                state: PixelState::Failed,
                // Shown to every reader of the image: without server paths.
                state_detail: scrub(exact, &reason),
                filename: None,
                width: None,
                height: None,
                mpp: None,
                objective_power: None,
                planes: None,
                frame_descriptions: None,
            }
        }
    };
    let e = exact.clone();
    match super::blocking(move || e.catalog().images().record_pixels(id, update)).await {
        Ok(done) => exact.pixel_cache().invalidate(&done),
        Err(e) => tracing::error!(image = id.0, error = %e, "recording a conversion failed"),
    }
}

/// `text` without the store's directories and the temporary directory.
fn scrub(exact: &Exact, text: &str) -> String {
    let mut out = text.to_owned();
    let mut secrets = vec![
        (exact.blobs().url().to_owned(), "<blobs>"),
        (
            std::env::temp_dir()
                .display()
                .to_string()
                .trim_end_matches('/')
                .to_owned(),
            "<tmp>",
        ),
    ];
    if let Ok(Some(p)) = exact.blobs().local_path("x")
        && let Some(dir) = p.parent()
    {
        secrets.push((dir.display().to_string(), "<blobs>"));
    }
    if let Ok(dir) = std::path::absolute(&exact.config().data_dir) {
        secrets.push((dir.display().to_string(), "<data>"));
    }
    secrets.retain(|(s, _)| s.len() >= 4);
    secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    for (s, placeholder) in secrets {
        out = out.replace(&s, placeholder);
    }
    out
}

async fn convert(exact: &Exact, image: &Image) -> std::result::Result<PixelUpdate, String> {
    let blobs = exact.blobs();
    let original = if image.original.is_empty() {
        &image.filename
    } else {
        &image.original
    };
    let stem = original
        .rsplit('/')
        .next()
        .unwrap_or("image")
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or("image")
        .to_owned();
    let dir = original
        .rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_else(|| fresh_dir().0);
    let key = format!("{dir}/{stem}.pyramid.tiff");
    if !image.frame_sources.is_empty() {
        return convert_frames(exact, image, original, &key).await;
    }
    let (input, _in_guard) = local_copy(blobs, original)
        .await
        .map_err(|e| e.to_string())?;
    let staging = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = match blobs.local_path(&key).map_err(|e| e.to_string())? {
        Some(p) => p.with_extension("part~"),
        None => staging.path().join("pyramid.tiff"),
    };
    let out = output.clone();
    let summary = tokio::task::spawn_blocking(move || {
        exact_tiles::convert::convert_file(
            &input,
            &out,
            &exact_tiles::convert::ConvertOptions::default(),
            &mut |_| {},
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string());
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = tokio::fs::remove_file(&output).await;
            return Err(e);
        }
    };
    put_file(blobs, &output, &key)
        .await
        .map_err(|e| e.to_string())?;
    let (w, h) = summary.levels.first().copied().unwrap_or((1, 1));
    Ok(PixelUpdate {
        state: PixelState::Ready,
        state_detail: String::new(),
        filename: Some(key),
        width: Some(u64::from(w)),
        height: Some(u64::from(h)),
        mpp: None,
        objective_power: None,
        planes: None,
        frame_descriptions: None,
    })
}

/// The conversion of an upload as frames: every file (the original, then `frame_sources`)
/// into one multi-page pyramid, each page named by its frame description.
async fn convert_frames(
    exact: &Exact,
    image: &Image,
    original: &str,
    key: &str,
) -> std::result::Result<PixelUpdate, String> {
    let blobs = exact.blobs();
    let mut inputs = Vec::with_capacity(image.frame_sources.len() + 1);
    let mut guards = Vec::new();
    for (i, src) in std::iter::once(original)
        .chain(image.frame_sources.iter().map(String::as_str))
        .enumerate()
    {
        let (path, guard) = local_copy(blobs, src).await.map_err(|e| e.to_string())?;
        guards.push(guard);
        let name = image
            .frame_descriptions
            .iter()
            .find(|d| d.frame_id as usize == i)
            .map(|d| d.description.clone())
            .unwrap_or_else(|| format!("frame {}", i + 1));
        inputs.push((path, name));
    }
    let staging = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = match blobs.local_path(key).map_err(|e| e.to_string())? {
        Some(p) => p.with_extension("part~"),
        None => staging.path().join("pyramid.tiff"),
    };
    let out = output.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let args: Vec<(&std::path::Path, &str)> = inputs
            .iter()
            .map(|(p, n)| (p.as_path(), n.as_str()))
            .collect();
        exact_tiles::convert::convert_frames(
            &args,
            &out,
            &exact_tiles::convert::ConvertOptions::default(),
            &mut |_| {},
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string());
    drop(guards);
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            let _ = tokio::fs::remove_file(&output).await;
            return Err(e);
        }
    };
    put_file(blobs, &output, key)
        .await
        .map_err(|e| e.to_string())?;
    let (w, h) = summary.levels.first().copied().unwrap_or((1, 1));
    let frames = u32::try_from(image.frame_sources.len() + 1).unwrap_or(u32::MAX);
    Ok(PixelUpdate {
        state: PixelState::Ready,
        state_detail: String::new(),
        filename: Some(key.to_owned()),
        width: Some(u64::from(w)),
        height: Some(u64::from(h)),
        mpp: None,
        objective_power: None,
        planes: Some((1, frames, 3)),
        frame_descriptions: None,
    })
}
