//! The `exact` binary: `serve`, `user`, `slide`.

mod slide_cli;

/// sled and page decoding allocate a lot; mimalloc beats glibc malloc on that workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exact_core::catalog::NewUser;
use exact_store::{Exact, ExactConfig};

/// exact-rs: whole-slide image annotation server and tools.
#[derive(Debug, Parser)]
#[command(name = "exact", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives; flags mirror `EXACT_*` environment variables.
#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Data directory: metadata in <DATA>/db (sled), blobs in <DATA>/blobs.
    #[arg(long, env = "EXACT_DATA", default_value = "./exact-data")]
    data: PathBuf,
    /// Metadata store URL (sled://PATH or memory://); defaults to sled://<DATA>/db.
    #[arg(long, env = "EXACT_META")]
    meta: Option<String>,
    /// Blob store URL (a path, file://DIR, memory:// or s3://bucket/prefix); defaults to <DATA>/blobs.
    #[arg(long, env = "EXACT_BLOBS")]
    blobs: Option<String>,
}

impl DataArgs {
    fn open(self) -> Result<Exact, exact_core::Error> {
        Exact::open(ExactConfig {
            data_dir: self.data,
            meta: self.meta,
            blobs: self.blobs,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on.
        #[arg(long, env = "EXACT_BIND", default_value = "127.0.0.1:8000")]
        bind: SocketAddr,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCommand,
    },
    /// Inspect slides and write tiles, regions and thumbnails.
    Slide {
        #[command(subcommand)]
        cmd: slide_cli::SlideCommand,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Register a user.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// Login name.
        username: String,
        /// Grant every right everywhere.
        #[arg(long)]
        superuser: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { data, bind } => serve(data, bind),
        Command::User {
            cmd:
                UserCommand::Add {
                    data,
                    username,
                    superuser,
                },
        } => {
            let result = data.open().and_then(|exact| {
                exact.users().register(NewUser {
                    username,
                    is_superuser: superuser,
                    ..Default::default()
                })
            });
            match result {
                Ok(user) => {
                    println!("created user {} (id {})", user.username, user.id.0);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Slide { cmd } => slide_cli::run(cmd),
    }
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    eprintln!("exact: {e}");
    ExitCode::FAILURE
}

fn serve(data: DataArgs, bind: SocketAddr) -> ExitCode {
    let exact = match data.open() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(bind).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("exact: cannot listen on {bind}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "exact serving on http://{bind} (meta {}, blobs {})",
            exact.config().meta_url(),
            exact.config().blobs_url()
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match axum::serve(listener, exact_http::router(exact))
            .with_graceful_shutdown(shutdown)
            .await
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}
