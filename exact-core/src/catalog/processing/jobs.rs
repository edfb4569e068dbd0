//! Plugin jobs: creating, changing, cancelling and deleting them, and the worker's side.

use super::*;

impl Processing<'_> {
    // ---- jobs ----

    pub(super) fn image_rights(
        &self,
        actor: &Actor,
        image: ImageId,
    ) -> Result<(Image, ImageSet, SetRights)> {
        self.0.readable_image(actor, image)
    }

    pub(super) fn writable_image(
        &self,
        actor: &Actor,
        image: ImageId,
        what: &str,
    ) -> Result<ImageSet> {
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
        self.create_job_with(actor, plugin, image, region, None)
    }

    /// [`Processing::create_job`] with the request's `prompts` (a JSON list of point and box
    /// prompts in level-0 pixels, checked; see [`Prompt`]), passed to the model with each
    /// region they touch.
    pub fn create_job_with(
        &self,
        actor: &Actor,
        plugin: PluginId,
        image: ImageId,
        region: Option<[u64; 4]>,
        prompts: Option<&Value>,
    ) -> Result<PluginJob> {
        let mut job = self.new_job(actor, plugin, image, region)?;
        if let Some(v) = prompts.filter(|v| !v.is_null()) {
            let img: Image = self.0.load(image.0)?;
            job.prompts = Prompt::parse_all(v, img.width, img.height)?;
        }
        self.0.insert(job)
    }

    /// Starts a job of `plugin` on every image of `set` (whole images), all in one atomic
    /// batch: the same checks as [`Processing::create_job`] for each image, and if one fails
    /// none is created. At most 10,000 images.
    pub fn create_set_jobs(
        &self,
        actor: &Actor,
        plugin: PluginId,
        set: ImageSetId,
    ) -> Result<Vec<PluginJob>> {
        let images = self.images_of_set(actor, set)?;
        if images.is_empty() {
            return Err(Error::invalid("image_set", format!("{set} has no images")));
        }
        if images.len() > MAX_SET_JOBS {
            return Err(Error::invalid(
                "image_set",
                format!(
                    "{set} has {} images; at most {MAX_SET_JOBS} per request",
                    images.len()
                ),
            ));
        }
        let mut tx = Tx::default();
        let mut out = Vec::with_capacity(images.len());
        for image in images {
            let job = self.new_job(actor, plugin, image, None)?;
            out.push(tx.insert(self.0, job)?);
        }
        tx.commit(self.0)?;
        Ok(out)
    }

    /// Cancels (`cancel`) the queued and running jobs on the images of `set` (of `plugin`
    /// only, when given), or queues its cancelled and failed ones again. Returns the jobs
    /// changed; jobs in other states are left as they are.
    pub fn set_jobs_state(
        &self,
        actor: &Actor,
        set: ImageSetId,
        plugin: Option<PluginId>,
        cancel: bool,
    ) -> Result<Vec<PluginJob>> {
        let images: HashSet<ImageId> = self.images_of_set(actor, set)?.into_iter().collect();
        let mut out = Vec::new();
        for j in self.jobs(actor)? {
            if !images.contains(&j.image) || plugin.is_some_and(|p| p != j.plugin) {
                continue;
            }
            let r = if cancel {
                self.cancel_job(actor, j.id)
            } else {
                self.resume_job(actor, j.id)
            };
            match r {
                Ok(j) => out.push(j),
                // Not in a state to change (done, or moved meanwhile): left alone.
                Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// A job record of `plugin` on `image` after the checks, not stored yet.
    fn new_job(
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
        Ok(PluginJob {
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
            prompts: Vec::new(),
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

    pub(super) fn readable<T>(
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
                    what: STATE_MOVED.into(),
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
            // Only a job no longer in `from` is "moved meanwhile"; a write that kept
            // conflicting is an error (the worker must not take it for a cancel).
            Err(Error::Conflict { what }) if what == STATE_MOVED => Ok(None),
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

    /// Deletes a job that is not running (its proposals stay as annotations; its results
    /// stay, deleted on their own through [`Processing::delete`]).
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

    // ---- several servers on one store: jobs under leases ----

    /// Claims queued job `id` for the worker `owner` (named `worker` on the job) under a
    /// lease of `ttl_micros`: `Some(job)` now running, `None` when another live worker holds
    /// it or it is no longer queued. Of servers racing for a job exactly one gets it.
    pub fn claim_job(
        &self,
        id: PluginJobId,
        owner: u64,
        worker: &str,
        ttl_micros: i64,
    ) -> Result<Option<PluginJob>> {
        let lease = job_lease(id);
        if !self.0.leases().claim(lease, owner, ttl_micros)? {
            return Ok(None);
        }
        let r = self.advance_job(
            id,
            &[JobState::Queued],
            JobProgress {
                state: Some(JobState::Running),
                worker: Some(worker.to_owned()),
                ..Default::default()
            },
        );
        if !matches!(r, Ok(Some(_))) {
            self.0.leases().release(lease, owner)?;
        }
        r
    }

    /// Renews `owner`'s lease on the job it runs: `false` when it was lost (expired and
    /// taken over), and the worker should stop.
    pub fn renew_job(&self, id: PluginJobId, owner: u64, ttl_micros: i64) -> Result<bool> {
        self.0.leases().claim(job_lease(id), owner, ttl_micros)
    }

    /// Gives up `owner`'s lease on job `id` (it stopped running it).
    pub fn release_job(&self, id: PluginJobId, owner: u64) -> Result<()> {
        self.0.leases().release(job_lease(id), owner)
    }

    /// Queues again every running job no live worker holds (its server died and the lease
    /// expired, or it ran before leases), taking the lease for the move so no live worker's
    /// job is ever re-queued; with `all` (a store only this process can open, at start)
    /// every running job. Returns the jobs queued again; they resume after their done tiles.
    pub fn requeue_orphans(&self, owner: u64, all: bool) -> Result<Vec<PluginJobId>> {
        let mut out = Vec::new();
        for j in self.jobs_in(JobState::Running)? {
            let lease = job_lease(j.id);
            if !all && self.0.leases().holder(lease)?.is_some() {
                continue;
            }
            // Taken for the move; a live claimant between the look and here wins instead.
            if !all && !self.0.leases().claim(lease, owner, 60_000_000)? {
                continue;
            }
            let moved = self.advance_job(
                j.id,
                &[JobState::Running],
                JobProgress {
                    state: Some(JobState::Queued),
                    ..Default::default()
                },
            );
            if !all {
                self.0.leases().release(lease, owner)?;
            }
            if moved?.is_some() {
                out.push(j.id);
            }
        }
        Ok(out)
    }
}

/// The conflict [`Processing::advance_job`] reports for a job no longer in the expected state.
const STATE_MOVED: &str = "the job's state moved";

/// Most images one set-wide job request starts jobs on.
pub const MAX_SET_JOBS: usize = 10_000;

/// Leases of plugin jobs are keyed by the job id with the top bit set, apart from the
/// conversions' leases (keyed by image ids; ids of different kinds overlap).
pub(crate) fn job_lease(id: PluginJobId) -> u64 {
    id.0 | (1 << 63)
}
