//! The worker that runs model plugins' jobs (issue 16): `EXACT_MODEL_WORKERS` jobs at a time
//! (default 1), each tile by tile. Each
//! tile's pixels go to the model as PNG or JPEG (`POST <url>?image=&level=&x=&y=&w=&h=&tile=`,
//! level-0 `x`/`y`, level-`level` `w`/`h`) — or, for a plugin with `model_input: url`, as JSON
//! naming the region with a `tile_url` and a `token` that reads only that image for a few
//! minutes (the model fetches the pixels itself) — with, for a job with prompts, those inside
//! the tile in the `X-Exact-Prompts` header (JSON, the tile's pixels), with a timeout and
//! retries; the answer — GeoJSON in the
//! tile's pixel coordinates, or `{"objects": [{"vector": {x1, y1, …}, "class", "score"}]}` —
//! becomes annotations of the job's creator with provenance in `meta_data` (`generated`,
//! `model`, `version`, `score`, `job`, `plugin`), written together with the tile's "done"
//! mark in one batch. A bad answer (timeout, error status, malformed JSON, coordinates outside
//! the tile, more objects than the plugin's cap, an unmapped class) fails the job with the
//! reason; finished tiles stay, the failing one writes nothing. Cancel stops before the next
//! tile; resume queues the job again and skips the tiles done. Of several servers on one
//! store exactly one runs a job: it holds the job's lease while it works, and a job whose
//! server died is queued again (and resumed) once its lease expired.

use exact_core::catalog::{
    JobProgress, JobState, ModelEndpoint, ModelInput, NewAnnotation, Plugin, PluginJob,
};
use exact_core::model::VectorType;
use exact_core::{Actor, AnnotationTypeId, Vector};
use exact_store::Exact;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// Largest answer read from a model.
const MAX_ANSWER: usize = 32 << 20;
/// Attempts per tile (the first plus retries) on timeouts, connection errors and 5xx.
const ATTEMPTS: u32 = 2;

/// How long an image read token of a `model_input: url` job lasts beyond the model's timeout;
/// a new one is minted when half of it is gone, and it is revoked when the job stops.
const TOKEN_TTL: Duration = Duration::from_secs(300);

/// How long reading one region from the slide may take.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a region could not be given to a model.
#[derive(Debug)]
pub(crate) enum RegionError {
    Read(String),
    Encode(String),
}

impl std::fmt::Display for RegionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegionError::Read(e) => write!(f, "cannot read the region: {e}"),
            RegionError::Encode(e) => write!(f, "cannot encode the region: {e}"),
        }
    }
}

/// A region as models take it, from the job runner and from `processing/model_tile/` alike:
/// read at `level` on white, encoded as JPEG (quality 90) or PNG, with its MIME type.
pub(crate) async fn region_for_model(
    slide: &exact_tiles::Slide,
    (x, y): (i64, i64),
    level: usize,
    (w, h): (u32, u32),
    jpeg: bool,
) -> Result<(Vec<u8>, &'static str), RegionError> {
    let img = slide
        .read_region_rgb(x, y, level, w, h, [255, 255, 255])
        .await
        .map_err(|e| RegionError::Read(e.to_string()))?;
    exact_tiles::cpu::run(move || {
        if jpeg {
            img.encode_jpeg(90)
                .map(|b| (b, "image/jpeg"))
                .map_err(|e| e.to_string())
        } else {
            img.encode_png()
                .map(|b| (b, "image/png"))
                .map_err(|e| e.to_string())
        }
    })
    .await
    .map_err(RegionError::Encode)
}

/// The server's own URL as models reach it (for `tile_url`), set once at start.
static TILE_BASE: OnceLock<String> = OnceLock::new();

/// Tells the worker where models reach this server (`EXACT_PUBLIC_URL`, else the address
/// it listens on): the base of the `tile_url` a `model_input: url` model fetches.
pub fn set_tile_base(url: &str) {
    let _ = TILE_BASE.set(url.trim_end_matches('/').to_owned());
}

/// The image read token of a running job: minted on first use, renewed before it expires,
/// revoked when dropped.
struct Token {
    exact: Exact,
    user: exact_core::UserId,
    image: exact_core::ImageId,
    ttl: Duration,
    current: Option<(String, std::time::Instant)>,
}

