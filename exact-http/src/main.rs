//! The `exact` binary: `serve`, `user`, `slide`.

// The doc comments of the CLI types are clap's `--help` text, written for a terminal
// (`<DATA>`, bare URLs), not for rustdoc.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

mod demo_cli;
mod fsck_cli;
mod interop_cli;
mod jobs_cli;
mod maps_cli;
mod migrate_cli;
mod register_cli;
mod slide_cli;
mod stats_cli;

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
    /// Metadata store URL (sled://PATH, memory:// or postgres://USER:PASSWORD@HOST:PORT/DB); defaults to sled://<DATA>/db.
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
        #[command(flatten)]
        net: NetArgs,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCommand,
    },
    /// Manage images.
    Image {
        #[command(subcommand)]
        cmd: ImageCommand,
    },
    /// Inspect slides and write tiles, regions and thumbnails.
    Slide {
        #[command(subcommand)]
        cmd: slide_cli::SlideCommand,
    },
    /// Check a data directory's metadata (and with --repair, fix it).
    Fsck(fsck_cli::FsckArgs),
    /// Bring a PostgreSQL metadata database to this build's schema.
    Migrate(migrate_cli::MigrateArgs),
    /// Import an annotation file (GeoJSON, COCO, CSV, EXACT label lines) into an image set.
    Import(interop_cli::ImportArgs),
    /// Export an image set's annotations to a file.
    Export(interop_cli::ExportArgs),
    /// Annotation maps of an image set (EXACT's): make them, or --sync relabels back.
    Map(maps_cli::MapArgs),
    /// Import jobs of a running server: your jobs on a set, or one job (--follow: until it ends).
    Jobs(jobs_cli::JobsArgs),
    /// Load demo data (a slide, a product, types and annotations) into a data directory.
    Demo(demo_cli::DemoArgs),
    /// Agreement statistics of an image set: precision, recall, F1 and kappa per annotator.
    Stats(stats_cli::StatsArgs),
    /// Register one image onto another automatically (tissue alignment), or time it on two slides.
    Register(register_cli::RegisterArgs),
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
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set a user's password.
    Passwd {
        #[command(flatten)]
        data: DataArgs,
        /// Login name.
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Create a personal access token (printed once; only its digest is stored).
    Token {
        #[command(flatten)]
        data: DataArgs,
        /// Login name.
        username: String,
        /// A label for the token.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token expires (never when absent).
        #[arg(long)]
        expires_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Register a slide in place by URL (s3://bucket/key.svs, file:///path, or a path),
    /// without copying it: an image of EXACT's file-link type.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The image set to add it to.
        #[arg(long)]
        set: u64,
        /// Name in the set (defaults to the file name).
        #[arg(long)]
        name: Option<String>,
        /// The superuser acting.
        #[arg(long = "as", default_value = "exact")]
        user: String,
        /// The slide's URL or path.
        url: String,
    },
}

/// The network edge of `exact serve`: limits on connections and logins, and how clients
/// reach the server.
#[derive(Debug, clap::Args)]
struct NetArgs {
    /// The URL clients reach the server at (e.g. https://exact.example.org/): links in
    /// answers start with it, not with the Host a client sends.
    #[arg(long, env = "EXACT_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Seconds a client has to send a request's line and headers (also bounds idle
    /// keep-alive connections).
    #[arg(long, env = "EXACT_HEADER_TIMEOUT", default_value_t = 30)]
    header_timeout: u64,
    /// Longest wait, in seconds, for the next bytes of a request body.
    #[arg(long, env = "EXACT_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "EXACT_KEEPALIVE_TIMEOUT", default_value_t = 30)]
    keepalive_timeout: u64,
    /// Connections open at once; more get a 503 and are closed.
    #[arg(long, env = "EXACT_MAX_CONNECTIONS", default_value_t = 2048)]
    max_connections: usize,
    /// Connections one address may hold at once (loopback exempt; 0 for no limit). Raise it
    /// behind a reverse proxy on another machine, which carries everyone's connections.
    #[arg(long, env = "EXACT_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    max_connections_per_ip: usize,
    /// Take the client's address from the last X-Forwarded-For hop (only behind a proxy
    /// that sets it).
    #[arg(long, env = "EXACT_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Failed logins per username or address within a minute before 429s.
    #[arg(long, env = "EXACT_LOGIN_MAX_FAILURES", default_value_t = 10)]
    login_max_failures: u32,
    /// Seconds of the first login block; each further block doubles, up to 15 minutes.
    #[arg(long, env = "EXACT_LOGIN_BLOCK_SECS", default_value_t = 30)]
    login_block_secs: u64,
    /// Let anyone create an account (POST /api/v1/auth/register/); off by default.
    #[arg(long, env = "EXACT_ALLOW_REGISTRATION")]
    allow_registration: bool,
    /// Trust the Remote-User header from this reverse proxy's address (repeat, or
    /// comma-separate): its requests act as the named user, created on first sight. Off
    /// unless given; the header of any other peer is ignored.
    #[arg(long, env = "EXACT_REMOTE_USER_PROXIES", value_delimiter = ',')]
    remote_user_proxy: Vec<std::net::IpAddr>,
    /// The header a trusted proxy names the user in.
    #[arg(long, env = "EXACT_REMOTE_USER_HEADER", default_value = "Remote-User")]
    remote_user_header: String,
    /// Also accept LDAP binds (ldap://HOST:PORT or ldaps://…) for users without a local
    /// password; the local user is created on first sight. Off unless given.
    #[arg(long, env = "EXACT_LDAP_URL")]
    ldap_url: Option<String>,
    /// The bind DN, with {username} where the username goes.
    #[arg(
        long,
        env = "EXACT_LDAP_BIND_DN",
        default_value = "uid={username},ou=people,dc=example,dc=org"
    )]
    ldap_bind_dn: String,
    /// Upgrade ldap:// connections with StartTLS.
    #[arg(long, env = "EXACT_LDAP_STARTTLS")]
    ldap_starttls: bool,
    /// Seconds to wait for the directory.
    #[arg(long, env = "EXACT_LDAP_TIMEOUT", default_value_t = 5)]
    ldap_timeout: u64,
    /// PEM file of the CA certificate(s) to trust for ldaps:// and StartTLS (instead of the
    /// system's roots), e.g. a directory's private CA.
    #[arg(long, env = "EXACT_LDAP_CA_FILE")]
    ldap_ca_file: Option<std::path::PathBuf>,
}

