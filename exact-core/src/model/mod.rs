//! The domain model: EXACT's entities with EXACT's serialized field names, so the HTTP layer
//! translates nothing. Relations are ids; to-many relations EXACT serializes (a set's images, a
//! team's members) are derived by the use cases, not stored twice.

mod admin;
mod annotations;
mod images;
mod users;

pub use admin::Product;
pub use annotations::{
    Annotation, AnnotationChange, AnnotationMediaFile, AnnotationType, AnnotationVersion,
    ChangeAction, ExportFormat, MediaFileType, Verification,
};
pub use images::{
    CollaborationType, Image, ImageSet, ImageType, LogAction, LogImageAction, Priority,
    ScreeningMode, SetTag, SetVersion,
};
pub use users::{Team, TeamMembership, User};

/// Declares an enum stored and serialized as EXACT's integer code.
macro_rules! int_enum {
    ($(#[$doc:meta])* $name:ident : $repr:ty { $($(#[$vdoc:meta])* $variant:ident = $value:expr),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl $name {
            /// EXACT's integer code.
            pub fn code(self) -> $repr {
                match self { $($name::$variant => $value),* }
            }

            /// The variant for EXACT's integer code.
            pub fn from_code(code: i64) -> Option<Self> {
                $(if code == $value as i64 { return Some($name::$variant); })*
                None
            }

            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_i64(self.code() as i64)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let code = i64::deserialize(d)?;
                $name::from_code(code).ok_or_else(|| {
                    let known: Vec<String> = $name::ALL.iter().map(|v| v.code().to_string()).collect();
                    serde::de::Error::custom(format!(
                        "{code} is not a valid {} (expected one of {})",
                        stringify!($name), known.join(", ")
                    ))
                })
            }
        }
    };
}
pub(crate) use int_enum;

int_enum! {
    /// How an annotation type is drawn; EXACT's numbers.
    VectorType: u8 {
        /// A rectangle `{x1,y1,x2,y2}`.
        BoundingBox = 1,
        /// A point, stored as the box of the drawn circle.
        Point = 2,
        /// A straight line between two nodes.
        Line = 3,
        /// A polyline of two or more nodes.
        MultiLine = 4,
        /// A polygon of three or more nodes.
        Polygon = 5,
        /// A box of the type's default size.
        FixedSizeBoundingBox = 6,
        /// An image-level (or frame-level) label without geometry.
        Global = 7,
    }
}

impl VectorType {
    /// A human name for messages.
    pub fn name(self) -> &'static str {
        match self {
            VectorType::BoundingBox => "bounding box",
            VectorType::Point => "point",
            VectorType::Line => "line",
            VectorType::MultiLine => "multi line",
            VectorType::Polygon => "polygon",
            VectorType::FixedSizeBoundingBox => "fixed-size bounding box",
            VectorType::Global => "global label",
        }
    }
}
