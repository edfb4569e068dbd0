//! Long imports as background jobs: [`Exact::start_import`] records an [`ImportJob`] (with the
//! actor's rights checked), then runs the library's import on a thread of this process,
//! rewriting the job's progress about once a second and its outcome at the end. The file
//! must already be on local disk (the HTTP layer spools uploads there); it is deleted when
//! the job ends. Jobs do not survive their process (see [`exact_core::catalog::ImportJobs`]).

use crate::Exact;
use exact_core::catalog::{ImportJob, ImportState};
use exact_core::{Actor, Error, ErrorKind, ImageSetId, Result};
use exact_interop::{ImportOptions, ImportProgress};
use std::time::{Duration, Instant};

/// How often a running job's record is rewritten with its progress.
const EVERY: Duration = Duration::from_millis(1000);

impl Exact {
    /// Starts importing `file` (a local temporary file, deleted when the job ends) into `set`
    /// in the background and returns the queued job; poll it with `catalog().import_jobs()`.
    /// Refused at once (no job) when the actor may not annotate the set.
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
        let job = self
            .catalog()
            .import_jobs()
            .create(actor, set, file_name, size)?;
        let (exact, actor, id) = (self.clone(), actor.clone(), job.id);
        std::thread::Builder::new()
            .name(format!("import-job-{id}"))
            .spawn(move || run(exact, actor, set, id, file, options))
            .map_err(|e| Error::backend("import job thread", e))?;
        Ok(job)
    }
}

fn run(
    exact: Exact,
    actor: Actor,
    set: ImageSetId,
    id: u64,
    file: tempfile::TempPath,
    options: ImportOptions,
) {
    let jobs = exact.catalog().import_jobs();
    let note = |p: &ImportProgress| {
        let r = jobs.update(&actor, id, |j| {
            j.state = ImportState::Running;
            j.phase = p.phase.to_owned();
            j.bytes_read = p.bytes_read;
            j.items_read = p.items_read;
            j.to_write = p.to_write;
            j.written = p.written;
        });
        if let Err(e) = r {
            tracing::warn!(job = id, error = %e, "import job progress not recorded");
        }
    };
    note(&ImportProgress {
        phase: "reading",
        ..Default::default()
    });
    let mut last = Instant::now();
    let outcome = std::fs::File::open(&file)
        .map_err(|e| Error::backend("import spool", e))
        .and_then(|f| {
            let mut input = std::io::BufReader::with_capacity(1 << 16, f);
            exact
                .interop()
                .import(&actor, set, &mut input, &options, &mut |p| {
                    if last.elapsed() >= EVERY {
                        note(p);
                        last = Instant::now();
                    }
                })
        });
    drop(file);
    let r = jobs.update(&actor, id, |j| match &outcome {
        Ok(report) => {
            j.state = if report.refused_count > 0 {
                ImportState::Refused
            } else {
                ImportState::Done
            };
            j.phase = "finished".into();
            j.bytes_read = j.bytes_total;
            j.items_read = report.read;
            j.to_write = report.created;
            j.written = report.created;
            j.report = serde_json::to_value(report).ok();
            if let Some(first) = report.refused.first() {
                j.error_kind = Some("Refused".into());
                j.error = Some(format!(
                    "{} item(s) refused; nothing was written (first: {}: {})",
                    report.refused_count, first.place, first.reason
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
