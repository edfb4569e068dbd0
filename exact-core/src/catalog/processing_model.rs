//! The records of EXACT's processing app (`Plugin`, `PluginJob`, `PluginResult`,
//! `PluginResultEntry`, `PluginResultAnnotation`, `PluginResultBitmap`, EXACT.md §1 "[S]
//! processing") and how each is stored. Field names are EXACT's, so the HTTP layer renders
//! them as they are; what exact-rs adds (a plugin's model endpoint, a job's state, region and
//! tile counts) sits beside them.

use crate::ids::{
    AnnotationTypeId, ImageId, PluginId, PluginJobId, PluginResultAnnotationId,
    PluginResultBitmapId, PluginResultEntryId, PluginResultId, ProcessingTrashId, ProductId,
    UserId,
};
use crate::keys::Key;
use crate::record::{Record, json_record, term};
use crate::store::{Index, Kind, Term};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A model reachable over HTTP that a plugin runs (exact-rs's addition to EXACT's plugin).
/// exact-rs POSTs it one region at a time and takes back GeoJSON or EXACT vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEndpoint {
    /// Where regions are POSTed; must start with a prefix a superuser allowed.
    pub url: String,
    /// The model's version, recorded on every proposal.
    pub version: String,
    /// The pyramid level the model reads (0 = full resolution).
    pub level: u32,
    /// Side of the square regions sent, in pixels of `level` (16..=4096).
    pub tile_size: u32,
    /// Class name the model answers → annotation type its objects become.
    pub classes: BTreeMap<String, AnnotationTypeId>,
    /// Seconds to wait for one answer (1..=600).
    pub timeout_secs: u32,
    /// Objects accepted per tile; a tile with more fails the job (1..=100,000).
    pub max_objects: u32,
    /// What the model is sent: the region's pixels (PNG or JPEG) or a URL to fetch them
    /// from with a short-lived token.
    #[serde(default)]
    pub input: ModelInput,
}

/// How a model gets a region's pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelInput {
    /// The request body is the region as PNG.
    #[default]
    Png,
    /// The request body is the region as JPEG (quality 90).
    Jpeg,
    /// The request body is JSON naming the region, with `tile_url` and a `token` that reads
    /// only this image and expires: the model fetches the pixels itself.
    Url,
}

impl ModelInput {
    /// The input a plugin's `model_input` names.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Self::Png),
            "jpeg" | "jpg" => Ok(Self::Jpeg),
            "url" => Ok(Self::Url),
            other => Err(Error::invalid(
                "model_input",
                format!("{other:?} is not one of png, jpeg, url"),
            )),
        }
    }
}

/// The most prompts one job may carry.
pub const MAX_PROMPTS: usize = 100;

/// A prompt passed through from a job request to the model (in level-0 slide pixels; the
/// model gets those inside each region, in the region's pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Prompt {
    /// A point; `label` 1 = foreground, 0 = background (as interactive segmenters take).
    Point {
        /// x.
        x: f64,
        /// y.
        y: f64,
        /// 1 foreground (default), 0 background.
        #[serde(default = "one")]
        label: u8,
    },
    /// A box.
    Box {
        /// Left.
        x1: f64,
        /// Top.
        y1: f64,
        /// Right.
        x2: f64,
        /// Bottom.
        y2: f64,
    },
}

fn one() -> u8 {
    1
}

