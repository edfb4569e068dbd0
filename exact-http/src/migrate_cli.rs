//! `exact migrate --meta postgres://…`: brings a PostgreSQL metadata database to the schema this
//! build needs (versioned SQL files in `exact-store/migrations/postgres/`). `exact serve` applies
//! them too when it starts; this command does it ahead of a rolling restart, and tells which
//! version a database is at. Exit status: 0 done, 2 the database cannot be reached or is newer
//! than this build.
//!
//! `exact migrate --from URL --to URL` copies a whole metadata store into an empty one (sled to
//! PostgreSQL and back) with a progress bar, then compares counts and checksums of every kind
//! and index and exits 1 on any difference. Interrupted, it goes on with `--resume`.

use exact_store::meta::copy::{self, Phase};
use exact_store::meta::{open_meta_store, postgres, redact};
use indicatif::{ProgressBar, ProgressStyle};
use std::process::ExitCode;

/// Arguments of `exact migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The metadata database to bring to this build's schema, e.g.
    /// postgres://exact@127.0.0.1:5432/exact.
    #[arg(long, env = "EXACT_META", required_unless_present = "from")]
    meta: Option<String>,
    /// Copy this metadata store (sled://PATH or postgres://…; stop its servers first) …
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// … into this one, which must be empty (or hold an interrupted copy, with --resume).
    /// Blobs are not copied: records name them, so keep the same --blobs.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Go on with an interrupted copy into --to.
    #[arg(long, requires = "from")]
    resume: bool,
}

fn chain(e: &exact_core::Error) -> String {
    let mut line = format!("error: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        line.push_str(&format!(": {c}"));
        cause = c.source();
    }
    line
}

/// Copies `--from` into `--to` and verifies the copy.
fn copy_store(from: &str, to: &str, resume: bool) -> ExitCode {
    let (from_shown, to_shown) = (redact(from), redact(to));
    let opened = open_meta_store(from).and_then(|f| Ok((f, open_meta_store(to)?)));
    let (source, target) = match opened {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", chain(&e));
            return ExitCode::from(2);
        }
    };
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let mut last = None;
    let started = std::time::Instant::now();
    let result = copy::copy(
        source.as_ref(),
        target.as_ref(),
        resume,
        &mut |phase, done, total| {
            if last != Some(phase) {
                last = Some(phase);
                match phase {
                    Phase::Counting => bar.set_message(format!("counting {from_shown}")),
                    Phase::Copying => {
                        bar.set_style(style.clone());
                        bar.set_length(total);
                        bar.set_message(format!("copying to {to_shown}"));
                    }
                    Phase::Verifying => {
                        bar.set_style(ProgressStyle::default_spinner());
                        bar.set_message(format!("verifying {to_shown}"));
                    }
                }
            }
            bar.set_position(done);
            true
        },
    );
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", chain(&e));
            return ExitCode::from(2);
        }
    };
    let bad = report.mismatches();
    for (s, t) in &bad {
        eprintln!(
            "error: {}: source has {} (checksum {:016x}), target {} (checksum {:016x})",
            s.what, s.count, s.checksum, t.count, t.checksum
        );
    }
    let total: u64 = report.source.iter().map(|t| t.count).sum();
    if !bad.is_empty() {
        return ExitCode::FAILURE;
    }
    println!(
        "copied {from_shown} to {to_shown}: {total} records and entries ({} this run, {} \
         already there) in {:.1} s; counts and checksums of {} kinds and indexes match",
        report.copied,
        report.skipped,
        started.elapsed().as_secs_f64(),
        report.source.len()
    );
    ExitCode::SUCCESS
}

/// Applies the missing migrations and prints the version reached, or copies a store.
pub fn run(args: MigrateArgs) -> ExitCode {
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        return copy_store(from, to, args.resume);
    }
    let Some(meta) = args.meta else {
        eprintln!("error: give --meta URL, or --from URL --to URL");
        return ExitCode::from(2);
    };
    let shown = redact(&meta);
    if !(meta.starts_with("postgres://") || meta.starts_with("postgresql://")) {
        eprintln!(
            "error: {shown}: only postgres:// databases have migrations (sled and memory stores \
             need none)"
        );
        return ExitCode::from(2);
    }
    let opened = postgres::open(&meta, postgres::Schema::Migrate).and_then(|s| {
        let v = s.schema_version()?;
        // Data migrations after the schema: the maintained annotation counts, once.
        let c = exact_core::Catalog::new(std::sync::Arc::new(s));
        c.build_counts()?;
        c.build_by_id()?;
        Ok(v)
    });
    match opened {
        Ok(v) => {
            println!(
                "{shown}: schema version {v} (this exact needs {})",
                postgres::SCHEMA_VERSION
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", chain(&e));
            ExitCode::from(2)
        }
    }
}
