//! `exact jobs --server URL --set ID` / `exact jobs --server URL JOB [--follow]`: import jobs
//! of a running server, over its API (a server's data directory is locked while it runs). The
//! list shows each of your jobs on the set; one job prints its state and progress, with
//! `--follow` every second until it ends. Credentials: `--token` (a personal access token,
//! `EXACT_TOKEN`) or `--user` and `EXACT_PASSWORD`. Exit status: 0 done (or listed), 1 the
//! job was refused, failed or interrupted, or the server answered an error.

use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `exact jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// The server's URL, e.g. http://127.0.0.1:8000.
    #[arg(long, env = "EXACT_SERVER")]
    server: String,
    /// A personal access token.
    #[arg(long, env = "EXACT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Log in as this user (password from EXACT_PASSWORD).
    #[arg(long)]
    user: Option<String>,
    /// List your import jobs on this image set.
    #[arg(long, conflicts_with = "job")]
    set: Option<u64>,
    /// Show this import job.
    #[arg(required_unless_present = "set")]
    job: Option<u64>,
    /// Show the job's progress every second until it ends.
    #[arg(long, requires = "job")]
    follow: bool,
}

/// One line about a job.
fn line(j: &Value) -> String {
    let n = |k: &str| j.get(k).and_then(Value::as_u64).unwrap_or(0);
    let s = |k: &str| j.get(k).and_then(Value::as_str).unwrap_or("");
    let mut out = format!(
        "job {} {:<11} {:>5.1} %  {} ({} phase: {} of {} bytes read, {} items, {} of {} written)",
        n("id"),
        s("state"),
        j.get("progress").and_then(Value::as_f64).unwrap_or(0.0) * 100.0,
        s("file_name"),
        s("phase"),
        n("bytes_read"),
        n("bytes_total"),
        n("items_read"),
        n("written"),
        n("to_write"),
    );
    if n("attempts") > 1 {
        out.push_str(&format!(", attempt {}", n("attempts")));
    }
    if let Some(r) = j.get("report").filter(|r| !r.is_null()) {
        let r = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "; created {}, skipped {} as duplicates",
            r("created"),
            r("skipped_duplicates")
        ));
    }
    if let Some(e) = j.get("error").and_then(Value::as_str) {
        out.push_str(&format!("; {e}"));
    }
    out
}

async fn get(client: &reqwest::Client, args: &JobsArgs, path: &str) -> Result<Value, String> {
    let url = format!("{}{path}", args.server.trim_end_matches('/'));
    let mut req = client.get(&url);
    if let Some(t) = &args.token {
        req = req.header("Authorization", format!("Token {t}"));
    } else if let Some(u) = &args.user {
        let password = std::env::var("EXACT_PASSWORD")
            .map_err(|_| "--user needs the password in EXACT_PASSWORD".to_owned())?;
        req = req.basic_auth(u, Some(password));
    }
    let r = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("{url}: {e}"))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let why = body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        return Err(format!("{url}: {status}: {why}"));
    }
    Ok(body)
}

async fn go(args: JobsArgs) -> Result<bool, String> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    if let Some(set) = args.set {
        let list = get(
            &client,
            &args,
            &format!("/api/v1/images/image_sets/{set}/import/jobs/"),
        )
        .await?;
        let jobs = list.get("results").and_then(Value::as_array);
        for j in jobs.into_iter().flatten() {
            println!("{}", line(j));
        }
        if jobs.is_none_or(|j| j.is_empty()) {
            println!("no import jobs of yours on set {set}");
        }
        return Ok(true);
    }
    let id = args.job.unwrap_or(0);
    loop {
        let j = get(&client, &args, &format!("/api/v1/images/import_jobs/{id}/")).await?;
        println!("{}", line(&j));
        let finished = j.get("finished").and_then(Value::as_bool).unwrap_or(true);
        if finished {
            return Ok(j.get("state").and_then(Value::as_str) == Some("done"));
        }
        if !args.follow {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs `exact jobs`.
pub fn run(args: JobsArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("exact: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(go(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}
