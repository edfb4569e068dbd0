//! The `exact` binary.

mod slide_cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// exact-rs: whole-slide image annotation server and tools.
#[derive(Debug, Parser)]
#[command(name = "exact", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect slides and write tiles, regions and thumbnails.
    Slide {
        #[command(subcommand)]
        cmd: slide_cli::SlideCommand,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Slide { cmd } => slide_cli::run(cmd),
    }
}