impl Token {
    async fn get(&mut self) -> Result<String, String> {
        if let Some((secret, at)) = &self.current
            && at.elapsed() < self.ttl / 2
        {
            return Ok(secret.clone());
        }
        self.end();
        let (e, user, image) = (self.exact.clone(), self.user, self.image);
        let micros = i64::try_from(self.ttl.as_micros()).unwrap_or(i64::MAX);
        let secret = blocking(move || e.trusted_accounts().start_image_token(user, image, micros))
            .await
            .map_err(|e| format!("cannot mint the image token: {e}"))?;
        self.current = Some((secret.clone(), std::time::Instant::now()));
        Ok(secret)
    }

    fn end(&mut self) {
        if let Some((secret, _)) = self.current.take()
            && let Err(e) = self.exact.trusted_accounts().end_image_token(&secret)
        {
            tracing::warn!("model worker: cannot revoke an image token (it expires): {e}");
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.end();
    }
}

fn notify() -> &'static Arc<Notify> {
    static N: OnceLock<Arc<Notify>> = OnceLock::new();
    N.get_or_init(|| Arc::new(Notify::new()))
}

/// Tells the worker a job was queued (it also looks every second).
pub fn wake() {
    notify().notify_one();
}

/// The running worker; stops when dropped.
pub struct ModelWorker(tokio::task::JoinHandle<()>);

impl Drop for ModelWorker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the worker on the current runtime. Jobs a previous run left running are queued
/// again (they resume where their done tiles end).
pub fn start(exact: &Exact) -> ModelWorker {
    let exact = exact.clone();
    ModelWorker(tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("model worker: no HTTP client: {e}");
                return;
            }
        };
        let worker = format!("exact-{}", std::process::id());
        // This worker's name in leases (see `Processing::claim_job`): of several servers on
        // one store exactly one runs a job. A store only one process can open keeps one
        // name, so a restart takes over its dead predecessor's jobs at once.
        let meta = exact.config().meta_url();
        let single = meta.starts_with("sled://") || meta.starts_with("memory://");
        let owner = if single {
            0
        } else {
            uuid::Uuid::new_v4().as_u64_pair().0
        };
        let ttl = lease_time();
        // A pool of `EXACT_MODEL_WORKERS` (default 1) jobs at a time; `busy` keeps a job
        // listed again while it waits for a slot or runs from starting twice here.
        let slots = Arc::new(tokio::sync::Semaphore::new(worker_count()));
        let busy: Arc<std::sync::Mutex<std::collections::HashSet<exact_core::PluginJobId>>> =
            Arc::default();
        let mut running = tokio::task::JoinSet::new();
        let mut first = true;
        let mut last_sweep = std::time::Instant::now();
        loop {
            // Jobs a dead server left running are queued again once their lease expired
            // (on a single-process store: all of them, at start).
            if first || last_sweep.elapsed() >= ttl / 2 {
                let (e, all) = (exact.clone(), first && single);
                let swept =
                    blocking(move || e.catalog().processing().requeue_orphans(owner, all)).await;
                match swept {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::info!("model worker: queued again {ids:?}");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("model worker: cannot look for orphaned jobs: {e}"),
                }
                first = false;
                last_sweep = std::time::Instant::now();
            }
            let e = exact.clone();
            let queued =
                tokio::task::spawn_blocking(move || e.catalog().processing().queued_model_jobs())
                    .await;
            match queued {
                Ok(Ok(jobs)) => {
                    for (job, plugin) in jobs {
                        if !lock(&busy).insert(job.id) {
                            continue;
                        }
                        // Waits for a free slot: at most `workers` jobs at once.
                        let Ok(permit) = slots.clone().acquire_owned().await else {
                            return;
                        };
                        let (exact, client, worker, busy) =
                            (exact.clone(), client.clone(), worker.clone(), busy.clone());
                        running.spawn(async move {
                            let id = job.id;
                            run(&exact, &client, &worker, owner, ttl, job, plugin).await;
                            lock(&busy).remove(&id);
                            drop(permit);
                        });
                    }
                }
                Ok(Err(e)) => tracing::warn!("model worker: cannot list jobs: {e}"),
                Err(e) => tracing::warn!("model worker: {e}"),
            }
            while running.try_join_next().is_some() {}
            let _ = tokio::time::timeout(Duration::from_secs(1), notify().notified()).await;
        }
    }))
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How many model jobs one server runs at once (`EXACT_MODEL_WORKERS`, 1–64, default 1).
fn worker_count() -> usize {
    std::env::var("EXACT_MODEL_WORKERS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(1)
}

/// How long a model job's lease lasts unless renewed (`EXACT_MODEL_LEASE_SECS`, default 30):
/// how soon another server takes over the jobs of a server that died. The owner renews it
/// every third of that; every server looks for orphaned jobs every half.
fn lease_time() -> Duration {
    let secs = std::env::var("EXACT_MODEL_LEASE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| (1..=3600).contains(s))
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// A job lease this worker holds: renewed in the background, released when dropped.
struct Held {
    exact: Exact,
    id: exact_core::PluginJobId,
    owner: u64,
    renew: tokio::task::AbortHandle,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renew.abort();
        if let Err(e) = self
            .exact
            .catalog()
            .processing()
            .release_job(self.id, self.owner)
        {
            tracing::warn!(
                "model worker: {}: cannot release its lease (it will expire): {e}",
                self.id
            );
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> exact_core::Result<T> + Send + 'static,
) -> exact_core::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(exact_core::Error::invalid("worker", e.to_string())))
}

async fn advance(
    exact: &Exact,
    job: &PluginJob,
    from: &'static [JobState],
    progress: JobProgress,
) -> Option<PluginJob> {
    let (e, id) = (exact.clone(), job.id);
    blocking(move || e.catalog().processing().advance_job(id, from, progress))
        .await
        .unwrap_or_else(|err| {
            tracing::warn!("model worker: {id}: {err}");
            None
        })
}

async fn run(
    exact: &Exact,
    client: &reqwest::Client,
    worker: &str,
    owner: u64,
    ttl: Duration,
    job: PluginJob,
    plugin: Plugin,
) {
    let Some(model) = plugin.model.clone() else {
        return;
    };
    let micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
    let (e, id, name) = (exact.clone(), job.id, worker.to_owned());
    let claimed = blocking(move || e.catalog().processing().claim_job(id, owner, &name, micros))
        .await
        .unwrap_or_else(|err| {
            tracing::warn!("model worker: {id}: {err}");
            None
        });
    let Some(job) = claimed else { return };
    let renew = {
        let exact = exact.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let e = exact.clone();
                match blocking(move || e.catalog().processing().renew_job(id, owner, micros)).await
                {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("model worker: {id}: lost its lease"),
                    Err(e) => tracing::warn!("model worker: {id}: cannot renew its lease: {e}"),
                }
            }
        })
    };
    let _held = Held {
        exact: exact.clone(),
        id,
        owner,
        renew: renew.abort_handle(),
    };
    let outcome = run_tiles(exact, client, &job, &plugin, &model, (owner, micros)).await;
    let progress = match outcome {
        Ok(true) => JobProgress {
            state: Some(JobState::Done),
            ..Default::default()
        },
        // Cancelled meanwhile: leave it so.
        Ok(false) => return,
        Err(reason) => {
            tracing::info!("{}: failed: {reason}", job.id);
            JobProgress {
                state: Some(JobState::Failed),
                error: Some(reason),
                ..Default::default()
            }
        }
    };
    advance(exact, &job, &[JobState::Running], progress).await;
}

