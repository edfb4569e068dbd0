//! A byte-bounded cache (decoded tiles, rendered Deep Zoom tiles). Eviction is
//! least-recently-used by an access counter; it is per process and safe to lose.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Values that know their size.
pub trait Weigh {
    /// Bytes held.
    fn weight(&self) -> usize;
}

impl Weigh for bytes::Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

impl<T: Weigh> Weigh for std::sync::Arc<T> {
    fn weight(&self) -> usize {
        T::weight(self)
    }
}

impl Weigh for crate::image::Image {
    fn weight(&self) -> usize {
        self.byte_size()
    }
}

/// A thread-safe cache holding at most `capacity` bytes.
#[derive(Debug)]
pub struct ByteCache<K, V> {
    capacity: usize,
    inner: Mutex<Inner<K, V>>,
}

#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, (V, u64)>,
    bytes: usize,
    clock: u64,
}

impl<K: Hash + Eq + Clone, V: Clone + Weigh> ByteCache<K, V> {
    /// An empty cache of `capacity` bytes (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
        }
    }

    /// The value for `key`, marking it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.clock += 1;
        let now = g.clock;
        g.map.get_mut(key).map(|(v, t)| {
            *t = now;
            v.clone()
        })
    }

    /// Insert, evicting least recently used entries to stay within the capacity.
    pub fn insert(&self, key: K, value: V) {
        let w = value.weight();
        if w > self.capacity / 4 {
            return;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.clock += 1;
        let now = g.clock;
        if let Some((old, _)) = g.map.insert(key, (value, now)) {
            g.bytes -= old.weight();
        }
        g.bytes += w;
        while g.bytes > self.capacity {
            // Evict the oldest eighth in one pass, so eviction is amortised O(1) per insert.
            let mut ticks: Vec<u64> = g.map.values().map(|(_, t)| *t).collect();
            let cut = ticks.len() / 8;
            let (_, &mut limit, _) = ticks.select_nth_unstable(cut);
            let mut freed = 0;
            g.map.retain(|_, (v, t)| {
                let keep = *t > limit;
                if !keep {
                    freed += v.weight();
                }
                keep
            });
            g.bytes -= freed;
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn stays_within_capacity_and_keeps_recent_entries() {
        let c = ByteCache::new(1000);
        for i in 0..100u32 {
            c.insert(i, Bytes::from(vec![0u8; 100]));
            c.get(&0);
        }
        assert!(c.bytes() <= 1000);
        assert!(c.get(&0).is_some());
        assert!(c.get(&99).is_some());
        assert!(c.get(&50).is_none());
    }
}
