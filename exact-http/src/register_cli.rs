//! `exact register SOURCE TARGET`: the automatic registration of one image onto another.
//! With image ids it runs the library's use case (EXACT's `register_images`) on a data
//! directory and stores the result; with `--slides`, SOURCE and TARGET are slide paths or
//! URLs and the estimate is only printed (nothing stored), e.g. to time it.

use std::process::ExitCode;

use exact_store::registration::RegisterOptions;

/// Arguments of `exact register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The image (id) or, with --slides, the slide (path or URL) whose coordinates are mapped.
    source: String,
    /// The image (id) or slide they are mapped onto.
    target: String,
    /// SOURCE and TARGET are slide paths or URLs: print the estimate, store nothing.
    #[arg(long)]
    slides: bool,
    /// Also store the inverse (target → source) registration.
    #[arg(long)]
    inverse: bool,
    /// The thumbnails' longer side for the coarse alignment (128–4096).
    #[arg(long, default_value_t = 1024)]
    thumbnail_size: u32,
    /// The user acting (needs the right to edit the source's image set).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

/// Runs `exact register`.
pub fn run(args: RegisterArgs) -> ExitCode {
    match run_inner(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: RegisterArgs) -> Result<String, String> {
    if !(128..=4096).contains(&args.thumbnail_size) {
        return Err(format!(
            "--thumbnail-size {} is not from 128 to 4096",
            args.thumbnail_size
        ));
    }
    let opts = RegisterOptions {
        thumbnail_size: args.thumbnail_size,
        ..RegisterOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    if args.slides {
        return runtime.block_on(async {
            let open = |s: String| async move {
                exact_tiles::Slide::open(&s)
                    .await
                    .map_err(|e| format!("{s}: {e}"))
            };
            let (a, b) = (open(args.source).await?, open(args.target).await?);
            let r = exact_tiles::register::register(&a, &b, opts)
                .await
                .map_err(|e| e.to_string())?;
            Ok(serde_json::json!({
                "transformation_matrix": r.matrix,
                "registration_error": r.error,
                "matches": r.matches,
                "runtime": r.seconds,
            })
            .to_string())
        });
    }
    let id = |s: &str, what: &str| {
        s.parse::<u64>()
            .map(exact_core::ImageId)
            .map_err(|_| format!("{what} {s:?} is not an image id (use --slides for files)"))
    };
    let (source, target) = (id(&args.source, "SOURCE")?, id(&args.target, "TARGET")?);
    let exact = args.data.open().map_err(|e| e.to_string())?;
    let actor = exact
        .actor(crate::find_user(&exact, &args.user)?)
        .map_err(|e| e.to_string())?;
    let done = runtime
        .block_on(exact.register_images(&actor, source, target, opts, args.inverse))
        .map_err(|e| e.to_string())?;
    let r = &done.registration;
    Ok(format!(
        "{} registration {} of {} onto {}: error {:.3} px, {} patches, {:.2} s\n{}",
        if done.created { "stored" } else { "replaced" },
        r.id.0,
        r.source_image,
        r.target_image,
        r.registration_error,
        done.matches,
        r.runtime,
        serde_json::to_string(&r.transformation_matrix).unwrap_or_default()
    ))
}
