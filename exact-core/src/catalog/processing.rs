//! Model-assisted annotation (issue 16): EXACT's processing app — plugins, plugin jobs and
//! their results — and exact-rs's model plugins, whose jobs a worker outside core runs tile
//! by tile, writing proposals as annotations marked `generated` in `meta_data`.
//!
//! Who may do what: plugins are seen by members of the teams of their products (a plugin
//! without products by everyone) and registered or changed by superusers or the admins of
//! every product's team; a model URL must start with a prefix the server allows
//! ([`ModelAllowlist`]). Jobs, results and everything under them belong to an image: read by
//! whoever reads the image, written by whoever may annotate it.

use super::processing_model::*;
use super::{Catalog, Tx, check_name, check_text};
use crate::catalog::NewAnnotation;
use crate::ids::*;
use crate::keys::Key;
use crate::model::{Image, ImageSet, Product};
use crate::permissions::{Actor, SetRights};
use crate::store::{EntryWrite, Expect, Index};
use crate::wire::Obj;
use crate::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The URL prefixes model endpoints may have (set by a superuser through the server's flag):
/// no model URL may point anywhere else, so a plugin cannot make the server call into its
/// own network.
#[derive(Debug, Clone, Default)]
pub struct ModelAllowlist(Vec<String>);

impl ModelAllowlist {
    /// Parses comma-separated prefixes such as `http://127.0.0.1:8765/,https://models.lab/`.
    /// Each must be an `http`/`https` URL with a host; a bare `scheme://host[:port]` gets its
    /// `/`, so `http://a:1` cannot be stretched to `http://a:10` or `http://a:1@b`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Vec::new();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let rest = p
                .strip_prefix("http://")
                .or_else(|| p.strip_prefix("https://"))
                .ok_or_else(|| {
                    Error::invalid("model hosts", format!("{p:?}: not an http(s) URL"))
                })?;
            let authority = rest.split('/').next().unwrap_or("");
            if authority.is_empty() || authority.contains('@') || p.contains(char::is_whitespace) {
                return Err(Error::invalid(
                    "model hosts",
                    format!("{p:?}: needs a host and no user info"),
                ));
            }
            let mut p = p.to_ascii_lowercase();
            if !rest.contains('/') {
                p.push('/');
            }
            out.push(p);
        }
        Ok(ModelAllowlist(out))
    }

    /// The prefixes.
    pub fn prefixes(&self) -> &[String] {
        &self.0
    }

    /// Checks a model URL: it must start with an allowed prefix and hold nothing that could
    /// lead elsewhere (user info, dot segments, whitespace).
    pub fn check(&self, url: &str) -> Result<()> {
        let lower = url.to_ascii_lowercase();
        let tricky = lower.contains('@')
            || lower.contains("/..")
            || lower.contains("%2e")
            || lower.contains('\\')
            || lower.contains(char::is_whitespace);
        if tricky || !self.0.iter().any(|p| lower.starts_with(p)) {
            let allowed = if self.0.is_empty() {
                "none are allowed: start the server with EXACT_MODEL_HOSTS set to the allowed URL prefixes".to_owned()
            } else {
                format!("allowed prefixes: {}", self.0.join(", "))
            };
            return Err(Error::denied(format!(
                "model url {url:?} is not allowed ({allowed})"
            )));
        }
        Ok(())
    }
}

/// A job's progress as a worker reports it.
#[derive(Debug, Clone, Default)]
pub struct JobProgress {
    /// New state.
    pub state: Option<JobState>,
    /// Tiles planned.
    pub tiles_total: Option<u64>,
    /// Error (sets `error_message`).
    pub error: Option<String>,
    /// The worker.
    pub worker: Option<String>,
}

/// Processing use cases.
pub struct Processing<'a>(pub(crate) &'a Catalog);

impl Catalog {
    /// Plugins, plugin jobs and their results.
    pub fn processing(&self) -> Processing<'_> {
        Processing(self)
    }
}

fn opt_id<T: From<u64>>(o: &Obj, key: &str) -> Result<Option<T>> {
    Ok(o.u64(key)?.map(T::from))
}

fn req_id<T: From<u64>>(o: &Obj, key: &str) -> Result<T> {
    o.req_u64(key).map(T::from)
}

/// A JSON field that clients send either as JSON or as JSON text (form posts).
fn json_field(o: &Obj, key: &str) -> Result<Option<Value>> {
    let v = match o.raw(key) {
        None => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Null,
        Some(Value::String(s)) => {
            serde_json::from_str(s).map_err(|e| Error::invalid(key, format!("not JSON: {e}")))?
        }
        Some(v) => v.clone(),
    };
    crate::limits::check_meta_data(key, &v)?;
    Ok(Some(v))
}

/// A referenced object the actor cannot see is a bad field, not a missing resource.
fn field_of(e: Error, field: &str) -> Error {
    if e.kind() == ErrorKind::NotFound {
        Error::invalid(field, e.to_string())
    } else {
        e
    }
}

fn no_rights(what: impl std::fmt::Display) -> Error {
    Error::denied(format!("no rights to {what}"))
}