/// Runs the tiles not done yet; `Ok(false)` when the job was cancelled or its lease lost
/// (`lease` = owner and time to live: this worker stops if another took the job over).
async fn run_tiles(
    exact: &Exact,
    client: &reqwest::Client,
    job: &PluginJob,
    plugin: &Plugin,
    model: &ModelEndpoint,
    lease: (u64, i64),
) -> Result<bool, String> {
    let creator = job.creator.ok_or("the job has no creator")?;
    let (e, image) = (exact.clone(), job.image);
    let actor = blocking(move || e.actor(creator))
        .await
        .map_err(|e| e.to_string())?;
    let (_, dz) = exact
        .pixels(&actor, image, None)
        .await
        .map_err(|e| format!("cannot read {image}: {e}"))?;
    let slide = dz.slide().clone();
    let level = (model.level as usize).min(slide.level_count().saturating_sub(1));
    let ds = slide.level_downsamples()[level];
    let (width, height) = slide.dimensions();
    let [rx, ry, rw, rh] = job.region.unwrap_or([0, 0, width, height]);
    let step = ((model.tile_size as f64) * ds).round().max(1.0) as u64;
    let cols = rw.div_ceil(step);
    let rows = rh.div_ceil(step);
    let total = cols * rows;
    let types = types_of(exact, &actor, model).await?;
    let (e, id) = (exact.clone(), job.id);
    let done = blocking(move || e.catalog().processing().tiles_done(id))
        .await
        .map_err(|e| e.to_string())?;
    advance(
        exact,
        job,
        &[JobState::Running],
        JobProgress {
            tiles_total: Some(total),
            ..Default::default()
        },
    )
    .await;
    let mut token = Token {
        exact: exact.clone(),
        user: creator,
        image,
        ttl: TOKEN_TTL + Duration::from_secs(model.timeout_secs.into()),
        current: None,
    };
    let base = TILE_BASE.get();
    if model.input == ModelInput::Url && base.is_none() {
        return Err(
            "the server does not know the URL models reach it at (set EXACT_PUBLIC_URL)".into(),
        );
    }
    for tile in 0..total {
        if done.contains(&tile) {
            continue;
        }
        let (e, id) = (exact.clone(), job.id);
        let (now, ours) = blocking(move || {
            let p = e.catalog().processing();
            Ok((p.job_state(id)?, p.renew_job(id, lease.0, lease.1)?))
        })
        .await
        .map_err(|e| e.to_string())?;
        if now != JobState::Running || !ours {
            return Ok(false);
        }
        let (col, row) = (tile % cols, tile / cols);
        let x0 = rx + col * step;
        let y0 = ry + row * step;
        let w0 = step.min(rx + rw - x0);
        let h0 = step.min(ry + rh - y0);
        let w = ((w0 as f64 / ds).ceil() as u32).max(1);
        let h = ((h0 as f64 / ds).ceil() as u32).max(1);
        let prompts: Vec<Value> = job
            .prompts
            .iter()
            .filter_map(|p| p.in_region(x0 as f64, y0 as f64, w0 as f64, h0 as f64, ds))
            .collect();
        let (body, mime) = if model.input == ModelInput::Url {
            let secret = token.get().await?;
            let base = base.map(String::as_str).unwrap_or_default();
            let v = json!({
                "image": image.0, "level": level, "x": x0, "y": y0, "w": w, "h": h,
                "tile": tile,
                "tile_url": format!("{base}/api/v1/processing/model_tile/?x={x0}&y={y0}&level={level}&w={w}&h={h}"),
                "token": secret,
                "expires_in": token.ttl.as_secs() / 2,
                "prompts": prompts,
            });
            (v.to_string().into_bytes(), "application/json")
        } else {
            let jpeg = model.input == ModelInput::Jpeg;
            let pixels = async {
                region_for_model(&slide, (x0 as i64, y0 as i64), level, (w, h), jpeg)
                    .await
                    .map_err(|e| format!("tile {tile}: {e}"))
            };
            // Bounded: a read that never completes fails the job (resumable) instead of
            // leaving it running forever.
            tokio::time::timeout(READ_TIMEOUT, pixels)
                .await
                .map_err(|_| {
                    format!(
                        "tile {tile}: the region was not read within {} s",
                        READ_TIMEOUT.as_secs()
                    )
                })??
        };
        // A job with prompts sends them with every tile (`[]` where none touches it).
        let prompts = (!job.prompts.is_empty()).then(|| Value::Array(prompts).to_string());
        let url = format!(
            "{}{}image={}&level={level}&x={x0}&y={y0}&w={w}&h={h}&tile={tile}",
            model.url,
            if model.url.contains('?') { "&" } else { "?" },
            image.0
        );
        let answer = call(client, &url, (body, mime), prompts, model.timeout_secs)
            .await
            .map_err(|e| format!("tile {tile} ({x0}, {y0}): {e}"))?;
        let objects = parse_answer(&answer, model.max_objects, w, h)
            .map_err(|e| format!("tile {tile} ({x0}, {y0}): {e}"))?;
        let mut news = Vec::with_capacity(objects.len());
        for o in objects {
            let (t, vt) = types.get(&o.class).copied().ok_or_else(|| {
                format!(
                    "tile {tile}: the model answered class {:?}, which the plugin does not map to an annotation type",
                    o.class
                )
            })?;
            let level0: Vec<(i64, i64)> = o
                .points
                .iter()
                .map(|(px, py)| {
                    (
                        (x0 as f64 + px * ds).round() as i64,
                        (y0 as f64 + py * ds).round() as i64,
                    )
                })
                .collect();
            let vector = vector_for(vt, &level0)
                .map_err(|e| format!("tile {tile}: object of class {:?}: {e}", o.class))?;
            let mut n = NewAnnotation::new(t, image, Some(vector));
            n.meta_data = json!({
                "generated": true,
                "model": plugin.name,
                "version": model.version,
                "score": o.score,
                "class": o.class,
                "job": job.id.0,
                "plugin": plugin.id.0,
            });
            news.push(n);
        }
        let (e, j) = (exact.clone(), job.clone());
        blocking(move || e.catalog().processing().commit_tile(&j, tile, news))
            .await
            .map_err(|e| format!("tile {tile}: cannot store the proposals: {e}"))?;
        advance(exact, job, &[JobState::Running], JobProgress::default()).await;
    }
    Ok(true)
}

