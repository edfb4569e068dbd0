//! Id newtypes: one per entity, so an image id cannot be passed where an annotation id is meant.
//! They serialize as the bare integers EXACT uses.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $label:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The entity this id names, for messages (`image 12`).
            pub const LABEL: &'static str = $label;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} {}", $label, self.0)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }
    )*};
}

ids! {
    /// A user.
    UserId = "user";
    /// A team.
    TeamId = "team";
    /// A team membership.
    MembershipId = "team membership";
    /// A product (a labelling schema).
    ProductId = "product";
    /// An annotation type.
    AnnotationTypeId = "annotation type";
    /// An image set.
    ImageSetId = "image set";
    /// An image.
    ImageId = "image";
    /// A set tag.
    SetTagId = "set tag";
    /// A set version (snapshot).
    SetVersionId = "set version";
    /// One annotation inside a set version.
    AnnotationVersionId = "annotation version";
    /// An annotation.
    AnnotationId = "annotation";
    /// A verification.
    VerificationId = "verification";
    /// An image open/close log entry.
    LogImageActionId = "log image action";
    /// A screening mode.
    ScreeningModeId = "screening mode";
    /// A media file attached to an annotation.
    MediaFileId = "annotation media file";
    /// An export format.
    ExportFormatId = "export format";
    /// An export made with an export format.
    ExportId = "export";
    /// One entry of an annotation's history.
    ChangeId = "annotation change";
    /// A processing plugin (a model).
    PluginId = "plugin";
    /// A run of a plugin on an image.
    PluginJobId = "plugin job";
    /// The result of a plugin job.
    PluginResultId = "plugin result";
    /// A named layer of a plugin result.
    PluginResultEntryId = "plugin result entry";
    /// An object a plugin proposed.
    PluginResultAnnotationId = "plugin result annotation";
    /// An overlay bitmap a plugin produced.
    PluginResultBitmapId = "plugin result bitmap";
    /// A team or global message (EXACT's tagger_messages).
    MessageId = "message";
    /// That a user read a message.
    MessageReadId = "message read mark";
    /// An image registration (a homography from one image to another).
    RegistrationId = "image registration";
    /// A deleted processing record kept restorable, with everything under it.
    ProcessingTrashId = "processing trash entry";
}
