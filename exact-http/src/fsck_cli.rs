//! `exact fsck [--repair]`: checks a data directory's metadata store (records, index entries,
//! annotation pages, locators, history) and, with `--repair`, fixes what can be fixed without
//! guessing. Run it with the server stopped (sled lets one process hold the directory).
//! Exit status: 0 when no problem remains, 1 when some do, 2 when the store cannot be opened.

use std::process::ExitCode;

/// Arguments of `exact fsck`.
#[derive(Debug, clap::Args)]
pub struct FsckArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// Repair what can be repaired: remove dangling index entries, add missing ones, move
    /// misfiled annotations, rebuild locators, quarantine undecodable annotations.
    #[arg(long)]
    repair: bool,
}

/// Runs the check and prints what it found, one line per problem.
pub fn run(args: FsckArgs) -> ExitCode {
    let repair = args.repair;
    let exact = match args.data.open() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot open the store: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match exact.catalog().fsck(repair) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: fsck stopped: {e}");
            return ExitCode::from(2);
        }
    };
    for f in &report.findings {
        let status = if f.repaired { "repaired" } else { "PROBLEM" };
        println!("{status}: {}: {}", f.what, f.problem);
    }
    let left = report.problems_left();
    println!(
        "checked {} records, {} index entries, {} annotation pages ({} annotations), {} history entries: {} found, {} repaired, {} left",
        report.records,
        report.index_entries,
        report.pages,
        report.annotations,
        report.history_entries,
        report.findings.len(),
        report.findings.len() - left,
        left,
    );
    if left > 0 && !repair {
        println!("run `exact fsck --repair` to fix what can be fixed");
    }
    if left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
