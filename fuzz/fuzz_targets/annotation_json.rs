//! Untrusted annotation vectors as clients send them (JSON): parsing, validation against every
//! vector type, geometry, and the storage round trip of whatever validates.
#![no_main]

use exact_core::codec;
use exact_core::model::{Annotation, VectorType};
use exact_core::{AnnotationId, AnnotationTypeId, ImageId, Measures, Timestamp, Vector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(vector) = Vector::from_json(&value) else {
        return;
    };
    for &vt in VectorType::ALL {
        if Vector::validate(vector.as_ref(), vt, 0).is_err() {
            continue;
        }
        if let Some(v) = &vector {
            let _ = Measures::of(v, vt);
            // What validates must survive JSON and storage unchanged.
            assert_eq!(Vector::from_json(&v.to_json()).unwrap().as_ref(), Some(v));
        }
        let a = Annotation {
            id: AnnotationId(1),
            annotation_type: AnnotationTypeId(2),
            vector: vector.clone(),
            image: ImageId(3),
            user: None,
            last_editor: None,
            time: Timestamp(0),
            last_edit_time: Timestamp(1),
            deleted: false,
            concealed: false,
            blurred: false,
            description: String::new(),
            unique_identifier: uuid::Uuid::nil(),
            meta_data: serde_json::Value::Null,
        };
        let back = codec::decode_annotation(1, &codec::encode_annotation(&a), "fuzz").unwrap();
        assert_eq!(back, a);
    }
});
