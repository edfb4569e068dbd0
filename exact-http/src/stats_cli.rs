//! `exact stats --set ID [--image ID] [--reference USER] [--iou T] [--distance PX] [--json]`:
//! agreement statistics of an image set through the library's use case, acting as one user
//! (`--as`): a table (or the JSON the API answers). Exit status: 0 done, 1 refused or failed.

use exact_core::catalog::AgreementOptions;
use exact_core::{ImageId, ImageSetId};
use std::process::ExitCode;

/// Arguments of `exact stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    data: crate::DataArgs,
    /// The image set.
    #[arg(long)]
    set: u64,
    /// Only this image of the set.
    #[arg(long)]
    image: Option<u64>,
    /// Compare everyone with this user (login name) only, not with every human.
    #[arg(long)]
    reference: Option<String>,
    /// Boxes and polygons match at an intersection over union of at least this.
    #[arg(long, default_value_t = 0.5)]
    iou: f64,
    /// Points match within this many pixels (default: half their type's default width).
    #[arg(long)]
    distance: Option<f64>,
    /// Print the report as JSON (as GET /api/v1/processing/agreement/ answers).
    #[arg(long)]
    json: bool,
    /// The user acting (their rights apply).
    #[arg(long = "as", default_value = "exact")]
    user: String,
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}

/// Runs `exact stats`.
pub fn run(args: StatsArgs) -> ExitCode {
    let r = (|| -> Result<String, String> {
        let exact = args
            .data
            .open()
            .map_err(|e| format!("cannot open the store: {e}"))?;
        let actor = exact
            .actor(crate::find_user(&exact, &args.user)?)
            .map_err(|e| e.to_string())?;
        let reference = match &args.reference {
            Some(name) => Some(crate::find_user(&exact, name)?),
            None => None,
        };
        let opt = AgreementOptions {
            iou: args.iou,
            distance: args.distance,
            reference,
        };
        let report = exact
            .catalog()
            .processing()
            .agreement(&actor, ImageSetId(args.set), args.image.map(ImageId), &opt)
            .map_err(|e| e.to_string())?;
        if args.json {
            return serde_json::to_string_pretty(&report).map_err(|e| e.to_string());
        }
        let mut out = format!(
            "{} image(s), IoU ≥ {}{}\n{:<24} {:<16} {:>5} {:>5} {:>5} {:>9} {:>7} {:>7} {:>7}\n",
            report.images,
            report.iou,
            report
                .distance
                .map(|d| format!(", points within {d} px"))
                .unwrap_or_default(),
            "annotator",
            "reference",
            "TP",
            "FP",
            "FN",
            "precision",
            "recall",
            "F1",
            "kappa"
        );
        for p in &report.pairs {
            out.push_str(&format!(
                "{:<24} {:<16} {:>5} {:>5} {:>5} {:>9} {:>7} {:>7} {:>7}\n",
                p.annotator,
                p.reference,
                p.true_positives,
                p.false_positives,
                p.false_negatives,
                num(p.precision),
                num(p.recall),
                num(p.f1),
                num(p.kappa)
            ));
        }
        if report.pairs.is_empty() {
            out.push_str("(no annotations to compare)\n");
        }
        Ok(out.trim_end().to_owned())
    })();
    match r {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exact stats: {e}");
            ExitCode::FAILURE
        }
    }
}
