//! `exact migrate --meta postgres://…`: brings a PostgreSQL metadata database to the schema this
//! build needs (versioned SQL files in `exact-store/migrations/postgres/`). `exact serve` applies
//! them too when it starts; this command does it ahead of a rolling restart, and tells which
//! version a database is at. Exit status: 0 done, 2 the database cannot be reached or is newer
//! than this build.

use exact_store::meta::{postgres, redact};
use std::process::ExitCode;

/// Arguments of `exact migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The metadata database, e.g. postgres://exact@127.0.0.1:5432/exact.
    #[arg(long, env = "EXACT_META")]
    meta: String,
}

/// Applies the missing migrations and prints the version reached.
pub fn run(args: MigrateArgs) -> ExitCode {
    let shown = redact(&args.meta);
    if !(args.meta.starts_with("postgres://") || args.meta.starts_with("postgresql://")) {
        eprintln!(
            "error: {shown}: only postgres:// databases have migrations (sled and memory stores \
             need none)"
        );
        return ExitCode::from(2);
    }
    match postgres::open(&args.meta, postgres::Schema::Migrate).and_then(|s| s.schema_version()) {
        Ok(v) => {
            println!(
                "{shown}: schema version {v} (this exact needs {})",
                postgres::SCHEMA_VERSION
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut line = format!("error: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                line.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{line}");
            ExitCode::from(2)
        }
    }
}