async fn types_of(
    exact: &Exact,
    actor: &Actor,
    model: &ModelEndpoint,
) -> Result<HashMap<String, (AnnotationTypeId, VectorType)>, String> {
    let (e, a, classes) = (exact.clone(), actor.clone(), model.classes.clone());
    blocking(move || {
        let mut out = HashMap::new();
        for (class, t) in classes {
            let ty = e.annotation_types().get(&a, t)?;
            out.insert(class, (t, ty.vector_type));
        }
        Ok(out)
    })
    .await
    .map_err(|e| format!("the plugin's classes: {e}"))
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    (body, mime): (Vec<u8>, &str),
    prompts: Option<String>,
    timeout: u32,
) -> Result<Vec<u8>, String> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut req = client
            .post(url)
            .header("Content-Type", mime)
            .timeout(Duration::from_secs(timeout.into()))
            .body(body.clone());
        if let Some(p) = &prompts {
            req = req.header("X-Exact-Prompts", p);
        }
        let sent = req.send().await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                last = format!("the model did not answer within {timeout} s");
                continue;
            }
            Err(e) => {
                last = format!("cannot reach the model: {e}");
                continue;
            }
        };
        let status = resp.status();
        if !status.is_success() {
            last = format!("the model answered HTTP {status}");
            if status.is_server_error() {
                continue;
            }
            return Err(last);
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_ANSWER {
                        return Err(format!(
                            "the model's answer is larger than {MAX_ANSWER} bytes"
                        ));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => return Ok(body),
                Err(e) if e.is_timeout() => {
                    last = format!("the model did not answer within {timeout} s");
                    break;
                }
                Err(e) => {
                    last = format!("the model's answer broke off: {e}");
                    break;
                }
            }
        }
    }
    Err(format!("{last} (after {ATTEMPTS} attempts)"))
}

