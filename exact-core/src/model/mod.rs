//! The domain model: EXACT's entities with EXACT's serialized field names, so the HTTP layer
//! translates nothing. Relations are ids; to-many relations EXACT serializes (a set's images, a
//! team's members) are derived by the use cases, not stored twice.

mod admin;
mod annotations;
mod auth;
mod images;
mod messages;
mod registration;
mod users;

pub use admin::Product;
pub use annotations::{
    Annotation, AnnotationChange, AnnotationMediaFile, AnnotationType, AnnotationVersion,
    ChangeAction, Export, ExportFormat, MediaFileType, Verification,
};
pub use auth::{AccessToken, AccessTokenId, Credential, CredentialId};
pub use images::{
    ChannelDisplay, CollaborationType, FrameDescription, FrameType, Image, ImageSet, ImageType,
    LogAction, LogImageAction, PixelState, Priority, ScreeningMode, SetTag, SetVersion,
};
pub use messages::{Message, MessageRead};
pub use registration::{Homography, ImageRegistration};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;
    use crate::time::Timestamp;
    use crate::vector::Vector;
    use serde_json::json;

    /// Field names and value shapes are EXACT's, so the HTTP layer translates nothing.
    #[test]
    fn annotations_serialize_as_exact_does() {
        let a = Annotation {
            id: AnnotationId(7),
            annotation_type: AnnotationTypeId(2),
            vector: Some(Vector::rect(10.0, 20.0, 30.5, 40.0)),
            image: ImageId(3),
            user: Some(UserId(1)),
            last_editor: None,
            time: Timestamp::parse("t", "2021-06-15T10:20:30.123456").unwrap(),
            last_edit_time: Timestamp::parse("t", "2021-06-15T10:20:30.123456").unwrap(),
            deleted: false,
            concealed: true,
            blurred: false,
            description: "remark".into(),
            unique_identifier: uuid::Uuid::nil(),
            meta_data: json!({"score": 0.5}),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            json!({
                "id": 7, "annotation_type": 2, "image": 3, "user": 1, "last_editor": null,
                "vector": {"x1": 10, "y1": 20, "x2": 30.5, "y2": 40},
                "time": "2021-06-15T10:20:30.123456", "last_edit_time": "2021-06-15T10:20:30.123456",
                "deleted": false, "concealed": true, "blurred": false, "description": "remark",
                "unique_identifier": "00000000-0000-0000-0000-000000000000", "meta_data": {"score": 0.5}
            })
        );
        assert_eq!(serde_json::from_value::<Annotation>(v).unwrap(), a);
    }

    #[test]
    fn images_use_exacts_camel_case_and_codes() {
        let i = Image {
            id: ImageId(1),
            image_set: ImageSetId(2),
            name: "a.svs".into(),
            filename: "s3://archive/a.svs".into(),
            time: Timestamp(0),
            checksum: String::new(),
            mpp: 0.25,
            objective_power: 40.0,
            width: 100,
            height: 50,
            depth: 1,
            frames: 1,
            channels: 3,
            image_type: ImageType::FileLink,
            default_frame: 1,
            creator: None,
            state: PixelState::Converting,
            state_detail: String::new(),
            original: String::new(),
            deleted: false,
            frame_descriptions: Vec::new(),
            channel_display: Vec::new(),
            frame_sources: Vec::new(),
            series: 0,
        };
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["state"], "converting");
        assert_eq!(v["objectivePower"], 40.0);
        assert_eq!(v["image_type"], 2);
        assert_eq!(v["defaultFrame"], 1);
        // The series an image shows is in its JSON; records written before it read as 0.
        assert_eq!(v["series"], 0);
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("series");
        let back: Image = serde_json::from_value(old).unwrap();
        assert_eq!((back.series, back), (0, i.clone()));
        let e = serde_json::from_value::<VectorType>(json!(9)).unwrap_err();
        assert!(e.to_string().contains("1, 2, 3, 4, 5, 6, 7"), "{e}");
        assert_eq!(
            serde_json::to_value(CollaborationType::SecondOpinion).unwrap(),
            2
        );
        assert_eq!(
            serde_json::from_value::<Priority>(json!(-1)).unwrap(),
            Priority::Low
        );
    }
}