impl Prompt {
    /// The prompts of a job request's `prompts` (a JSON list), checked against the image's
    /// size.
    pub fn parse_all(v: &Value, width: u64, height: u64) -> Result<Vec<Prompt>> {
        let bad = |i: usize, why: &str| Error::invalid("prompts", format!("[{i}]: {why}"));
        let items = v
            .as_array()
            .ok_or_else(|| Error::invalid("prompts", "expected a list of point or box prompts"))?;
        if items.len() > MAX_PROMPTS {
            return Err(Error::invalid(
                "prompts",
                format!("at most {MAX_PROMPTS} prompts per job"),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p: Prompt = serde_json::from_value(item.clone()).map_err(|e| {
                bad(
                    i,
                    &format!("expected {{\"type\": \"point\", \"x\", \"y\"}} or {{\"type\": \"box\", \"x1\", \"y1\", \"x2\", \"y2\"}} ({e})"),
                )
            })?;
            let inside = |x: f64, y: f64| {
                x.is_finite()
                    && y.is_finite()
                    && x >= 0.0
                    && y >= 0.0
                    && x <= width as f64
                    && y <= height as f64
            };
            match &p {
                Prompt::Point { x, y, label } => {
                    if !inside(*x, *y) {
                        return Err(bad(i, "the point is outside the image"));
                    }
                    if *label > 1 {
                        return Err(bad(i, "label must be 0 or 1"));
                    }
                }
                Prompt::Box { x1, y1, x2, y2 } => {
                    if !inside(*x1, *y1) || !inside(*x2, *y2) {
                        return Err(bad(i, "the box is outside the image"));
                    }
                    if x2 <= x1 || y2 <= y1 {
                        return Err(bad(i, "the box needs x2 > x1 and y2 > y1"));
                    }
                }
            }
            out.push(p);
        }
        Ok(out)
    }

    /// This prompt in the pixels of the region at level-0 `(x0, y0)` of `w0` × `h0` read at
    /// downsample `ds`, if it touches the region (boxes clipped to it).
    pub fn in_region(&self, x0: f64, y0: f64, w0: f64, h0: f64, ds: f64) -> Option<Value> {
        let to = |v: f64, o: f64| ((v - o) / ds * 100.0).round() / 100.0;
        match *self {
            Prompt::Point { x, y, label } => (x >= x0 && y >= y0 && x < x0 + w0 && y < y0 + h0)
                .then(|| serde_json::json!({"type": "point", "x": to(x, x0), "y": to(y, y0), "label": label})),
            Prompt::Box { x1, y1, x2, y2 } => {
                let (a, b) = (x1.max(x0), y1.max(y0));
                let (c, d) = (x2.min(x0 + w0), y2.min(y0 + h0));
                (c > a && d > b).then(|| {
                    serde_json::json!({"type": "box", "x1": to(a, x0), "y1": to(b, y0), "x2": to(c, x0), "y2": to(d, y0)})
                })
            }
        }
    }
}

/// A processing plugin: EXACT's fields plus the model it runs, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// Id.
    pub id: PluginId,
    /// Name.
    pub name: String,
    /// Author.
    #[serde(default)]
    pub author: String,
    /// Python package (EXACT's plugin workers load it).
    #[serde(default)]
    pub package: String,
    /// Contact.
    #[serde(default)]
    pub contact: String,
    /// About URL.
    #[serde(default)]
    pub abouturl: String,
    /// Blob key of the icon; empty when none.
    #[serde(default)]
    pub icon: String,
    /// Products whose images it may run on; empty = every product (superusers only).
    #[serde(default)]
    pub products: Vec<ProductId>,
    /// Who registered it.
    #[serde(default)]
    pub creator: Option<UserId>,
    /// The HTTP model it runs.
    #[serde(default)]
    pub model: Option<ModelEndpoint>,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker (EXACT's plugin workers, or exact-rs's own for model plugins).
    #[default]
    Queued,
    /// A worker is on it.
    Running,
    /// Finished.
    Done,
    /// Stopped with an error (`error_message`); what was done stays.
    Failed,
    /// Stopped by a user; can be resumed.
    Cancelled,
}

impl JobState {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// A run of a plugin on an image (or a region of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginJob {
    /// Id.
    pub id: PluginJobId,
    /// Who started it.
    pub creator: Option<UserId>,
    /// The plugin.
    pub plugin: PluginId,
    /// The image.
    pub image: ImageId,
    /// Created.
    pub created_time: Timestamp,
    /// Last change.
    pub updated_time: Timestamp,
    /// Expected end.
    #[serde(default)]
    pub eta_time: Option<Timestamp>,
    /// Progress, 0.0 to 1.0.
    #[serde(default)]
    pub processing_complete: f64,
    /// Short error.
    #[serde(default)]
    pub error_message: String,
    /// Longer error.
    #[serde(default)]
    pub error_detail: String,
    /// The worker that took it.
    #[serde(default)]
    pub attached_worker: String,
    /// Its result, once one exists.
    #[serde(default)]
    pub result: Option<PluginResultId>,
    /// Where it is.
    #[serde(default)]
    pub state: JobState,
    /// The level-0 region `[x, y, w, h]` it covers; `None` = the whole image.
    #[serde(default)]
    pub region: Option<[u64; 4]>,
    /// Tiles in the job (0 until a worker planned it).
    #[serde(default)]
    pub tiles_total: u64,
    /// Tiles finished.
    #[serde(default)]
    pub tiles_done: u64,
    /// Proposals written.
    #[serde(default)]
    pub proposals: u64,
    /// Point and box prompts passed to the model with each region they touch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<Prompt>,
}

/// The result of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginResult {
    /// Id.
    pub id: PluginResultId,
    /// The image.
    pub image: ImageId,
    /// The job, if it came from one.
    #[serde(default)]
    pub job: Option<PluginJobId>,
    /// The plugin.
    pub plugin: PluginId,
    /// Opacity of overlays.
    #[serde(default)]
    pub default_alpha: f64,
    /// Completed.
    #[serde(default)]
    pub completed_time: Option<Timestamp>,
    /// Created.
    pub created_time: Timestamp,
}

