//! `exact import FILE --set ID [--format F] [--create-missing] [--dry-run]` and
//! `exact export --set ID --format F -o FILE`: annotation files in and out of a data directory
//! through the library's import/export use cases, acting as one user (`--as`), with a
//! progress bar on a terminal and a summary. Exit status: 0 done, 1 refused or failed.

use exact_core::ImageSetId;
use exact_interop::{ExportOptions, Format, ImportOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `exact import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The annotation file (GeoJSON, COCO, CSV, EXACT label lines).
    file: PathBuf,
    /// The image set to import into.
    #[arg(long)]
    set: u64,
    /// geojson, coco, csv or exact-labels; detected from the content when not given.
    #[arg(long)]
    format: Option<String>,
    /// Create the annotation types and images the file names but the set lacks.
    #[arg(long)]
    create_missing: bool,
    /// Check everything and report; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The image for annotations that name none (QuPath exports one file per image).
    #[arg(long)]
    image: Option<String>,
    /// Verify each created annotation as the importing user (EXACT's label upload option).
    #[arg(long)]
    verify: bool,
    /// The user acting (their rights apply).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

/// Arguments of `exact export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The image set to export.
    #[arg(long)]
    set: u64,
    /// geojson, coco, csv or exact-labels.
    #[arg(long)]
    format: String,
    /// Output file (`-` = standard output); written whole or not at all.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Leave soft-deleted annotations out (exported, flagged, by default).
    #[arg(long)]
    skip_deleted: bool,
    /// The user acting (their rights apply).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let b = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    b.set_message(what.to_owned());
    b
}

/// Runs `exact import`.
pub fn import(args: ImportArgs) -> ExitCode {
    let r = (|| -> Result<exact_interop::ImportReport, String> {
        let format = args
            .format
            .as_deref()
            .map(Format::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        let file =
            std::fs::File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        let len = file.metadata().map(|m| m.len()).ok();
        let exact = args
            .data
            .open()
            .map_err(|e| format!("cannot open the store: {e}"))?;
        let user = crate::find_user(&exact, &args.user)?;
        let actor = exact.actor(user).map_err(|e| e.to_string())?;
        let progress = bar(len, "reading");
        let mut input = Counting {
            inner: file,
            bar: progress.clone(),
        };
        let options = ImportOptions {
            format,
            create_missing: args.create_missing,
            dry_run: args.dry_run,
            image: args.image.clone(),
            verify: args.verify,
            ..Default::default()
        };
        // Reading is counted in bytes (by `Counting`), writing in annotations.
        let mut writing = false;
        let r = exact.interop().import(
            &actor,
            ImageSetId(args.set),
            &mut input,
            &options,
            &mut |p| {
                if p.phase != "writing" {
                    return;
                }
                if !writing {
                    writing = true;
                    progress.set_style(
                        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    progress.set_message("writing");
                    progress.set_length(p.to_write);
                }
                progress.set_position(p.written);
            },
        );
        progress.finish_and_clear();
        r.map_err(|e| format!("{}: {e}", args.file.display()))
    })();
    match r {
        Ok(rep) => {
            for f in &rep.refused {
                eprintln!("refused: {}: {}", f.place, f.reason);
            }
            if rep.refused_count as usize > rep.refused.len() {
                eprintln!(
                    "… and {} more refused",
                    rep.refused_count as usize - rep.refused.len()
                );
            }
            for n in &rep.notes {
                eprintln!("note: {n}");
            }
            let verb = if rep.dry_run {
                "would create"
            } else {
                "created"
            };
            let created = if rep.dry_run {
                rep.read - rep.skipped_duplicates - rep.refused_count
            } else {
                rep.created
            };
            println!(
                "{}: read {} ({}), {verb} {}, skipped {} as duplicates, refused {}{}{}",
                args.file.display(),
                rep.read,
                rep.format,
                created,
                rep.skipped_duplicates,
                rep.refused_count,
                if rep.created_types.is_empty() {
                    String::new()
                } else {
                    format!("; types {verb}: {}", rep.created_types.join(", "))
                },
                if rep.created_images.is_empty() {
                    String::new()
                } else {
                    format!("; images {verb}: {}", rep.created_images.join(", "))
                },
            );
            if rep.refused_count > 0 {
                eprintln!("nothing was written");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("exact import: {e}");
            eprintln!("nothing was written");
            ExitCode::FAILURE
        }
    }
}

/// Runs `exact export`.
pub fn export(args: ExportArgs) -> ExitCode {
    let r = (|| -> Result<exact_interop::ExportSummary, String> {
        // `exact:<name>` names an export format of the store (checked once it is open).
        if !args
            .format
            .trim()
            .starts_with(exact_interop::exact_template::PREFIX)
        {
            Format::parse(&args.format).map_err(|e| e.to_string())?;
        }
        let format = args.format.as_str();
        let exact = args
            .data
            .open()
            .map_err(|e| format!("cannot open the store: {e}"))?;
        let user = crate::find_user(&exact, &args.user)?;
        let actor = exact.actor(user).map_err(|e| e.to_string())?;
        let options = ExportOptions {
            skip_deleted: args.skip_deleted,
        };
        let progress = bar(None, "exporting");
        let mut tick = |n: u64| progress.set_message(format!("exporting: {n} annotations"));
        let set = ImageSetId(args.set);
        if args.output.as_os_str() == "-" {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let s = exact
                .interop()
                .export_named(&actor, set, format, &options, &mut out, &mut tick)
                .map_err(|e| e.to_string())?;
            out.flush().map_err(|e| e.to_string())?;
            progress.finish_and_clear();
            return Ok(s);
        }
        // Written beside the target and renamed into place: a failed export leaves no half file.
        let dir = args
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let tmp =
            tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
        let s = exact
            .interop()
            .export_named(&actor, set, format, &options, &mut out, &mut tick)
            .map_err(|e| e.to_string())?;
        let tmp = out.into_inner().map_err(|e| e.to_string())?;
        tmp.as_file().sync_all().map_err(|e| e.to_string())?;
        tmp.persist(&args.output)
            .map_err(|e| format!("{}: {e}", args.output.display()))?;
        progress.finish_and_clear();
        Ok(s)
    })();
    match r {
        Ok(s) => {
            eprintln!(
                "exported {} annotations of {} images as {} to {} (coordinates: level-0 pixels)",
                s.annotations,
                s.images,
                args.format,
                args.output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact export: {e}");
            ExitCode::FAILURE
        }
    }
}