impl Processing<'_> {
    // ---- plugins ----

    fn products_of(&self, plugin: &Plugin) -> Result<Vec<Product>> {
        plugin
            .products
            .iter()
            .map(|p| self.0.load::<Product>(p.0))
            .collect()
    }

    fn plugin_visible(&self, actor: &Actor, plugin: &Plugin) -> Result<bool> {
        if actor.superuser || plugin.products.is_empty() {
            return Ok(true);
        }
        Ok(self
            .products_of(plugin)?
            .iter()
            .any(|p| actor.member_of(p.team)))
    }

    /// Checks that the actor may register a plugin for `products`: superusers for any (and
    /// for none), team admins for products of their teams. Call before storing its icon.
    pub fn check_plugin_rights(&self, actor: &Actor, products: &[ProductId]) -> Result<()> {
        if actor.superuser {
            return Ok(());
        }
        if products.is_empty() {
            return Err(no_rights(
                "register a plugin for every product (superusers only)",
            ));
        }
        for p in products {
            let product: Product = self
                .0
                .find(p.0)?
                .ok_or_else(|| Error::invalid("products", format!("no {p}")))?;
            if !actor.admin_of(product.team) {
                return Err(no_rights(format!(
                    "register plugins for {p} (its team's admins only)"
                )));
            }
        }
        Ok(())
    }

    fn model_of(
        &self,
        o: &Obj,
        old: Option<&ModelEndpoint>,
        allow: &ModelAllowlist,
    ) -> Result<Option<ModelEndpoint>> {
        let keys = [
            "model_url",
            "model_version",
            "model_level",
            "model_tile_size",
            "model_classes",
            "model_timeout",
            "model_max_objects",
        ];
        if !keys.iter().any(|k| o.has(k)) {
            return Ok(old.cloned());
        }
        let url = match o.str("model_url")? {
            Some(u) if u.trim().is_empty() => return Ok(None),
            Some(u) => u,
            None => match old {
                Some(m) => m.url.clone(),
                None => return Err(Error::invalid("model_url", "This field is required.")),
            },
        };
        allow.check(&url)?;
        let pick_u32 = |key: &str, default: u32, lo: u32, hi: u32| -> Result<u32> {
            let v = o.u32(key)?.unwrap_or(default);
            if !(lo..=hi).contains(&v) {
                return Err(Error::invalid(key, format!("must be {lo} to {hi}")));
            }
            Ok(v)
        };
        let version = o
            .str("model_version")?
            .or_else(|| old.map(|m| m.version.clone()))
            .unwrap_or_default();
        check_text("model_version", &version, 64)?;
        let classes = match json_field(o, "model_classes")? {
            None | Some(Value::Null) => old.map(|m| m.classes.clone()).unwrap_or_default(),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    let id = v.as_u64().ok_or_else(|| {
                        Error::invalid("model_classes", format!("{k:?}: expected a type id"))
                    })?;
                    out.insert(k, AnnotationTypeId(id));
                }
                out
            }
            Some(_) => {
                return Err(Error::invalid(
                    "model_classes",
                    "expected an object of class name → annotation type id",
                ));
            }
        };
        for t in classes.values() {
            if self.0.find::<crate::model::AnnotationType>(t.0)?.is_none() {
                return Err(Error::invalid("model_classes", format!("no {t}")));
            }
        }
        Ok(Some(ModelEndpoint {
            url,
            version,
            level: pick_u32("model_level", old.map_or(0, |m| m.level), 0, 32)?,
            tile_size: pick_u32(
                "model_tile_size",
                old.map_or(512, |m| m.tile_size),
                16,
                4096,
            )?,
            classes,
            timeout_secs: pick_u32("model_timeout", old.map_or(30, |m| m.timeout_secs), 1, 600)?,
            max_objects: pick_u32(
                "model_max_objects",
                old.map_or(10_000, |m| m.max_objects),
                1,
                100_000,
            )?,
        }))
    }

    /// Registers a plugin from EXACT's fields (`name`, `author`, `package`, `contact`,
    /// `abouturl`, `products`) and, for a model plugin, `model_url`, `model_version`,
    /// `model_level`, `model_tile_size`, `model_classes` ({class: type id}),
    /// `model_timeout` (s), `model_max_objects`. `icon` is the blob key of a stored icon.
    pub fn create_plugin(
        &self,
        actor: &Actor,
        o: &Obj,
        icon: &str,
        allow: &ModelAllowlist,
    ) -> Result<Plugin> {
        let products: Vec<ProductId> = o
            .ids("products")?
            .unwrap_or_default()
            .into_iter()
            .map(ProductId)
            .collect();
        self.check_plugin_rights(actor, &products)?;
        let name = o.req_str("name")?;
        check_name("name", &name, 1, 100)?;
        let text = |k: &str| -> Result<String> {
            let v = o.str(k)?.unwrap_or_default();
            check_text(k, &v, 1000)?;
            Ok(v)
        };
        let plugin = Plugin {
            id: PluginId(0),
            name,
            author: text("author")?,
            package: text("package")?,
            contact: text("contact")?,
            abouturl: text("abouturl")?,
            icon: icon.to_owned(),
            products,
            creator: Some(actor.user),
            model: self.model_of(o, None, allow)?,
        };
        self.0.insert(plugin)
    }

    /// Every plugin the actor sees, by id.
    pub fn plugins(&self, actor: &Actor) -> Result<Vec<Plugin>> {
        let mut out = Vec::new();
        for p in self.0.all::<Plugin>()? {
            if self.plugin_visible(actor, &p)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// A plugin the actor sees.
    pub fn plugin(&self, actor: &Actor, id: PluginId) -> Result<Plugin> {
        let p: Plugin = self.0.load(id.0)?;
        if !self.plugin_visible(actor, &p)? {
            return Err(Error::not_found(id));
        }
        Ok(p)
    }

    /// Changes a plugin's fields (those given); `icon` replaces the icon's blob key.
    pub fn update_plugin(
        &self,
        actor: &Actor,
        id: PluginId,
        o: &Obj,
        icon: Option<&str>,
        allow: &ModelAllowlist,
    ) -> Result<Plugin> {
        let old = self.plugin(actor, id)?;
        self.check_plugin_rights(actor, &old.products)?;
        let mut new = old.clone();
        if let Some(products) = o.ids("products")? {
            new.products = products.into_iter().map(ProductId).collect();
            self.check_plugin_rights(actor, &new.products)?;
        }
        if let Some(name) = o.str("name")? {
            check_name("name", &name, 1, 100)?;
            new.name = name;
        }
        for (k, f) in [
            ("author", &mut new.author),
            ("package", &mut new.package),
            ("contact", &mut new.contact),
            ("abouturl", &mut new.abouturl),
        ] {
            if let Some(v) = o.str(k)? {
                check_text(k, &v, 1000)?;
                *f = v;
            }
        }
        if let Some(icon) = icon {
            new.icon = icon.to_owned();
        }
        new.model = self.model_of(o, old.model.as_ref(), allow)?;
        self.0.modify(id.0, |cur: &Plugin| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }

    // ---- jobs ----

    fn image_rights(&self, actor: &Actor, image: ImageId) -> Result<(Image, ImageSet, SetRights)> {
        self.0.readable_image(actor, image)
    }

    fn writable_image(&self, actor: &Actor, image: ImageId, what: &str) -> Result<ImageSet> {
        let (_, set, rights) = self.image_rights(actor, image)?;
        if !rights.annotate {
            return Err(no_rights(format!("{what} on {image}")));
        }
        Ok(set)
    }

    /// Starts a job of `plugin` on `image` (the actor must be allowed to annotate it; a
    /// plugin with products only runs on sets of those products). `region` = `[x, y, w, h]`
    /// in level-0 pixels, `None` for the whole image.
    pub fn create_job(
        &self,
        actor: &Actor,
        plugin: PluginId,
        image: ImageId,
        region: Option<[u64; 4]>,
    ) -> Result<PluginJob> {
        let p = self
            .plugin(actor, plugin)
            .map_err(|e| field_of(e, "plugin"))?;
        let set = self.writable_image(actor, image, "run plugins")?;
        if !p.products.is_empty() {
            let offered: HashSet<ProductId> = self
                .0
                .by_index::<Product>(Index::ProductBySet, &Key::new().u64(set.id.0).build())?
                .iter()
                .map(|p| p.id)
                .collect();
            if !p.products.iter().any(|p| offered.contains(p)) {
                return Err(Error::invalid(
                    "plugin",
                    format!("{plugin} is not for the products of {}", set.id),
                ));
            }
        }
        let image_rec: Image = self.0.load(image.0)?;
        if let Some([x, y, w, h]) = region {
            let fits = |a: u64, len: u64, side: u64| {
                len > 0 && a.checked_add(len).is_some_and(|end| end <= side.max(1))
            };
            if !fits(x, w, image_rec.width) || !fits(y, h, image_rec.height) {
                return Err(Error::invalid(
                    "region",
                    format!(
                        "[{x}, {y}, {w}, {h}] is not inside the image ({} × {})",
                        image_rec.width, image_rec.height
                    ),
                ));
            }
        }
        let now = self.0.now();
        self.0.insert(PluginJob {
            id: PluginJobId(0),
            creator: Some(actor.user),
            plugin,
            image,
            created_time: now,
            updated_time: now,
            eta_time: None,
            processing_complete: 0.0,
            error_message: String::new(),
            error_detail: String::new(),
            attached_worker: String::new(),
            result: None,
            state: JobState::Queued,
            region,
            tiles_total: 0,
            tiles_done: 0,
            proposals: 0,
        })
    }

    /// Every job on images the actor reads, by id.
    pub fn jobs(&self, actor: &Actor) -> Result<Vec<PluginJob>> {
        self.readable(actor, self.0.all::<PluginJob>()?, |j| j.image)
    }

    /// A job on an image the actor reads.
    pub fn job(&self, actor: &Actor, id: PluginJobId) -> Result<PluginJob> {
        let j: PluginJob = self.0.load(id.0)?;
        self.image_rights(actor, j.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(j)
    }

    fn readable<T>(
        &self,
        actor: &Actor,
        items: Vec<T>,
        image: impl Fn(&T) -> ImageId,
    ) -> Result<Vec<T>> {
        let mut seen: BTreeMap<ImageId, bool> = BTreeMap::new();
        let mut out = Vec::new();
        for t in items {
            let i = image(&t);
            let ok = match seen.get(&i) {
                Some(ok) => *ok,
                None => {
                    let ok = self.image_rights(actor, i).is_ok();
                    seen.insert(i, ok);
                    ok
                }
            };
            if ok {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// Updates a job's EXACT fields as a plugin worker reports them (`processing_complete`,
    /// `eta_time`, `error_message`, `error_detail`, `attached_worker`, `result`) and its
    /// `state`. The job's creator and whoever may annotate its image may.
    pub fn update_job(&self, actor: &Actor, id: PluginJobId, o: &Obj) -> Result<PluginJob> {
        let job = self.job(actor, id)?;
        if job.creator != Some(actor.user) {
            self.writable_image(actor, job.image, "change jobs")?;
        }
        let result: Option<PluginResultId> = opt_id(o, "result")?;
        if let Some(r) = result {
            let res: PluginResult = self
                .0
                .find(r.0)?
                .ok_or_else(|| Error::invalid("result", format!("no {r}")))?;
            if res.image != job.image {
                return Err(Error::invalid(
                    "result",
                    format!("{r} is not on {}", job.image),
                ));
            }
        }
        let progress = o.f64("processing_complete")?;
        if let Some(p) = progress
            && !(0.0..=100.0).contains(&p)
        {
            return Err(Error::invalid("processing_complete", "must be 0 to 100"));
        }
        let state = o.parse::<JobState>("state")?;
        let eta = o.time("eta_time")?;
        let texts: Vec<(&str, Option<String>)> =
            ["error_message", "error_detail", "attached_worker"]
                .iter()
                .map(|k| Ok((*k, o.str(k)?)))
                .collect::<Result<_>>()?;
        for (k, v) in &texts {
            if let Some(v) = v {
                check_text(k, v, 10_000)?;
            }
        }
        let now = self.0.now();
        self.0.modify(id.0, |j: &PluginJob| {
            let mut j = j.clone();
            if let Some(p) = progress {
                j.processing_complete = p;
            }
            if let Some(s) = state {
                j.state = s;
            }
            if eta.is_some() {
                j.eta_time = eta;
            }
            if result.is_some() {
                j.result = result;
            }
            for (k, v) in &texts {
                if let Some(v) = v {
                    match *k {
                        "error_message" => j.error_message = v.clone(),
                        "error_detail" => j.error_detail = v.clone(),
                        _ => j.attached_worker = v.clone(),
                    }
                }
            }
            j.updated_time = now;
            Ok((j, Vec::new()))
        })
    }

    /// Stops a queued or running job; what it did stays, and [`Processing::resume_job`]
    /// continues with the tiles not yet done.
    pub fn cancel_job(&self, actor: &Actor, id: PluginJobId) -> Result<PluginJob> {
        self.set_state(actor, id, JobState::Cancelled, |s| {
            matches!(s, JobState::Queued | JobState::Running)
        })
    }

    /// Queues a cancelled or failed job again; its worker skips the tiles already done.
    pub fn resume_job(&self, actor: &Actor, id: PluginJobId) -> Result<PluginJob> {
        self.set_state(actor, id, JobState::Queued, |s| {
            matches!(s, JobState::Cancelled | JobState::Failed)
        })
    }

    fn set_state(
        &self,
        actor: &Actor,
        id: PluginJobId,
        to: JobState,
        from: impl Fn(JobState) -> bool,
    ) -> Result<PluginJob> {
        let job = self.job(actor, id)?;
        if job.creator != Some(actor.user) {
            self.writable_image(actor, job.image, "change jobs")?;
        }
        let now = self.0.now();
        self.0.modify(id.0, |j: &PluginJob| {
            if !from(j.state) {
                return Err(Error::invalid(
                    "state",
                    format!(
                        "{id} is {}; cannot become {}",
                        j.state.as_str(),
                        to.as_str()
                    ),
                ));
            }
            let mut j = j.clone();
            j.state = to;
            if to == JobState::Queued {
                j.error_message.clear();
                j.error_detail.clear();
            }
            j.updated_time = now;
            Ok((j, Vec::new()))
        })
    }

    // ---- the worker's side of model jobs ----

    /// Jobs of model plugins waiting for a worker, oldest first (trusted: the worker).
    pub fn queued_model_jobs(&self) -> Result<Vec<(PluginJob, Plugin)>> {
        let mut out = Vec::new();
        for j in self.0.all::<PluginJob>()? {
            if j.state != JobState::Queued {
                continue;
            }
            if let Some(p) = self.0.find::<Plugin>(j.plugin.0)?
                && p.model.is_some()
            {
                out.push((j, p));
            }
        }
        Ok(out)
    }

    /// Every job in `state` (trusted: the worker, at start).
    pub fn jobs_in(&self, state: JobState) -> Result<Vec<PluginJob>> {
        let mut all = self.0.all::<PluginJob>()?;
        all.retain(|j| j.state == state);
        Ok(all)
    }

    /// A job's current state (trusted: the worker, between tiles).
    pub fn job_state(&self, id: PluginJobId) -> Result<JobState> {
        Ok(self.0.load::<PluginJob>(id.0)?.state)
    }

    /// Moves a job from one state to another as its worker does (trusted); `Ok(None)` when
    /// the job is no longer in `from` (cancelled meanwhile).
    pub fn advance_job(
        &self,
        id: PluginJobId,
        from: &[JobState],
        progress: JobProgress,
    ) -> Result<Option<PluginJob>> {
        let now = self.0.now();
        let done = self.tiles_done(id)?.len() as u64;
        let r = self.0.modify(id.0, |j: &PluginJob| {
            if !from.contains(&j.state) {
                return Err(Error::Conflict {
                    what: "state moved".into(),
                });
            }
            let mut j = j.clone();
            if let Some(s) = progress.state {
                j.state = s;
            }
            if let Some(t) = progress.tiles_total {
                j.tiles_total = t;
            }
            if let Some(e) = &progress.error {
                j.error_message = e.chars().take(10_000).collect();
            }
            if let Some(w) = &progress.worker {
                j.attached_worker = w.clone();
            }
            j.tiles_done = done;
            if j.tiles_total > 0 {
                j.processing_complete = 100.0 * done as f64 / j.tiles_total as f64;
            }
            j.updated_time = now;
            Ok((j, Vec::new()))
        });
        match r {
            Ok(j) => Ok(Some(j)),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tiles of a job already done (its done-tile set).
    pub fn tiles_done(&self, id: PluginJobId) -> Result<HashSet<u64>> {
        let prefix = Key::new().u64(id.0).build();
        Ok(self
            .0
            .store()
            .index_range(
                Index::PluginJobTiles,
                &prefix,
                &crate::keys::prefix_end(&prefix),
                usize::MAX,
            )?
            .into_iter()
            .filter_map(|e| Some(u64::from_be_bytes(e.key.get(8..16)?.try_into().ok()?)))
            .collect())
    }

    /// Writes one tile's proposals as annotations of the job's creator and marks the tile
    /// done, in one atomic batch: either both or neither. A tile already done writes nothing
    /// (`Conflict`).
    pub fn commit_tile(
        &self,
        job: &PluginJob,
        tile: u64,
        proposals: Vec<NewAnnotation>,
    ) -> Result<usize> {
        let creator = job
            .creator
            .ok_or_else(|| Error::invalid("creator", format!("{} has no creator", job.id)))?;
        let actor = self.0.actor(creator)?;
        let n = proposals.len();
        let mark = EntryWrite {
            index: Index::PluginJobTiles,
            key: Key::new().u64(job.id.0).u64(tile).build(),
            id: job.id.0,
            value: Some((n as u64).to_be_bytes().to_vec()),
            expect: Expect::Absent,
        };
        if proposals.is_empty() {
            self.0.store().commit(crate::store::Batch {
                writes: Vec::new(),
                entries: vec![mark],
            })?;
        } else {
            self.0
                .annotations()
                .create_many_with(&actor, proposals, vec![mark])?;
        }
        self.0.modify(job.id.0, |j: &PluginJob| {
            let mut j = j.clone();
            j.proposals += n as u64;
            Ok((j, Vec::new()))
        })?;
        Ok(n)
    }

    // ---- results ----

    /// Creates a result (`image`, `plugin`, `job`, `default_alpha`, `completed_time`).
    pub fn create_result(&self, actor: &Actor, o: &Obj) -> Result<PluginResult> {
        let image: ImageId = req_id(o, "image")?;
        self.writable_image(actor, image, "add results")?;
        let plugin: PluginId = req_id(o, "plugin")?;
        self.plugin(actor, plugin)
            .map_err(|e| field_of(e, "plugin"))?;
        let job: Option<PluginJobId> = opt_id(o, "job")?;
        if let Some(j) = job {
            let jr = self.job(actor, j).map_err(|e| field_of(e, "job"))?;
            if jr.image != image {
                return Err(Error::invalid("job", format!("{j} is not on {image}")));
            }
        }
        let now = self.0.now();
        self.0.insert(PluginResult {
            id: PluginResultId(0),
            image,
            job,
            plugin,
            default_alpha: o.f64("default_alpha")?.unwrap_or(0.0),
            completed_time: o.time("completed_time")?,
            created_time: o.time("created_time")?.unwrap_or(now),
        })
    }

    /// Results on images the actor reads.
    pub fn results(&self, actor: &Actor) -> Result<Vec<PluginResult>> {
        self.readable(actor, self.0.all::<PluginResult>()?, |r| r.image)
    }

    /// A result on an image the actor reads.
    pub fn result(&self, actor: &Actor, id: PluginResultId) -> Result<PluginResult> {
        let r: PluginResult = self.0.load(id.0)?;
        self.image_rights(actor, r.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(r)
    }

    /// Changes a result's `default_alpha` / `completed_time`.
    pub fn update_result(
        &self,
        actor: &Actor,
        id: PluginResultId,
        o: &Obj,
    ) -> Result<PluginResult> {
        let r = self.result(actor, id)?;
        self.writable_image(actor, r.image, "change results")?;
        let alpha = o.f64("default_alpha")?;
        let completed = o.time("completed_time")?;
        self.0.modify(id.0, |r: &PluginResult| {
            let mut r = r.clone();
            if let Some(a) = alpha {
                r.default_alpha = a;
            }
            if completed.is_some() {
                r.completed_time = completed;
            }
            Ok((r, Vec::new()))
        })
    }

    /// The ids of the results of a plugin.
    pub fn results_of_plugin(&self, plugin: PluginId) -> Result<Vec<u64>> {
        self.ids_by(Index::PluginResultByPlugin, plugin.0)
    }

    fn ids_by(&self, index: Index, key: u64) -> Result<Vec<u64>> {
        let prefix = Key::new().u64(key).build();
        Ok(self
            .0
            .store()
            .index_range(
                index,
                &prefix,
                &crate::keys::prefix_end(&prefix),
                usize::MAX,
            )?
            .into_iter()
            .map(|e| e.id)
            .collect())
    }

    // ---- entries ----

    /// Creates an entry (`pluginresult`, `name`, `visible`, `default_threshold`).
    pub fn create_entry(&self, actor: &Actor, o: &Obj) -> Result<PluginResultEntry> {
        let result: PluginResultId = req_id(o, "pluginresult")?;
        let r = self
            .result(actor, result)
            .map_err(|e| field_of(e, "pluginresult"))?;
        self.writable_image(actor, r.image, "add result entries")?;
        let name = o.req_str("name")?;
        check_name("name", &name, 1, 200)?;
        let now = self.0.now();
        self.0.insert(PluginResultEntry {
            id: PluginResultEntryId(0),
            pluginresult: result,
            created_time: o.time("created_time")?.unwrap_or(now),
            name,
            visible: o.bool("visible")?.unwrap_or(true),
            default_threshold: o.f64("default_threshold")?.unwrap_or(0.0),
        })
    }

    /// Entries of results the actor reads.
    pub fn entries(&self, actor: &Actor) -> Result<Vec<PluginResultEntry>> {
        let images = self.result_images()?;
        self.readable(actor, self.0.all::<PluginResultEntry>()?, |e| {
            images.get(&e.pluginresult).copied().unwrap_or_default()
        })
    }

    fn result_images(&self) -> Result<BTreeMap<PluginResultId, ImageId>> {
        Ok(self
            .0
            .all::<PluginResult>()?
            .into_iter()
            .map(|r| (r.id, r.image))
            .collect())
    }

    /// An entry the actor reads, with its result's image.
    pub fn entry(
        &self,
        actor: &Actor,
        id: PluginResultEntryId,
    ) -> Result<(PluginResultEntry, ImageId)> {
        let e: PluginResultEntry = self.0.load(id.0)?;
        let r = self
            .result(actor, e.pluginresult)
            .map_err(|_| Error::not_found(id))?;
        Ok((e, r.image))
    }

    /// Changes an entry's `name`, `visible`, `default_threshold`.
    pub fn update_entry(
        &self,
        actor: &Actor,
        id: PluginResultEntryId,
        o: &Obj,
    ) -> Result<PluginResultEntry> {
        let (_, image) = self.entry(actor, id)?;
        self.writable_image(actor, image, "change result entries")?;
        let name = o.str("name")?;
        if let Some(n) = &name {
            check_name("name", n, 1, 200)?;
        }
        let visible = o.bool("visible")?;
        let threshold = o.f64("default_threshold")?;
        self.0.modify(id.0, |e: &PluginResultEntry| {
            let mut e = e.clone();
            if let Some(n) = &name {
                e.name = n.clone();
            }
            if let Some(v) = visible {
                e.visible = v;
            }
            if let Some(t) = threshold {
                e.default_threshold = t;
            }
            Ok((e, Vec::new()))
        })
    }

    /// Ids of the entries of a result.
    pub fn entries_of(&self, result: PluginResultId) -> Result<Vec<u64>> {
        self.ids_by(Index::PluginEntryByResult, result.0)
    }

    /// Ids of the annotations and bitmaps of an entry.
    pub fn contents_of(&self, entry: PluginResultEntryId) -> Result<(Vec<u64>, Vec<u64>)> {
        Ok((
            self.ids_by(Index::PluginAnnotationByEntry, entry.0)?,
            self.ids_by(Index::PluginBitmapByEntry, entry.0)?,
        ))
    }

    // ---- result annotations ----

    /// Creates a proposed object (`pluginresultentry`, `image`, `annotation_type`, `vector`,
    /// `score`, `meta_data`, `unique_identifier`, `generated` — true unless sent false).
    pub fn create_result_annotation(
        &self,
        actor: &Actor,
        o: &Obj,
    ) -> Result<PluginResultAnnotation> {
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let (_, entry_image) = self
            .entry(actor, entry)
            .map_err(|e| field_of(e, "pluginresultentry"))?;
        let image: ImageId = opt_id(o, "image")?.unwrap_or(entry_image);
        if image != entry_image {
            return Err(Error::invalid(
                "image",
                format!("{entry} belongs to {entry_image}"),
            ));
        }
        self.writable_image(actor, image, "add result annotations")?;
        let a = self.result_annotation_fields(
            o,
            PluginResultAnnotation {
                id: PluginResultAnnotationId(0),
                annotation_type: None,
                pluginresultentry: entry,
                image,
                meta_data: Value::Null,
                vector: Value::Null,
                score: None,
                unique_identifier: uuid::Uuid::new_v4().to_string(),
                generated: true,
                time: self.0.now(),
            },
        )?;
        self.0.insert(a)
    }

    fn result_annotation_fields(
        &self,
        o: &Obj,
        mut a: PluginResultAnnotation,
    ) -> Result<PluginResultAnnotation> {
        if let Some(t) = opt_id::<AnnotationTypeId>(o, "annotation_type")? {
            if self.0.find::<crate::model::AnnotationType>(t.0)?.is_none() {
                return Err(Error::invalid("annotation_type", format!("no {t}")));
            }
            a.annotation_type = Some(t);
        }
        if let Some(v) = json_field(o, "vector")? {
            if !matches!(v, Value::Object(_) | Value::Null) {
                return Err(Error::invalid("vector", "expected an object {x1, y1, …}"));
            }
            a.vector = v;
        }
        if let Some(m) = json_field(o, "meta_data")? {
            a.meta_data = m;
        }
        if let Some(s) = o.f64("score")? {
            a.score = Some(s);
        }
        if let Some(u) = o.str("unique_identifier")? {
            check_text("unique_identifier", &u, 100)?;
            a.unique_identifier = u;
        }
        if let Some(g) = o.bool("generated")? {
            a.generated = g;
        }
        if let Some(t) = o.time("time")? {
            a.time = t;
        }
        Ok(a)
    }

    /// Result annotations on images the actor reads.
    pub fn result_annotations(&self, actor: &Actor) -> Result<Vec<PluginResultAnnotation>> {
        self.readable(actor, self.0.all::<PluginResultAnnotation>()?, |a| a.image)
    }

    /// One result annotation the actor reads.
    pub fn result_annotation(
        &self,
        actor: &Actor,
        id: PluginResultAnnotationId,
    ) -> Result<PluginResultAnnotation> {
        let a: PluginResultAnnotation = self.0.load(id.0)?;
        self.image_rights(actor, a.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(a)
    }

    /// Changes a result annotation's fields.
    pub fn update_result_annotation(
        &self,
        actor: &Actor,
        id: PluginResultAnnotationId,
        o: &Obj,
    ) -> Result<PluginResultAnnotation> {
        let old = self.result_annotation(actor, id)?;
        self.writable_image(actor, old.image, "change result annotations")?;
        let new = self.result_annotation_fields(o, old.clone())?;
        self.0.modify(id.0, |cur: &PluginResultAnnotation| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }

    // ---- bitmaps ----

    /// Checks that the actor may add a bitmap to `entry` (before its file is stored); returns
    /// the entry's image.
    pub fn check_bitmap(&self, actor: &Actor, o: &Obj) -> Result<ImageId> {
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let (_, image) = self
            .entry(actor, entry)
            .map_err(|e| field_of(e, "pluginresultentry"))?;
        if let Some(i) = opt_id::<ImageId>(o, "image")?
            && i != image
        {
            return Err(Error::invalid(
                "image",
                format!("{entry} belongs to {image}"),
            ));
        }
        self.writable_image(actor, image, "add result bitmaps")?;
        Ok(image)
    }

    /// Records a stored bitmap file (`bitmap` = its blob key) with EXACT's fields (`name`,
    /// `channels`, `default_alpha`, `default_threshold`, `scale_min`, `scale_max`,
    /// `meta_data`, `location_rect`, `transformation_matrix`, `frame`).
    pub fn create_bitmap(
        &self,
        actor: &Actor,
        o: &Obj,
        bitmap: &str,
    ) -> Result<PluginResultBitmap> {
        let image = self.check_bitmap(actor, o)?;
        let entry: PluginResultEntryId = req_id(o, "pluginresultentry")?;
        let b = self.bitmap_fields(
            o,
            PluginResultBitmap {
                id: PluginResultBitmapId(0),
                bitmap: bitmap.to_owned(),
                name: String::new(),
                channels: 3,
                default_alpha: 1.0,
                default_threshold: 0.0,
                scale_min: 0.0,
                scale_max: 1.0,
                meta_data: Value::Null,
                location_rect: Value::Null,
                transformation_matrix: Value::Null,
                frame: 1,
                pluginresultentry: entry,
                image,
            },
        )?;
        if b.name.is_empty() {
            return Err(Error::invalid("name", "This field is required."));
        }
        self.0.insert(b)
    }

    fn bitmap_fields(&self, o: &Obj, mut b: PluginResultBitmap) -> Result<PluginResultBitmap> {
        if let Some(n) = o.str("name")? {
            check_name("name", &n, 1, 200)?;
            b.name = n;
        }
        if let Some(c) = o.u32("channels")? {
            if !(1..=4).contains(&c) {
                return Err(Error::invalid("channels", "must be 1 to 4"));
            }
            b.channels = c;
        }
        for (k, f) in [
            ("default_alpha", &mut b.default_alpha),
            ("default_threshold", &mut b.default_threshold),
            ("scale_min", &mut b.scale_min),
            ("scale_max", &mut b.scale_max),
        ] {
            if let Some(v) = o.f64(k)? {
                *f = v;
            }
        }
        if let Some(v) = json_field(o, "meta_data")? {
            b.meta_data = v;
        }
        if let Some(v) = json_field(o, "location_rect")? {
            b.location_rect = v;
        }
        if let Some(v) = json_field(o, "transformation_matrix")? {
            let ok = match &v {
                Value::Null => true,
                Value::Array(rows) => rows
                    .iter()
                    .flat_map(|r| match r {
                        Value::Array(c) => c.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    })
                    .all(Value::is_number),
                _ => false,
            };
            if !ok {
                return Err(Error::invalid(
                    "transformation_matrix",
                    "expected a matrix of numbers",
                ));
            }
            b.transformation_matrix = v;
        }
        if let Some(f) = o.u32("frame")? {
            b.frame = f;
        }
        Ok(b)
    }

    /// Bitmaps on images the actor reads.
    pub fn bitmaps(&self, actor: &Actor) -> Result<Vec<PluginResultBitmap>> {
        self.readable(actor, self.0.all::<PluginResultBitmap>()?, |b| b.image)
    }

    /// One bitmap the actor reads.
    pub fn bitmap(&self, actor: &Actor, id: PluginResultBitmapId) -> Result<PluginResultBitmap> {
        let b: PluginResultBitmap = self.0.load(id.0)?;
        self.image_rights(actor, b.image)
            .map_err(|_| Error::not_found(id))?;
        Ok(b)
    }

    /// Changes a bitmap's fields (and its file, when `file` is given).
    pub fn update_bitmap(
        &self,
        actor: &Actor,
        id: PluginResultBitmapId,
        o: &Obj,
        file: Option<&str>,
    ) -> Result<PluginResultBitmap> {
        let old = self.bitmap(actor, id)?;
        self.writable_image(actor, old.image, "change result bitmaps")?;
        let mut new = self.bitmap_fields(o, old.clone())?;
        if let Some(f) = file {
            new.bitmap = f.to_owned();
        }
        self.0.modify(id.0, |cur: &PluginResultBitmap| {
            if cur != &old {
                return Err(Error::Conflict {
                    what: format!("{id}"),
                });
            }
            Ok((new.clone(), Vec::new()))
        })
    }

    /// Deletes a job that is not running (its proposals stay as annotations). Jobs are the
    /// only processing records that go: results are kept as the record of what ran.
    pub fn delete_job(&self, actor: &Actor, id: PluginJobId) -> Result<()> {
        let job = self.job(actor, id)?;
        if job.creator != Some(actor.user) {
            self.writable_image(actor, job.image, "delete jobs")?;
        }
        if job.state == JobState::Running {
            return Err(Error::invalid(
                "state",
                format!("{id} is running: cancel it first"),
            ));
        }
        let mut tx = Tx::default();
        tx.remove(&job);
        // Its done-tile set goes with it.
        for tile in self.tiles_done(id)? {
            tx.batch.entries.push(EntryWrite {
                index: Index::PluginJobTiles,
                key: Key::new().u64(id.0).u64(tile).build(),
                id: id.0,
                value: None,
                expect: Expect::Anything,
            });
        }
        tx.commit(self.0)
    }
}

/// Which proposals a review takes: model-made annotations (`meta_data.generated == true`),
/// optionally of one class and within a score range.
#[derive(Debug, Clone, Default)]
pub struct ProposalFilter {
    /// Only this annotation type.
    pub annotation_type: Option<AnnotationTypeId>,
    /// Only scores ≥ this.
    pub min_score: Option<f64>,
    /// Only scores < this.
    pub max_score: Option<f64>,
}

fn score_of(a: &crate::model::Annotation) -> f64 {
    a.meta_data
        .get("score")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn is_proposal(a: &crate::model::Annotation) -> bool {
    a.meta_data.get("generated").and_then(Value::as_bool) == Some(true)
}

impl Processing<'_> {
    /// The images of a set the actor reads.
    pub fn images_of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<ImageId>> {
        self.0.readable_set(actor, set)?;
        Ok(self
            .0
            .by_index::<Image>(Index::ImageBySet, &Key::new().u64(set.0).build())?
            .into_iter()
            .filter(|i| !i.deleted)
            .map(|i| i.id)
            .collect())
    }

    /// The live proposals on `images` the actor sees that pass `filter`, lowest score first
    /// (the review queue: the least certain proposals are looked at first), then by id.
    pub fn proposals(
        &self,
        actor: &Actor,
        images: &[ImageId],
        filter: &ProposalFilter,
    ) -> Result<Vec<crate::model::Annotation>> {
        let query = crate::catalog::AnnotationQuery {
            annotation_types: filter.annotation_type.map(|t| vec![t]),
            ..Default::default()
        };
        let mut out = Vec::new();
        for image in images {
            for a in self.0.annotations().query(actor, *image, &query)? {
                let s = score_of(&a);
                let keep = is_proposal(&a)
                    && filter.min_score.is_none_or(|m| s >= m)
                    && filter.max_score.is_none_or(|m| s < m);
                if keep {
                    out.push(a);
                }
            }
        }
        out.sort_by(|a, b| score_of(a).total_cmp(&score_of(b)).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Accepts (`accept`) or rejects the proposals `filter` selects, all in one atomic batch:
    /// accepting clears `generated` (the annotation becomes a normal one; its history keeps
    /// the proposal), rejecting soft-deletes them (restorable from their history). Returns
    /// the annotations as written.
    pub fn review(
        &self,
        actor: &Actor,
        images: &[ImageId],
        filter: &ProposalFilter,
        accept: bool,
    ) -> Result<Vec<crate::model::Annotation>> {
        let found = self.proposals(actor, images, filter)?;
        if accept {
            let patches = found
                .into_iter()
                .map(|a| {
                    let mut meta = a.meta_data.clone();
                    if let Some(m) = meta.as_object_mut() {
                        m.insert("generated".into(), Value::Bool(false));
                        m.insert("accepted_by".into(), Value::from(actor.user.0));
                    }
                    let patch = crate::catalog::AnnotationPatch {
                        meta_data: Some(meta),
                        ..Default::default()
                    };
                    (a.id, patch)
                })
                .collect();
            self.0.annotations().update_many(actor, patches)
        } else {
            let ids: Vec<AnnotationId> = found.iter().map(|a| a.id).collect();
            self.0.annotations().delete_many(actor, &ids)
        }
    }
}
