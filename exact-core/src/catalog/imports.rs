//! Long imports as jobs, and taking back what a failed import wrote.
//!
//! An [`ImportJob`] record ([`Kind::ImportJob`], listed by set in [`Index::ImportJobBySet`])
//! is what a client polls while an import runs in the background: its state, how far it has
//! come (bytes read of the file's size, items read, annotations written of those to write),
//! and at the end the import's report or the error naming the feature/row/line. The runner
//! (outside core: a thread of the process that took the upload) rewrites the record as it
//! goes, at least every second while it runs. A server with a durable store keeps the upload
//! and the job's options ([`ImportJob::upload`], [`ImportJob::options`]) until the job ends,
//! so after a restart it resumes its unfinished jobs: [`ImportJobs::unfinished`] lists them
//! and [`ImportJobs::claim`] takes one whose record has not moved for [`RESUME_AFTER_MICROS`]
//! (its runner is gone), once, even with several servers on one store. The import then runs
//! again from the start of the file; the batches written before the restart are skipped as
//! duplicates (same UUID, else same image, type and geometry). A job still `queued`/`running`
//! whose record has not been touched for [`STALE_MICROS`] (nobody resumed it) is reported
//! `interrupted`; importing the same file again completes it. Only the job's user (and
//! superusers) see a job.

use super::{Catalog, ChangeOp};
use crate::ids::{AnnotationId, ImageSetId, UserId};
use crate::keys::Key;
use crate::permissions::Actor;
use crate::record::Record;
use crate::store::{Index, Kind, Term};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// A job not updated for this long (two minutes) is reported interrupted.
pub const STALE_MICROS: i64 = 120_000_000;

/// A job not updated for this long (ten seconds: its runner rewrites it every second) has
/// lost its runner and may be claimed by a restarted server.
pub const RESUME_AFTER_MICROS: i64 = 10_000_000;

/// Where an import job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// Reading or writing.
    Running,
    /// Finished and written (or a dry run checked).
    Done,
    /// Finished with refused items: nothing written; the report names them.
    Refused,
    /// Failed (unreadable file, no rights, a failed write): nothing written; see `error`.
    Failed,
    /// Its process went away while it ran (see the module docs).
    Interrupted,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn finished(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// An import running in the background (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    /// Its id (not stored in the record's bytes).
    #[serde(skip)]
    pub id: u64,
    /// The set imported into.
    pub image_set: ImageSetId,
    /// Who imports.
    pub user: UserId,
    /// The uploaded file's name, for people.
    pub file_name: String,
    /// State.
    pub state: JobState,
    /// `reading` (parsing and checking) or `writing`.
    pub phase: String,
    /// The file's size in bytes.
    pub bytes_total: u64,
    /// Bytes read so far.
    pub bytes_read: u64,
    /// Items (features, rows, lines) read and checked so far.
    pub items_read: u64,
    /// Annotations to write, once reading is done.
    pub to_write: u64,
    /// Annotations written so far.
    pub written: u64,
    /// The import's report (JSON), once finished.
    pub report: Option<serde_json::Value>,
    /// Why it failed, naming the feature/row/line where the file is at fault.
    pub error: Option<String>,
    /// The failure's [`crate::ErrorKind`] as its variant name (`InvalidInput`, `Backend`, …);
    /// `Refused` for refused items.
    #[serde(default)]
    pub error_kind: Option<String>,
    /// Created, µs since the epoch.
    pub created_micros: i64,
    /// Last rewritten, µs since the epoch.
    pub updated_micros: i64,
    /// Where the server that took the upload keeps it until the job ends (a local path of
    /// that server; `None` when it cannot be resumed, e.g. an in-memory store).
    #[serde(default)]
    pub upload: Option<String>,
    /// The import options, as the runner records them to run the job again.
    #[serde(default)]
    pub options: Option<serde_json::Value>,
    /// How many times the import was started (1, plus one per resumption).
    #[serde(default)]
    pub attempts: u32,
}

impl ImportJob {
    /// When it was created.
    pub fn created(&self) -> Timestamp {
        Timestamp(self.created_micros)
    }

    /// When it was last rewritten.
    pub fn updated(&self) -> Timestamp {
        Timestamp(self.updated_micros)
    }
}

impl Record for ImportJob {
    const KIND: Kind = Kind::ImportJob;
    const LABEL: &'static str = "import job";
    fn id(&self) -> u64 {
        self.id
    }
    fn set_id(&mut self, id: u64) {
        self.id = id;
    }
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    fn decode(id: u64, bytes: &[u8], what: &str) -> Result<Self> {
        let mut r: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(what, format!("import job {id}: {e}")))?;
        r.id = id;
        Ok(r)
    }
    fn terms(&self) -> Vec<Term> {
        vec![Term {
            index: Index::ImportJobBySet,
            key: Key::new().u64(self.image_set.0).build(),
            value: Vec::new(),
        }]
    }
}

/// Import jobs and the undoing of a failed import's writes.
pub struct ImportJobs<'a>(pub(crate) &'a Catalog);