impl NetArgs {
    fn options(
        &self,
    ) -> Result<(exact_http::RouterOptions, exact_http::serve::ServeOptions), String> {
        use std::time::Duration;
        if let Some(u) = &self.public_url
            && !matches!(u.scheme(), "http" | "https")
        {
            return Err(format!(
                "--public-url {u}: must be an http:// or https:// URL"
            ));
        }
        for (name, v) in [
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
            ("--keepalive-timeout", self.keepalive_timeout),
            ("--login-block-secs", self.login_block_secs),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1 second"));
            }
        }
        if self.max_connections == 0 || self.login_max_failures == 0 {
            return Err("--max-connections and --login-max-failures must be at least 1".into());
        }
        let router = exact_http::RouterOptions {
            public_url: self.public_url.clone(),
            throttle: exact_http::throttle::ThrottleOptions {
                max_failures: self.login_max_failures,
                block: Duration::from_secs(self.login_block_secs),
                ..Default::default()
            },
            allow_registration: self.allow_registration,
            remote_user: if self.remote_user_proxy.is_empty() {
                None
            } else {
                let header = axum::http::HeaderName::try_from(self.remote_user_header.as_str())
                    .map_err(|_| {
                        format!(
                            "--remote-user-header {:?} is not a header name",
                            self.remote_user_header
                        )
                    })?;
                Some(exact_http::remote_user::RemoteUserOptions {
                    header,
                    trusted: self.remote_user_proxy.clone(),
                })
            },
            ldap: match &self.ldap_url {
                None => None,
                Some(url) => {
                    let mut o = exact_http::ldap::LdapOptions {
                        url: url.clone(),
                        bind_dn: self.ldap_bind_dn.clone(),
                        starttls: self.ldap_starttls,
                        timeout: Duration::from_secs(self.ldap_timeout.max(1)),
                        tls: None,
                    };
                    o.validate()?;
                    if let Some(ca) = &self.ldap_ca_file {
                        o.trust_ca_file(ca)?;
                    }
                    Some(o)
                }
            },
        };
        let serve = exact_http::serve::ServeOptions {
            header_read_timeout: Duration::from_secs(self.header_timeout),
            body_read_timeout: Duration::from_secs(self.body_timeout),
            keep_alive_timeout: Duration::from_secs(self.keepalive_timeout),
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            trust_forwarded_for: self.trust_forwarded_for,
            ..Default::default()
        };
        Ok((router, serve))
    }
}