/// A named layer of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginResultEntry {
    /// Id.
    pub id: PluginResultEntryId,
    /// The result.
    pub pluginresult: PluginResultId,
    /// Created.
    pub created_time: Timestamp,
    /// Name.
    pub name: String,
    /// Shown by default.
    #[serde(default)]
    pub visible: bool,
    /// Score threshold shown by default.
    #[serde(default)]
    pub default_threshold: f64,
}

/// An object a plugin proposed (EXACT keeps these apart from annotations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginResultAnnotation {
    /// Id.
    pub id: PluginResultAnnotationId,
    /// Its class, if known.
    #[serde(default)]
    pub annotation_type: Option<AnnotationTypeId>,
    /// The entry.
    pub pluginresultentry: PluginResultEntryId,
    /// The image.
    pub image: ImageId,
    /// Free JSON.
    #[serde(default)]
    pub meta_data: Value,
    /// EXACT vector JSON (`{x1, y1, …}`).
    #[serde(default)]
    pub vector: Value,
    /// Confidence.
    #[serde(default)]
    pub score: Option<f64>,
    /// Client key.
    #[serde(default)]
    pub unique_identifier: String,
    /// Made by a model (EXACT's default: true).
    #[serde(default)]
    pub generated: bool,
    /// Created.
    pub time: Timestamp,
}

/// An overlay bitmap a plugin produced: the file plus how to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginResultBitmap {
    /// Id.
    pub id: PluginResultBitmapId,
    /// Blob key of the bitmap file.
    pub bitmap: String,
    /// Name.
    pub name: String,
    /// Channels.
    #[serde(default)]
    pub channels: u32,
    /// Default opacity.
    #[serde(default)]
    pub default_alpha: f64,
    /// Default threshold.
    #[serde(default)]
    pub default_threshold: f64,
    /// Value range low end.
    #[serde(default)]
    pub scale_min: f64,
    /// Value range high end.
    #[serde(default)]
    pub scale_max: f64,
    /// Free JSON.
    #[serde(default)]
    pub meta_data: Value,
    /// Where it lies on the slide (`{x, y, width, height}` in level-0 pixels).
    #[serde(default)]
    pub location_rect: Value,
    /// Bitmap → slide transformation (3×3, row major), if not a plain placement.
    #[serde(default)]
    pub transformation_matrix: Value,
    /// The frame of a multi-frame image.
    #[serde(default)]
    pub frame: u32,
    /// The entry.
    pub pluginresultentry: PluginResultEntryId,
    /// The image.
    pub image: ImageId,
}

json_record!(Plugin, Kind::Plugin, "plugin", |_p| Vec::new());
json_record!(PluginJob, Kind::PluginJob, "plugin job", |j| vec![term(
    Index::PluginJobByImage,
    Key::new().u64(j.image.0)
)]);
json_record!(PluginResult, Kind::PluginResult, "plugin result", |r| vec![
    term(Index::PluginResultByPlugin, Key::new().u64(r.plugin.0))
]);
json_record!(
    PluginResultEntry,
    Kind::PluginResultEntry,
    "plugin result entry",
    |e| vec![term(
        Index::PluginEntryByResult,
        Key::new().u64(e.pluginresult.0)
    )]
);
json_record!(
    PluginResultAnnotation,
    Kind::PluginResultAnnotation,
    "plugin result annotation",
    |a| vec![term(
        Index::PluginAnnotationByEntry,
        Key::new().u64(a.pluginresultentry.0)
    )]
);
json_record!(
    PluginResultBitmap,
    Kind::PluginResultBitmap,
    "plugin result bitmap",
    |b| vec![term(
        Index::PluginBitmapByEntry,
        Key::new().u64(b.pluginresultentry.0)
    )]
);

/// A record taken out with a deleted processing record, as it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrashedRecord {
    /// Its kind's tag ([`Kind::tag`]).
    pub kind: u8,
    /// Its id (given back on restore).
    pub id: u64,
    /// Its stored JSON, byte for byte.
    pub data: String,
}

/// An index entry of its own (a job's done tiles) taken out with a deleted record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrashedEntry {
    /// The index's tag ([`Index::tag`]).
    pub index: u8,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Id.
    pub id: u64,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// A deleted processing record (a plugin, result, entry, result annotation or bitmap) with