impl ImportJobs<'_> {
    /// Records a queued import of `file_name` (`bytes_total` long) into `set`: the actor must
    /// be able to annotate the set.
    pub fn create(
        &self,
        actor: &Actor,
        set: ImageSetId,
        file_name: &str,
        bytes_total: u64,
    ) -> Result<ImportJob> {
        let c = self.0;
        let (_, rights) = c.readable_set(actor, set)?;
        if !rights.annotate && !actor.superuser {
            return Err(Error::denied(format!(
                "no rights to annotate image set {}",
                set.0
            )));
        }
        let now = c.now().0;
        c.insert(ImportJob {
            id: 0,
            image_set: set,
            user: actor.user,
            file_name: file_name.chars().take(255).collect(),
            state: JobState::Queued,
            phase: "queued".into(),
            bytes_total,
            bytes_read: 0,
            items_read: 0,
            to_write: 0,
            written: 0,
            report: None,
            error: None,
            error_kind: None,
            created_micros: now,
            updated_micros: now,
            upload: None,
            options: None,
            attempts: 1,
        })
    }

    /// Every job still `queued`/`running` in the store, whoever's (the server resumes them at
    /// start-up, each as its user; the import checks that user's rights again).
    pub fn unfinished(&self) -> Result<Vec<ImportJob>> {
        let jobs: Vec<ImportJob> = self.0.all()?;
        Ok(jobs.into_iter().filter(|j| !j.state.finished()).collect())
    }

    /// Takes over job `id` for a new run when its runner is gone: only if it is unfinished and
    /// its record has not changed since `seen_updated_micros` (as [`Self::unfinished`] showed
    /// it) and for [`RESUME_AFTER_MICROS`]. The claimed job is `queued` again with one more
    /// attempt; `None` when another runner has it (or it finished).
    pub fn claim(&self, id: u64, seen_updated_micros: i64) -> Result<Option<ImportJob>> {
        let c = self.0;
        let r = c.modify(id, |old: &ImportJob| {
            if old.state.finished()
                || old.updated_micros != seen_updated_micros
                || c.now().0 - old.updated_micros < RESUME_AFTER_MICROS
            {
                return Err(Error::Conflict {
                    what: format!("import job {id} has a runner"),
                });
            }
            let mut new = old.clone();
            new.state = JobState::Queued;
            new.phase = "resuming".into();
            new.attempts = old.attempts.saturating_add(1);
            new.updated_micros = c.now().0;
            Ok((new, Vec::new()))
        });
        match r {
            Ok(j) => Ok(Some(j)),
            Err(Error::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn shown(&self, mut job: ImportJob) -> ImportJob {
        if !job.state.finished() && self.0.now().0 - job.updated_micros > STALE_MICROS {
            job.state = JobState::Interrupted;
            job.error_kind = Some("Interrupted".into());
            job.error = Some(format!(
                "the process running this import went away (no progress since {}); the {} \
                 annotations written before stay, and importing the same file again \
                 completes the import (duplicates are skipped)",
                job.updated(),
                job.written
            ));
        }
        job
    }

    /// The job `id`, if it is the actor's (or the actor is a superuser); others are not found.
    pub fn get(&self, actor: &Actor, id: u64) -> Result<ImportJob> {
        let job: ImportJob = self
            .0
            .find(id)?
            .filter(|j: &ImportJob| j.user == actor.user || actor.superuser)
            .ok_or_else(|| Error::not_found(format!("import job {id}")))?;
        Ok(self.shown(job))
    }

    /// The actor's jobs on `set` (every job there for superusers), oldest first.
    pub fn of_set(&self, actor: &Actor, set: ImageSetId) -> Result<Vec<ImportJob>> {
        self.0.readable_set(actor, set)?;
        let jobs: Vec<ImportJob> = self
            .0
            .by_index(Index::ImportJobBySet, &Key::new().u64(set.0).build())?;
        Ok(jobs
            .into_iter()
            .filter(|j| j.user == actor.user || actor.superuser)
            .map(|j| self.shown(j))
            .collect())
    }

    /// Rewrites the job's progress or outcome (the runner, acting as the job's user); the
    /// update time is set here. A finished job does not change any more.
    pub fn update(
        &self,
        actor: &Actor,
        id: u64,
        mut change: impl FnMut(&mut ImportJob),
    ) -> Result<ImportJob> {
        let c = self.0;
        c.modify(id, |old: &ImportJob| {
            if old.user != actor.user && !actor.superuser {
                return Err(Error::not_found(format!("import job {id}")));
            }
            if old.state.finished() {
                return Err(Error::invalid(
                    "state",
                    format!("import job {id} has finished"),
                ));
            }
            let mut new = old.clone();
            change(&mut new);
            new.id = old.id;
            new.image_set = old.image_set;
            new.user = old.user;
            new.updated_micros = c.now().0;
            Ok((new, Vec::new()))
        })
    }
}

impl super::Annotations<'_> {
    /// Takes back annotations an import just created, when a later batch of the same import
    /// failed: they leave the grid for good (no trash entry: they were never anyone's work
    /// but the failed import's). Each must have been created by the actor (or the actor be a
    /// superuser, who imports on behalf of others) on an image the actor may annotate.
    pub fn undo_create(&self, actor: &Actor, ids: &[AnnotationId]) -> Result<usize> {
        let c = self.0;
        let mut rights = std::collections::HashMap::new();
        for chunk in ids.chunks(100_000) {
            let out = c.remove_annotations(chunk, |a| {
                let ok = match rights.entry(a.image) {
                    std::collections::hash_map::Entry::Occupied(e) => *e.get(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let (_, _, r) = c.readable_image(actor, a.image)?;
                        *e.insert(r.annotate || actor.superuser)
                    }
                };
                if !ok || (a.user != Some(actor.user) && !actor.superuser) {
                    return Err(Error::denied(format!(
                        "{} is not the actor's to take back",
                        a.id
                    )));
                }
                Ok((a.clone(), Vec::new()))
            })?;
            c.notify(ChangeOp::Deleted, actor.user, &out);
        }
        Ok(ids.len())
    }
}
