//! Long imports as background jobs: [`Exact::start_import`] records an [`ImportJob`] (with the
//! actor's rights checked), then runs the library's import on a thread of this process; a
//! second thread rewrites the job's progress every second while it runs, and its outcome is
//! written at the end. With a durable store the upload is moved to
//! `<data_dir>/import-jobs/<job>.upload` and the options are recorded in the job, so
//! [`Exact::resume_imports`] (called by `exact serve` at start-up) runs the unfinished jobs of
//! a server that went away again. After each written batch the runner records in the job
//! (`options.resume`) where in the file the first annotation not yet written starts and how
//! many were written; a resumed job seeks there (GeoJSON: the byte offset; SlideRunner: the
//! annotation row) and reads on, instead of reading the whole file again. What a run wrote
//! after its last record (at most one batch, and the last batch until the job is finished) is
//! skipped as duplicates. Formats read only whole start again from the beginning, with the
//! written batches skipped as duplicates. The upload is deleted when the job ends.

use crate::Exact;
use exact_core::catalog::{ImportJob, ImportState, RESUME_AFTER_MICROS};
use exact_core::{Actor, Error, ErrorKind, ImageSetId, Result};
use exact_interop::{Format, ImportOptions, ImportProgress, ResumeAt};
use serde_json::{Value, json};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a running job's record is rewritten with its progress.
const EVERY: Duration = Duration::from_millis(1000);

/// The upload a job reads: a temporary file (in-memory stores: the job cannot outlive the
/// process anyway) or one kept in the data directory until the job ends.
enum Upload {
    Temp(tempfile::TempPath),
    Kept(PathBuf),
}

impl Upload {
    fn path(&self) -> &Path {
        match self {
            Upload::Temp(t) => t,
            Upload::Kept(p) => p,
        }
    }

    fn remove(self) {
        if let Upload::Kept(p) = self
            && let Err(e) = std::fs::remove_file(&p)
        {
            tracing::warn!(path = %p.display(), error = %e, "import upload not removed");
        }
    }
}

/// The options as the job records them.
fn options_json(o: &ImportOptions) -> Value {
    json!({
        "format": o.format.map(Format::name),
        "create_missing": o.create_missing,
        "dry_run": o.dry_run,
        "image": o.image,
        "verify": o.verify,
        "batch_size": o.batch_size,
    })
}

/// Where an earlier run of a job stopped, as recorded after its last written batch.
#[derive(Debug, Clone, Copy)]
struct Resume {
    at: ResumeAt,
    /// Annotations written by the earlier runs.
    written: u64,
}

impl Resume {
    fn json(&self) -> Value {
        json!({ "at": self.at, "written": self.written })
    }

    fn from_options(v: &Value) -> Option<Resume> {
        let r = v.get("resume")?;
        Some(Resume {
            at: serde_json::from_value(r.get("at")?.clone()).ok()?,
            written: r.get("written")?.as_u64()?,
        })
    }
}

/// The options back from a job's record.
fn options_from(v: &Value) -> Result<ImportOptions> {
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(ImportOptions {
        format: match v.get("format").and_then(Value::as_str) {
            Some(f) => Some(Format::parse(f)?),
            None => None,
        },
        create_missing: flag("create_missing"),
        dry_run: flag("dry_run"),
        image: v.get("image").and_then(Value::as_str).map(str::to_owned),
        verify: flag("verify"),
        batch_size: v
            .get("batch_size")
            .and_then(Value::as_u64)
            .and_then(|b| usize::try_from(b).ok()),
    })
}

impl Exact {
    /// Whether jobs can outlive this process (the metadata store is not in memory).
    fn durable_jobs(&self) -> bool {
        !self.config().meta_url().starts_with("memory:")
    }

    /// Starts importing `file` (a local temporary file, moved or deleted when the job ends)
    /// into `set` in the background and returns the queued job; poll it with
    /// `catalog().import_jobs()`. Refused at once (no job) when the actor may not annotate
    /// the set.
    pub fn start_import(
        &self,
        actor: &Actor,
        set: ImageSetId,
        file: tempfile::TempPath,
        file_name: &str,
        options: ImportOptions,
    ) -> Result<ImportJob> {
        let size = std::fs::metadata(&file)
            .map_err(|e| Error::backend("import spool", e))?
            .len();
        let jobs = self.catalog().import_jobs();
        let mut job = jobs.create(actor, set, file_name, size)?;
        let upload = if self.durable_jobs() {
            let dir = self.config().data_dir.join("import-jobs");
            let dest = dir.join(format!("{}.upload", job.id));
            let kept = std::fs::create_dir_all(&dir)
                .and_then(|()| match file.persist(&dest) {
                    Ok(()) => Ok(()),
                    // Another file system: copy, then the temporary file goes.
                    Err(e) => std::fs::copy(&e.path, &dest).map(|_| ()),
                })
                .and_then(|()| std::fs::File::open(&dest)?.sync_all());
            if let Err(e) = kept {
                let _ = jobs.update(actor, job.id, |j| {
                    j.state = ImportState::Failed;
                    j.phase = "finished".into();
                    j.error_kind = Some("Backend".into());
                    j.error = Some("the upload could not be kept (see the server log)".into());
                });
                return Err(Error::backend("import upload", e));
            }
            let (path, opts) = (dest.display().to_string(), options_json(&options));
            job = jobs.update(actor, job.id, |j| {
                j.upload = Some(path.clone());
                j.options = Some(opts.clone());
            })?;
            Upload::Kept(dest)
        } else {
            Upload::Temp(file)
        };
        self.spawn_job(actor.clone(), set, job.id, upload, options, None)?;
        Ok(job)
    }

