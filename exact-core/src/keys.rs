//! Order-preserving, prefix-free key encoding for index entries (the FoundationDB tuple idea):
//! integers big-endian with the sign bit flipped, strings with `0x00` escaped and terminated, so
//! byte order equals value order and one key is never a prefix of another of the same shape.

/// Builds a key from components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// An empty key.
    pub fn new() -> Self {
        Key(Vec::with_capacity(24))
    }

    /// Appends an unsigned integer.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a signed integer, ordered numerically.
    pub fn i32(mut self, v: i32) -> Self {
        self.0
            .extend_from_slice(&((v as u32) ^ 0x8000_0000).to_be_bytes());
        self
    }

    /// Appends a signed 64-bit integer, ordered numerically.
    pub fn i64(mut self, v: i64) -> Self {
        self.0
            .extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends one byte.
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// Appends a string.
    pub fn str(mut self, s: &str) -> Self {
        for &b in s.as_bytes() {
            self.0.push(b);
            if b == 0 {
                self.0.push(0xFF);
            }
        }
        self.0.extend_from_slice(&[0, 0]);
        self
    }

    /// Appends an optional id (`None` sorts first).
    pub fn opt(self, v: Option<u64>) -> Self {
        match v {
            None => self.u8(0),
            Some(v) => self.u8(1).u64(v),
        }
    }

    /// The bytes.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// The smallest key greater than every key starting with `prefix` (the exclusive end of a
/// prefix range).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.last_mut() {
        if *last < 0xFF {
            *last += 1;
            return end;
        }
        end.pop();
    }
    // All bytes were 0xFF: nothing orders after the prefix but longer 0xFF runs.
    let mut end = prefix.to_vec();
    end.extend_from_slice(&[0xFF; 16]);
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn integers_keep_their_order(a: i64, b: i64) {
            let ka = Key::new().i64(a).build();
            let kb = Key::new().i64(b).build();
            prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
        }

        #[test]
        fn strings_keep_their_order_and_are_prefix_free(a: String, b: String) {
            let ka = Key::new().str(&a).u64(7).build();
            let kb = Key::new().str(&b).u64(7).build();
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), ka.cmp(&kb));
            if a != b {
                let (sa, sb) = (Key::new().str(&a).build(), Key::new().str(&b).build());
                prop_assert!(!sb.starts_with(&sa));
            }
        }
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), vec![1, 3]);
        assert_eq!(prefix_end(&[1, 0xFF]), vec![2]);
        assert!(prefix_end(&[0xFF]).as_slice() > [0xFF, 0xFF, 0xFF].as_slice());
    }
}