/// everything under it, taken out in one batch and kept here so it can be restored as it was
/// (same ids, same files: blobs are not deleted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessingTrash {
    /// Id.
    pub id: ProcessingTrashId,
    /// The collection of what was deleted (`plugins`, `pluginresults`, `pluginresultentrys`,
    /// `pluginresultannotations`, `pluginresultbitmaps`), as in its URL.
    pub collection: String,
    /// The id of what was deleted.
    pub object: u64,
    /// The image it was on (everything but plugins).
    #[serde(default)]
    pub image: Option<ImageId>,
    /// The products of a deleted plugin (who may see and restore it).
    #[serde(default)]
    pub products: Vec<ProductId>,
    /// Who deleted it.
    pub deleted_by: UserId,
    /// When.
    pub time: Timestamp,
    /// It and everything under it.
    pub records: Vec<TrashedRecord>,
    /// Index entries of their own that went with them.
    #[serde(default)]
    pub entries: Vec<TrashedEntry>,
}

json_record!(
    ProcessingTrash,
    Kind::ProcessingTrash,
    "processing trash entry",
    |t| vec![term(
        Index::ProcessingTrashByRoot,
        Key::new().str(&t.collection).u64(t.object)
    )]
);

/// Decodes a stored processing record, returning the index entries it should own (fsck).
pub(crate) fn terms_of(kind: Kind, id: u64, bytes: &[u8], what: &str) -> Option<Result<Vec<Term>>> {
    fn terms<R: Record>(id: u64, bytes: &[u8], what: &str) -> Result<Vec<Term>> {
        R::decode(id, bytes, what).map(|r| r.terms())
    }
    Some(match kind {
        Kind::Plugin => terms::<Plugin>(id, bytes, what),
        Kind::PluginJob => terms::<PluginJob>(id, bytes, what),
        Kind::PluginResult => terms::<PluginResult>(id, bytes, what),
        Kind::PluginResultEntry => terms::<PluginResultEntry>(id, bytes, what),
        Kind::PluginResultAnnotation => terms::<PluginResultAnnotation>(id, bytes, what),
        Kind::PluginResultBitmap => terms::<PluginResultBitmap>(id, bytes, what),
        Kind::ProcessingTrash => terms::<ProcessingTrash>(id, bytes, what),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prompts_are_checked_and_moved_into_regions() {
        let v = json!([{"type": "point", "x": 10, "y": 20},
                       {"type": "box", "x1": 90, "y1": 90, "x2": 300, "y2": 120}]);
        let p = Prompt::parse_all(&v, 1000, 1000).unwrap();
        assert_eq!(
            p[0],
            Prompt::Point {
                x: 10.0,
                y: 20.0,
                label: 1
            }
        );
        // The region at (0, 0) of 100 × 100 read at downsample 2: the point, and the box
        // clipped to the region, in the region's pixels.
        assert_eq!(
            p[0].in_region(0.0, 0.0, 100.0, 100.0, 2.0),
            Some(json!({"type": "point", "x": 5.0, "y": 10.0, "label": 1}))
        );
        assert_eq!(
            p[1].in_region(0.0, 0.0, 100.0, 100.0, 2.0),
            Some(json!({"type": "box", "x1": 45.0, "y1": 45.0, "x2": 50.0, "y2": 50.0}))
        );
        assert_eq!(p[0].in_region(100.0, 0.0, 100.0, 100.0, 1.0), None);
        for (bad, why) in [
            (json!([{"type": "point", "x": 10, "y": 2000}]), "outside"),
            (
                json!([{"type": "box", "x1": 5, "y1": 5, "x2": 5, "y2": 9}]),
                "x2 > x1",
            ),
            (
                json!([{"type": "point", "x": 1, "y": 1, "label": 7}]),
                "label",
            ),
            (json!([{"type": "lasso"}]), "[0]"),
            (json!({"type": "point"}), "a list"),
            (
                json!(vec![
                    json!({"type": "point", "x": 1, "y": 1});
                    MAX_PROMPTS + 1
                ]),
                "at most",
            ),
        ] {
            let e = Prompt::parse_all(&bad, 1000, 1000).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(ModelInput::parse("JPG").unwrap(), ModelInput::Jpeg);
    }

    #[test]
    fn progress_fractions_round_trip_byte_for_byte() {
        // Optimistic writes compare a record's stored bytes with its decoded-then-encoded
        // form; 100 × 5 / 4661 did not survive serde_json's fast float parsing, so every
        // update of such a job conflicted and the worker left it running forever.
        for (done, total) in [(5u32, 4661u32), (692, 768), (52, 576)] {
            let x = 100.0 * f64::from(done) / f64::from(total);
            let text = serde_json::to_string(&x).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
        assert!(ModelInput::parse("tiff").is_err());
    }
}
