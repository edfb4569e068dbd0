//! Annotation types, annotations, their history, verifications, versions, media files and
//! export formats.

use super::{VectorType, int_enum};
use crate::ids::{
    AnnotationId, AnnotationTypeId, AnnotationVersionId, ChangeId, ExportFormatId, ExportId,
    ImageId, ImageSetId, MediaFileId, ProductId, SetVersionId, TeamId, UserId, VerificationId,
};
use crate::time::Timestamp;
use crate::vector::Vector;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A class of annotation (e.g. "mitotic figure"), drawn as one vector type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationType {
    /// Id.
    pub id: AnnotationTypeId,
    /// Name, unique within the product.
    pub name: String,
    /// How it is drawn.
    pub vector_type: VectorType,
    /// Exact node count for polygons and multi-lines; 0 = any. Ignored for other types.
    #[serde(default)]
    pub node_count: u32,
    /// Whether annotations of this type may be flagged concealed.
    #[serde(default)]
    pub enable_concealed: bool,
    /// Whether annotations of this type may be flagged blurred.
    #[serde(default = "yes")]
    pub enable_blurred: bool,
    /// Display colour, `#RRGGBB`.
    #[serde(default = "default_colour")]
    pub color_code: String,
    /// Width of click-placed boxes and points.
    #[serde(default = "fifty")]
    pub default_width: u32,
    /// Height of click-placed boxes and points.
    #[serde(default = "fifty")]
    pub default_height: u32,
    /// Display order; also the 1–9 hotkey order.
    #[serde(default)]
    pub sort_order: i32,
    /// Drawn closed (polygons).
    #[serde(default)]
    pub closed: bool,
    /// Selected by area rather than outline.
    #[serde(default)]
    pub area_hit_test: bool,
    /// The product it belongs to.
    pub product: Option<ProductId>,
    /// Inactive types are hidden everywhere and accept no new annotations (soft delete).
    #[serde(default = "yes")]
    pub active: bool,
    /// Shown on every frame of multi-frame images.
    #[serde(default)]
    pub multi_frame: bool,
}

fn yes() -> bool {
    true
}
fn fifty() -> u32 {
    50
}
fn default_colour() -> String {
    "#CC4444".to_owned()
}

/// One annotation on one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Id.
    pub id: AnnotationId,
    /// Its class.
    pub annotation_type: AnnotationTypeId,
    /// The geometry; `None` = "not in image" (or an image-level global label).
    pub vector: Option<Vector>,
    /// The image.
    pub image: ImageId,
    /// Who created it.
    pub user: Option<UserId>,
    /// Who changed it last.
    pub last_editor: Option<UserId>,
    /// Creation time.
    pub time: Timestamp,
    /// Time of the last change; clients poll with `last_edit_time >= t`.
    pub last_edit_time: Timestamp,
    /// Soft-deleted: hidden, kept, restorable.
    #[serde(default)]
    pub deleted: bool,
    /// Flag: the object is partly hidden.
    #[serde(default)]
    pub concealed: bool,
    /// Flag: the object is out of focus.
    #[serde(default)]
    pub blurred: bool,
    /// Free-text remark, at most 1000 characters.
    #[serde(default)]
    pub description: String,
    /// Client-side key (SlideRunner GUID); not unique in the database.
    pub unique_identifier: Uuid,
    /// Free-form JSON (scores, model names…).
    #[serde(default)]
    pub meta_data: serde_json::Value,
}

impl Annotation {
    /// Its version: a digest of everything stored about it, so every change gives a new one.
    /// The same on every process and server (FNV-1a over the stored encoding, no random seed),
    /// so it can travel as an HTTP `ETag` and come back as `If-Match` to any server.
    pub fn version(&self) -> u64 {
        crate::codec::encode_annotation(self)
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    }
}

int_enum! {
    /// What an [`AnnotationChange`] did.
    ChangeAction: u8 {
        /// The annotation was created.
        Created = 1,
        /// Fields of the annotation changed.
        Updated = 2,
        /// The annotation was soft-deleted.
        Deleted = 3,
        /// The annotation was restored from an earlier state.
        Restored = 4,
    }
}

