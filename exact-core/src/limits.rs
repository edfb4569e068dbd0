//! Write limits: every size a client controls is checked when it is written, never
//! discovered when it is read. A record accepted today must decode tomorrow, and one oversized
//! record must not make a page of annotations (and with it an image's whole annotation list)
//! unreadable for everyone.
//!
//! The defaults are far below what the storage codecs refuse on read ([`crate::codec`] bounds a
//! blob at 16 MiB), so a page holding many annotations at the limits still round-trips.

use crate::{Error, Result};

/// Largest `meta_data` of one annotation, as compact JSON bytes (1 MiB). Model outputs (scores,
/// feature vectors, model names) fit easily; whole embeddings or images belong in media files.
pub const MAX_META_DATA_BYTES: usize = 1 << 20;
/// Longest annotation `description`, in characters (EXACT's `max_length`).
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Most nodes of one annotation vector (see [`crate::vector::MAX_NODES`]): a polygon traced at
/// full resolution around a large tumour region has a few thousand.
pub const MAX_VECTOR_NODES: usize = crate::vector::MAX_NODES;
/// Longest side of an image in pixels (2^20 = 1,048,576). The largest real whole-slide images
/// are about 200,000 px a side; a larger claim is a mistake or an attack (a viewport query or
/// a tile grid over 2^31 px is work no slide needs).
pub const MAX_IMAGE_SIDE: u64 = 1 << 20;

/// Counts bytes and stops once past a limit, so an oversized value is refused without first
/// being serialized in full.
struct Counter {
    n: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.n += buf.len();
        if self.n > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The compact JSON size of `v`, or `None` when it is over `limit`.
pub fn json_size(v: &serde_json::Value, limit: usize) -> Option<usize> {
    let mut c = Counter { n: 0, limit };
    serde_json::to_writer(&mut c, v).ok().map(|()| c.n)
}

/// Refuses `meta_data` over [`MAX_META_DATA_BYTES`].
pub fn check_meta_data(field: &str, v: &serde_json::Value) -> Result<()> {
    if json_size(v, MAX_META_DATA_BYTES).is_none() {
        return Err(Error::invalid(
            field,
            format!(
                "larger than {MAX_META_DATA_BYTES} bytes of JSON; store large payloads as media files"
            ),
        ));
    }
    Ok(())
}

/// Refuses a description over [`MAX_DESCRIPTION_CHARS`].
pub fn check_description(field: &str, v: &str) -> Result<()> {
    // Bytes bound characters from above: most descriptions skip the count.
    if v.len() > MAX_DESCRIPTION_CHARS && v.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Refuses an image side of 0 or over [`MAX_IMAGE_SIDE`].
pub fn check_image_side(field: &str, v: u64) -> Result<()> {
    if v == 0 || v > MAX_IMAGE_SIDE {
        return Err(Error::invalid(
            field,
            format!("{v} is not within 1..={MAX_IMAGE_SIDE} pixels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_data_is_measured_as_compact_json() {
        let small = serde_json::json!({"score": 0.5});
        assert_eq!(json_size(&small, 100), Some(small.to_string().len()));
        let big = serde_json::Value::String("x".repeat(MAX_META_DATA_BYTES));
        assert!(check_meta_data("meta_data", &big).is_err());
        let fits = serde_json::Value::String("x".repeat(MAX_META_DATA_BYTES - 2));
        assert!(check_meta_data("meta_data", &fits).is_ok());
    }

    #[test]
    fn descriptions_count_characters() {
        assert!(check_description("d", &"é".repeat(MAX_DESCRIPTION_CHARS)).is_ok());
        assert!(check_description("d", &"é".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
    }
}