/// Where a password comes from.
#[derive(Debug, clap::Args)]
struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    /// The password (visible in the process list; prefer --password-stdin).
    #[arg(long)]
    password: Option<String>,
}

impl PasswordArgs {
    fn read(self) -> Result<Option<String>, String> {
        if let Some(p) = self.password {
            return Ok(Some(p));
        }
        if !self.password_stdin {
            return Ok(None);
        }
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let p = line.trim_end_matches(['\r', '\n']).to_owned();
        if p.is_empty() {
            return Err("empty password on stdin".into());
        }
        Ok(Some(p))
    }
}

fn main() -> ExitCode {
    // EXACT_LOG=debug shows every request with its id, status and time; default: warnings.
    let level = std::env::var("EXACT_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { data, bind, net } => serve(data, bind, net),
        Command::User { cmd } => user(cmd),
        Command::Image { cmd } => image(cmd),
        Command::Slide { cmd } => slide_cli::run(cmd),
        Command::Fsck(args) => fsck_cli::run(args),
        Command::Migrate(args) => migrate_cli::run(args),
        Command::Import(args) => interop_cli::import(args),
        Command::Export(args) => interop_cli::export(args),
        Command::Map(args) => maps_cli::run(args),
        Command::Jobs(args) => jobs_cli::run(args),
        Command::Demo(args) => demo_cli::run(args),
        Command::Stats(args) => stats_cli::run(args),
        Command::Register(args) => register_cli::run(args),
    }
}