    fn spawn_job(
        &self,
        actor: Actor,
        set: ImageSetId,
        id: u64,
        upload: Upload,
        options: ImportOptions,
        resume: Option<Resume>,
    ) -> Result<()> {
        let exact = self.clone();
        std::thread::Builder::new()
            .name(format!("import-job-{id}"))
            .spawn(move || run(exact, actor, set, id, upload, options, resume))
            .map(|_| ())
            .map_err(|e| Error::backend("import job thread", e))
    }

    /// Resumes the import jobs a previous process left unfinished whose upload this server
    /// kept: each is claimed once its record has not moved for ten seconds (its runner is
    /// gone) and reads on from where its last written batch was recorded (else from the start
    /// of its file). Returns at once; a background thread
    /// waits for the jobs that are not yet stale. In-memory stores have nothing to resume.
    pub fn resume_imports(&self) -> Result<()> {
        if !self.durable_jobs() {
            return Ok(());
        }
        let waiting: Vec<ImportJob> = self
            .catalog()
            .import_jobs()
            .unfinished()?
            .into_iter()
            .filter(|j| j.upload.as_deref().is_some_and(|p| Path::new(p).is_file()))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        tracing::info!(jobs = waiting.len(), "import jobs to resume");
        let exact = self.clone();
        std::thread::Builder::new()
            .name("import-job-resume".into())
            .spawn(move || exact.resume_loop(waiting))
            .map(|_| ())
            .map_err(|e| Error::backend("import job thread", e))
    }

