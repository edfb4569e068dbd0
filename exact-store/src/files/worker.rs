//! The conversion worker: the one background job of a store. Uploads of pictures are
//! registered as converting and queued; a [`ConversionWorker`] converts them into tiled
//! pyramidal TIFFs and records the result. Starting one also resumes conversions a previous
//! run left unfinished and removes uploads a crash interrupted. Nothing starts it implicitly:
//! `exact serve` and `exact_wsi.serve` start one; an embedder starts one if it wants
//! conversions (without one, converted images stay `NotReady` until a worker runs).

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

async fn run(exact: Exact, mut rx: mpsc::UnboundedReceiver<Image>, started: std::time::SystemTime) {
    super::sweep(&exact, started).await;
    let e = exact.clone();
    let resumed = super::blocking(move || e.catalog().images().converting()).await;
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut running = tokio::task::JoinSet::new();
    // An upload queued while the worker listed unfinished conversions is in both.
    let mut started_ids = std::collections::HashSet::new();
    let mut start = |image: Image| {
        if !started_ids.insert(image.id) {
            return;
        }
        let (exact, limit) = (exact.clone(), limit.clone());
        running.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else {
                return;
            };
            convert_and_record(&exact, image).await;
        });
    };
    match resumed {
        Ok(images) => {
            for image in images {
                tracing::info!(image = image.id.0, "resuming conversion");
                start(image);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot list unfinished conversions"),
    }
    while let Some(image) = rx.recv().await {
        start(image);
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
    })
}