fn user(cmd: UserCommand) -> ExitCode {
    let result = match cmd {
        UserCommand::Add {
            data,
            username,
            superuser,
            password,
        } => password.read().and_then(|password| {
            let exact = data.open().map_err(|e| e.to_string())?;
            let new = NewUser {
                username,
                is_superuser: superuser,
                ..Default::default()
            };
            let user = exact
                .trusted_accounts()
                .register(new, password.as_deref())
                .map_err(|e| e.to_string())?;
            println!("created user {} (id {})", user.username, user.id.0);
            Ok(())
        }),
        UserCommand::Passwd {
            data,
            username,
            password,
        } => password.read().and_then(|password| {
            let password = password.ok_or("give --password-stdin or --password")?;
            let exact = data.open().map_err(|e| e.to_string())?;
            let user = find_user(&exact, &username)?;
            set_password(&exact, user, &password)?;
            println!("password of {username} changed");
            Ok(())
        }),
        UserCommand::Token {
            data,
            username,
            name,
            expires_days,
        } => (|| {
            let exact = data.open().map_err(|e| e.to_string())?;
            let user = find_user(&exact, &username)?;
            let expires = expires_days
                .map(|d| exact_core::catalog::expiry_in_days(exact.catalog().now(), d))
                .transpose()
                .map_err(|e| e.to_string())?;
            let t = exact
                .trusted_accounts()
                .mint_token(user, &name, expires)
                .map_err(|e| e.to_string())?;
            println!("{}", t.secret);
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}

fn image(cmd: ImageCommand) -> ExitCode {
    let ImageCommand::Add {
        data,
        set,
        name,
        user,
        url,
    } = cmd;
    let result = (|| -> Result<exact_core::model::Image, String> {
        let url = match url.split_once("://") {
            Some(_) => url,
            None => std::path::absolute(&url)
                .map_err(|e| format!("{url}: {e}"))?
                .display()
                .to_string(),
        };
        let exact = data.open().map_err(|e| e.to_string())?;
        let actor = exact
            .actor(find_user(&exact, &user)?)
            .map_err(|e| e.to_string())?;
        let mut new = exact_core::catalog::NewImage::new(
            exact_core::ImageSetId(set),
            name.unwrap_or_else(|| exact_store::files::safe_name(&url)),
            1,
            1,
        );
        new.filename = url;
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime
            .block_on(exact.images().link(&actor, new))
            .map_err(|e| e.to_string())
    })();
    match result {
        Ok(i) => {
            println!(
                "added image {} ({:?}, {} × {}) to set {}",
                i.id.0, i.name, i.width, i.height, i.image_set.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}

fn find_user(exact: &Exact, username: &str) -> Result<exact_core::UserId, String> {
    exact
        .users()
        .by_username(username)
        .map_err(|e| e.to_string())?
        .map(|u| u.id)
        .ok_or_else(|| format!("no user named {username:?}"))
}

fn set_password(exact: &Exact, user: exact_core::UserId, password: &str) -> Result<(), String> {
    exact
        .trusted_accounts()
        .set_password(user, password)
        .map_err(|e| e.to_string())
}

/// On first start with no user at all, creates the superuser `exact` with the password in
/// `EXACT_ADMIN_PASSWORD`, or a random one printed once.
fn bootstrap(exact: &Exact) -> Result<(), String> {
    let (password, generated) = match std::env::var("EXACT_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => {
            let (secret, _) = exact_http::auth::new_token();
            (
                secret.trim_start_matches(exact_http::auth::TOKEN_PREFIX)[..20].to_owned(),
                true,
            )
        }
    };
    let made = exact
        .trusted_accounts()
        .first_start("exact", Some(&password))
        .map_err(|e| e.to_string())?;
    match made {
        None => {}
        Some(_) if generated => {
            println!("created superuser exact with password {password} (shown once)")
        }
        Some(_) => println!("created superuser exact with the password in EXACT_ADMIN_PASSWORD"),
    }
    Ok(())
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    // With its causes: "storage backend postgres://exact:***@db/exact failed: error
    // connecting to server: Connection refused" says what to fix (locations are redacted).
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    eprintln!("exact: {message}");
    ExitCode::FAILURE
}

fn serve(data: DataArgs, bind: SocketAddr, net: NetArgs) -> ExitCode {
    let (router_opts, serve_opts) = match net.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("exact: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exact = match data.open() {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    if let Err(e) = bootstrap(&exact) {
        eprintln!("exact: cannot create the first user: {e}");
        return ExitCode::FAILURE;
    }
    // Import jobs a previous run left unfinished run again (their uploads were kept).
    if let Err(e) = exact.resume_imports() {
        eprintln!("exact: unfinished import jobs not resumed: {e}");
    }
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
        // Ctrl-C or SIGTERM: stop accepting, let requests in flight finish (their writes are
        // flushed before they answer), then exit.
        let shutdown = async {
            #[cfg(unix)]
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!("no SIGTERM handler ({e}); only Ctrl-C stops gracefully");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        };
        // The one background job: conversions of uploaded pictures (and resuming those a
        // previous run left, sweeping uploads a crash interrupted). Stops with the server.
        let _worker = match exact_store::ConversionWorker::start(&exact) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("exact: cannot start the conversion worker: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Jobs of model plugins (issue 16): one at a time, tile by tile.
        if let Some(base) = router_opts
            .public_url
            .as_ref()
            .map(|u| u.to_string())
            .or_else(|| {
                listener.local_addr().ok().map(|a| {
                    let ip = if a.ip().is_unspecified() {
                        "127.0.0.1".to_owned()
                    } else {
                        a.ip().to_string()
                    };
                    let host = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip
                    };
                    format!("http://{host}:{}", a.port())
                })
            })
        {
            exact_http::models::set_tile_base(&base);
        }
        let _models = exact_http::models::start(&exact);
        let app = exact_http::router_with(exact, router_opts);
        match exact_http::serve::serve(listener, app, serve_opts, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}