/// One object of a model's answer, in the tile's pixel coordinates.
#[derive(Debug, PartialEq)]
pub struct Proposal {
    /// Class name.
    pub class: String,
    /// Score, if given.
    pub score: Option<f64>,
    /// Points (a polygon without its closing point, or one point).
    pub points: Vec<(f64, f64)>,
}

/// Reads a model's answer: at most `max_objects` objects, every point inside the `w` × `h`
/// tile.
pub fn parse_answer(
    body: &[u8],
    max_objects: u32,
    w: u32,
    h: u32,
) -> Result<Vec<Proposal>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    let items = v
        .get("features")
        .or_else(|| v.get("objects"))
        .and_then(Value::as_array)
        .ok_or("expected a GeoJSON FeatureCollection or {\"objects\": [...]}")?;
    if items.len() > max_objects as usize {
        return Err(format!(
            "too many objects: {} (the plugin accepts at most {max_objects} per tile)",
            items.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let props = item.get("properties").unwrap_or(item);
        let class = props
            .get("class")
            .or_else(|| props.get("classification").and_then(|c| c.get("name")))
            .and_then(Value::as_str)
            .ok_or(format!("object {i}: no class"))?
            .to_owned();
        let score = props.get("score").and_then(Value::as_f64);
        let points = if let Some(g) = item.get("geometry") {
            geojson_points(g).map_err(|e| format!("object {i}: {e}"))?
        } else if let Some(vec) = item.get("vector").and_then(Value::as_object) {
            let mut pts = Vec::new();
            for n in 1.. {
                match (vec.get(&format!("x{n}")), vec.get(&format!("y{n}"))) {
                    (Some(x), Some(y)) => pts.push((
                        x.as_f64()
                            .ok_or(format!("object {i}: x{n} is not a number"))?,
                        y.as_f64()
                            .ok_or(format!("object {i}: y{n} is not a number"))?,
                    )),
                    _ => break,
                }
            }
            pts
        } else {
            return Err(format!("object {i}: no geometry or vector"));
        };
        if points.is_empty() {
            return Err(format!("object {i}: no points"));
        }
        for (x, y) in &points {
            if !(x.is_finite() && y.is_finite())
                || *x < 0.0
                || *y < 0.0
                || *x > w as f64
                || *y > h as f64
            {
                return Err(format!(
                    "object {i}: point ({x}, {y}) is outside the {w} × {h} tile"
                ));
            }
        }
        out.push(Proposal {
            class,
            score,
            points,
        });
    }
    Ok(out)
}

fn geojson_points(g: &Value) -> Result<Vec<(f64, f64)>, String> {
    let pair = |p: &Value| -> Result<(f64, f64), String> {
        match p.as_array().map(Vec::as_slice) {
            Some([x, y, ..]) => Ok((
                x.as_f64().ok_or("a coordinate is not a number")?,
                y.as_f64().ok_or("a coordinate is not a number")?,
            )),
            _ => Err("a position is not [x, y]".into()),
        }
    };
    let coords = g.get("coordinates").ok_or("geometry without coordinates")?;
    match g.get("type").and_then(Value::as_str) {
        Some("Point") => Ok(vec![pair(coords)?]),
        Some("Polygon") => {
            let ring = coords
                .as_array()
                .and_then(|r| r.first())
                .and_then(Value::as_array)
                .ok_or("a polygon without an outer ring")?;
            let mut pts: Vec<(f64, f64)> = ring.iter().map(pair).collect::<Result<_, _>>()?;
            if pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            Ok(pts)
        }
        Some("LineString") => coords
            .as_array()
            .ok_or("a line without positions")?
            .iter()
            .map(pair)
            .collect(),
        other => Err(format!("geometry type {other:?} is not supported")),
    }
}

/// The vector of an object for an annotation type: boxes take the bounding box, points the
/// centre, lines and polygons the points.
fn vector_for(vt: VectorType, pts: &[(i64, i64)]) -> exact_core::Result<Vector> {
    let (minx, maxx) = (pts.iter().map(|p| p.0).min(), pts.iter().map(|p| p.0).max());
    let (miny, maxy) = (pts.iter().map(|p| p.1).min(), pts.iter().map(|p| p.1).max());
    let (minx, maxx, miny, maxy) = (
        minx.unwrap_or(0),
        maxx.unwrap_or(0),
        miny.unwrap_or(0),
        maxy.unwrap_or(0),
    );
    let mut m = serde_json::Map::new();
    match vt {
        VectorType::BoundingBox | VectorType::FixedSizeBoundingBox => {
            m.insert("x1".into(), minx.into());
            m.insert("y1".into(), miny.into());
            m.insert("x2".into(), maxx.max(minx + 1).into());
            m.insert("y2".into(), maxy.max(miny + 1).into());
        }
        VectorType::Point => {
            m.insert("x1".into(), ((minx + maxx) / 2).into());
            m.insert("y1".into(), ((miny + maxy) / 2).into());
        }
        _ => {
            for (i, (x, y)) in pts.iter().enumerate() {
                m.insert(format!("x{}", i + 1), (*x).into());
                m.insert(format!("y{}", i + 1), (*y).into());
            }
        }
    }
    Vector::from_json(&Value::Object(m))?
        .ok_or_else(|| exact_core::Error::invalid("vector", "empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        let ok = br#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,4],[0,0]]]},"properties":{"class":"a","score":0.5}}]}"#;
        let p = parse_answer(ok, 10, 8, 8).unwrap();
        assert_eq!(p[0].points, vec![(0.0, 0.0), (4.0, 0.0), (4.0, 4.0)]);
        assert!(parse_answer(ok, 10, 2, 2).unwrap_err().contains("outside"));
        assert!(parse_answer(ok, 0, 8, 8).unwrap_err().contains("too many"));
        assert!(
            parse_answer(b"{\"features\": [", 10, 8, 8)
                .unwrap_err()
                .contains("malformed")
        );
        let v = br#"{"objects":[{"vector":{"x1":1,"y1":2},"class":"b"}]}"#;
        assert_eq!(
            parse_answer(v, 10, 8, 8).unwrap()[0].points,
            vec![(1.0, 2.0)]
        );
    }
}
