//! `exact demo`: loads the demo data (a team, a product with three annotation types, a set
//! holding a real slide and a few annotations) into a data directory, acting as one user.
//! On a store without any user it first creates the superuser `exact`, as `exact serve` does.

use std::process::ExitCode;

/// Arguments of `exact demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The user who owns the demo team (created as superuser `exact` on an empty store).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

/// Runs `exact demo`.
pub fn run(args: DemoArgs) -> ExitCode {
    let result = (|| -> Result<exact_store::demo::Demo, String> {
        let exact = args.data.open().map_err(|e| e.to_string())?;
        crate::bootstrap(&exact)?;
        let actor = exact
            .actor(crate::find_user(&exact, &args.user)?)
            .map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime
            .block_on(exact_store::demo::load(&exact, &actor))
            .map_err(|e| match e.kind() {
                exact_core::ErrorKind::AlreadyExists => {
                    format!("the demo is loaded already ({e})")
                }
                _ => e.to_string(),
            })
    })();
    match result {
        Ok(d) => {
            println!(
                "loaded the demo: team {} ({:?}), set {} ({:?}), image {} ({} × {}) with {} annotations",
                d.team.id.0,
                d.team.name,
                d.set.id.0,
                d.set.name,
                d.image.id.0,
                d.image.width,
                d.image.height,
                d.annotations
            );
            println!(
                "open it with `exact serve` at /annotations/{}/",
                d.image.id.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}