/// One entry of an annotation's append-only history. The state after the change is the next
/// entry's `before` (or the live annotation for the latest entry), so each state is stored once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationChange {
    /// Id; increases with time.
    pub id: ChangeId,
    /// The annotation changed.
    pub annotation: AnnotationId,
    /// Who changed it.
    pub user: Option<UserId>,
    /// When.
    pub time: Timestamp,
    /// What happened.
    pub action: ChangeAction,
    /// The annotation before the change; `None` for creation.
    pub before: Option<Annotation>,
}

/// One user's verdict on an annotation; at most one per (annotation, user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Id.
    pub id: VerificationId,
    /// The annotation judged.
    pub annotation: AnnotationId,
    /// The judge.
    pub user: UserId,
    /// When the latest verdict was given.
    pub time: Timestamp,
    /// Accepted (`true`) or rejected (`false`).
    pub verified: bool,
}

/// The state of one annotation inside a [`super::SetVersion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationVersion {
    /// Id.
    pub id: AnnotationVersionId,
    /// The snapshot.
    pub version: SetVersionId,
    /// The annotation.
    pub annotation: AnnotationId,
    /// Its image at snapshot time.
    pub image: ImageId,
    /// Its type at snapshot time.
    pub annotation_type: AnnotationTypeId,
    /// Its deleted flag at snapshot time.
    pub deleted: bool,
    /// Its vector at snapshot time.
    pub vector: Option<Vector>,
}

int_enum! {
    /// Kind of an [`AnnotationMediaFile`].
    MediaFileType: u8 {
        /// Unknown.
        Undefined = 1,
        /// A picture.
        Image = 2,
        /// A video.
        Video = 3,
        /// A sound.
        Audio = 4,
    }
}

/// A file attached to an annotation (an example picture, a video, a dictation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationMediaFile {
    /// Id.
    pub id: MediaFileId,
    /// Name, unique per annotation.
    pub name: String,
    /// Kind.
    pub media_file_type: MediaFileType,
    /// Blob key of the content.
    pub file: String,
    /// The annotation.
    pub annotation: AnnotationId,
}

/// A user-defined text export template (EXACT.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportFormat {
    /// Id.
    pub id: ExportFormatId,
    /// Unique name.
    pub name: String,
    /// Last change of the template.
    pub last_change_time: Timestamp,
    /// The types exported.
    #[serde(default)]
    pub annotations_types: Vec<AnnotationTypeId>,
    /// Owning team.
    pub team: TeamId,
    /// Usable by every team.
    #[serde(default)]
    pub public: bool,
    /// Wraps everything (`%%content`).
    pub base_format: String,
    /// Per-image wrapper when aggregating by image.
    #[serde(default)]
    pub image_format: Option<String>,
    /// Per-annotation template.
    pub annotation_format: String,
    /// Per-node template, concatenated into `%%vector`.
    pub vector_format: String,
    /// Template for "not in image" annotations.
    pub not_in_image_format: String,
    /// File-name template.
    pub name_format: String,
    /// Minimum number of verifications an annotation needs to be exported.
    #[serde(default)]
    pub min_verifications: u32,
    /// Group annotations by image.
    #[serde(default)]
    pub image_aggregation: bool,
    /// Export blurred annotations.
    #[serde(default = "yes")]
    pub include_blurred: bool,
    /// Export concealed annotations.
    #[serde(default = "yes")]
    pub include_concealed: bool,
    /// Deleted: hidden from lists and unusable, kept so it can be restored (exports made
    /// with it keep pointing at it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One export made with an [`ExportFormat`]: its text is kept and downloadable (EXACT.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Export {
    /// Id.
    pub id: ExportId,
    /// When it was made.
    pub time: Timestamp,
    /// Who made it.
    pub user: Option<UserId>,
    /// The set exported.
    pub image_set: ImageSetId,
    /// How many annotations it holds.
    pub annotation_count: u64,
    /// The rendered text.
    pub export_text: String,
    /// The download's file name.
    pub filename: String,
    /// The format it was made with.
    pub format: Option<ExportFormatId>,
    /// Deleted: hidden and not downloadable, kept so it can be restored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}
