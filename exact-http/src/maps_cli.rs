//! `exact map --set ID [--type ID] [--sync]`: EXACT's annotation maps on a data directory —
//! make the set's maps (every type, or one) as server-generated images, or with `--sync`
//! push the types given on the maps back to the originals. Prints EXACT's JSON answer
//! (`Names` / `Updates`). Exit status: 0 done, 1 refused or failed (the reason on stderr).

use exact_core::{AnnotationTypeId, ImageSetId};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

/// Arguments of `exact map`.
#[derive(Debug, clap::Args)]
pub struct MapArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The image set.
    #[arg(long)]
    set: u64,
    /// Map this annotation type only (all types with annotations otherwise).
    #[arg(long = "type")]
    annotation_type: Option<u64>,
    /// Push the types given on the maps back to the originals instead of making maps.
    #[arg(long)]
    sync: bool,
    /// The user acting (needs the right to edit the set).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

/// Runs `exact map`.
pub fn run(args: MapArgs) -> ExitCode {
    match run_inner(args) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: MapArgs) -> Result<Value, String> {
    if args.sync && args.annotation_type.is_some() {
        return Err("--type makes maps; --sync takes no type".into());
    }
    let exact = args
        .data
        .open()
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let user = crate::find_user(&exact, &args.user)?;
    let actor = exact.actor(user).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let set = ImageSetId(args.set);
    runtime.block_on(async {
        let maps = exact.annotation_maps();
        if args.sync {
            let updates = maps.sync(&actor, set).await.map_err(|e| e.to_string())?;
            let updates: Map<String, Value> = updates
                .into_iter()
                .map(|(id, text)| (id.0.to_string(), Value::String(text)))
                .collect();
            return Ok(json!({ "Updates": updates }));
        }
        let made = maps
            .create(&actor, set, args.annotation_type.map(AnnotationTypeId))
            .await
            .map_err(|e| e.to_string())?;
        let mut names = Map::new();
        let mut images = Map::new();
        for m in &made {
            names.insert(m.image.name.clone(), json!(m.annotations));
            images.insert(m.image.name.clone(), json!(m.image.id.0));
        }
        Ok(json!({ "Names": names, "Images": images }))
    })
}