    fn resume_loop(&self, mut waiting: Vec<ImportJob>) {
        let jobs = self.catalog().import_jobs();
        while !waiting.is_empty() {
            let now = self.catalog().now().0;
            let mut later = Vec::new();
            for j in waiting {
                if now - j.updated_micros < RESUME_AFTER_MICROS {
                    later.push(j);
                    continue;
                }
                let claimed = match jobs.claim(j.id, j.updated_micros) {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        // Moved since: a runner may be alive; look again later.
                        if let Ok(fresh) = jobs.unfinished()
                            && let Some(f) = fresh.into_iter().find(|f| f.id == j.id)
                        {
                            later.push(f);
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(job = j.id, error = %e, "import job not resumed");
                        continue;
                    }
                };
                if let Err(e) = self.resume_one(&claimed) {
                    tracing::warn!(job = j.id, error = %e, "import job not resumed");
                    if let Ok(actor) = self.actor(claimed.user) {
                        let _ = jobs.update(&actor, j.id, |r| {
                            r.state = ImportState::Failed;
                            r.phase = "finished".into();
                            r.error_kind = Some(format!("{:?}", e.kind()));
                            r.error = Some(format!("resuming after a restart failed: {e}"));
                        });
                    }
                }
            }
            waiting = later;
            if !waiting.is_empty() {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    fn resume_one(&self, job: &ImportJob) -> Result<()> {
        let actor = self.actor(job.user)?;
        let recorded = job.options.as_ref().unwrap_or(&Value::Null);
        let options = options_from(recorded)?;
        let resume = Resume::from_options(recorded);
        let path = PathBuf::from(job.upload.clone().unwrap_or_default());
        tracing::info!(
            job = job.id,
            attempt = job.attempts,
            from = resume.map(|r| r.at.describe()),
            "resuming import job"
        );
        self.spawn_job(
            actor,
            job.image_set,
            job.id,
            Upload::Kept(path),
            options,
            resume,
        )
    }
}

fn run(
    exact: Exact,
    actor: Actor,
    set: ImageSetId,
    id: u64,
    file: Upload,
    options: ImportOptions,
    resume: Option<Resume>,
) {
    let jobs = exact.catalog().import_jobs();
    // What the earlier runs did, added to this run's counts.
    let (written_before, read_before) = resume.map_or((0, 0), |r| (r.written, r.at.items_before()));
    // The import's latest progress; a ticker writes it to the record every second (also
    // while one batch takes longer), which tells a restarted server the runner is alive.
    let latest = Arc::new(Mutex::new((
        ImportProgress {
            phase: "reading",
            ..Default::default()
        },
        false,
    )));
    let note = |p: &ImportProgress| {
        let r = jobs.update(&actor, id, |j| {
            j.state = ImportState::Running;
            j.phase = p.phase.to_owned();
            j.bytes_read = p.bytes_read;
            j.items_read = read_before + p.items_read;
            j.to_write = written_before + p.to_write;
            j.written = written_before + p.written;
            // Durable progress: the place after the last written batch, so a restarted
            // server reads on from there.
            if let Some(at) = p.resume_at {
                let r = Resume {
                    at,
                    written: written_before + p.written,
                };
                match &mut j.options {
                    Some(Value::Object(o)) => {
                        o.insert("resume".into(), r.json());
                    }
                    _ => j.options = Some(json!({ "resume": r.json() })),
                }
            }
        });
        if let Err(e) = r {
            tracing::warn!(job = id, error = %e, "import job progress not recorded");
        }
    };
    note(&latest.lock().map(|l| l.0).unwrap_or_default());
    let outcome = std::thread::scope(|scope| {
        let ticker = {
            let latest = latest.clone();
            let note = &note;
            scope.spawn(move || {
                loop {
                    std::thread::park_timeout(EVERY);
                    let Ok((p, done)) = latest.lock().map(|l| *l) else {
                        return;
                    };
                    if done {
                        return;
                    }
                    note(&p);
                }
            })
        };
        let outcome = std::fs::File::open(file.path())
            .and_then(|mut f| {
                if let Some(off) = resume.and_then(|r| r.at.seek_to()) {
                    f.seek(SeekFrom::Start(off))?;
                }
                Ok(f)
            })
            .map_err(|e| Error::backend("import spool", e))
            .and_then(|f| {
                let mut input = std::io::BufReader::with_capacity(1 << 16, f);
                let mut recorded = None;
                exact.interop().import_from(
                    &actor,
                    set,
                    &mut input,
                    &options,
                    resume.map(|r| r.at),
                    &mut |p| {
                        if let Ok(mut l) = latest.lock() {
                            l.0 = *p;
                        }
                        // Recorded at once (not by the ticker): a batch was just written.
                        if p.resume_at.is_some() && p.resume_at != recorded {
                            recorded = p.resume_at;
                            note(p);
                        }
                    },
                )
            });
        if let Ok(mut l) = latest.lock() {
            l.1 = true;
        }
        ticker.thread().unpark();
        let _ = ticker.join();
        outcome
    });
    file.remove();
    let r = jobs.update(&actor, id, |j| match &outcome {
        Ok(report) => {
            let (refused_first, refused_count) = (report.refused.first(), report.refused_count);
            j.state = if report.refused_count > 0 {
                ImportState::Refused
            } else {
                ImportState::Done
            };
            j.phase = "finished".into();
            j.bytes_read = j.bytes_total;
            j.items_read = read_before + report.read;
            j.to_write = written_before + report.created;
            j.written = written_before + report.created;
            let mut report = serde_json::to_value(report).unwrap_or(Value::Null);
            if resume.is_some() {
                report["read"] = Value::from(read_before + report["read"].as_u64().unwrap_or(0));
                report["created"] = Value::from(j.written);
                report["resumed_from"] = resume.map(|r| r.json()).unwrap_or(Value::Null);
            }
            if j.attempts > 1
                && let Some(notes) = report.get_mut("notes").and_then(Value::as_array_mut)
            {
                notes.push(Value::from(match resume {
                    Some(r) => format!(
                        "resumed after a server restart (attempt {}) at {}: the {} annotations \
                         written before it were not read again; any written after the last \
                         recorded batch are counted as skipped duplicates",
                        j.attempts,
                        r.at.describe(),
                        r.written
                    ),
                    None => format!(
                        "resumed after a server restart (attempt {}) from the start of the \
                         file: annotations written before the restart are counted as skipped \
                         duplicates",
                        j.attempts
                    ),
                }));
            }
            j.report = Some(report);
            if let Some(first) = refused_first {
                j.error_kind = Some("Refused".into());
                j.error = Some(format!(
                    "{} item(s) refused; nothing was written (first: {}: {})",
                    refused_count, first.place, first.reason
                ));
            }
        }
        Err(e) => {
            j.state = ImportState::Failed;
            j.phase = "finished".into();
            j.written = 0;
            j.error_kind = Some(format!("{:?}", e.kind()));
            j.error = Some(match e.kind() {
                // Internal detail stays in the log.
                ErrorKind::Backend => {
                    "the import failed while writing; nothing was written (see the server log)"
                        .into()
                }
                _ => e.to_string(),
            });
        }
    });
    if let Err(e) = &outcome {
        tracing::warn!(job = id, error = %e, "import job failed");
    }
    if let Err(e) = r {
        tracing::warn!(job = id, error = %e, "import job outcome not recorded");
    }
}
