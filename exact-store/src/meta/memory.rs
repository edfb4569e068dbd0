//! The `memory://` backend: an ordered map behind a lock. For tests and throw-away sessions;
//! nothing survives the process.

use super::kv::{Kv, KvMetaStore};
use exact_core::Result;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

/// An in-memory ordered map.
#[derive(Default)]
pub struct MemoryKv {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// A fresh, empty in-memory metadata store.
pub fn open() -> KvMetaStore<MemoryKv> {
    KvMetaStore::new(MemoryKv::default(), "memory://")
}

impl MemoryKv {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // Writers never panic half-way through an update, so a poisoned map is still whole.
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn for_each(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let map = self.read();
        for (k, v) in map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(None);
        }
        let map = self.read();
        let mut range = map.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)));
        Ok(range.next_back().map(|(k, v)| (k.clone(), v.clone())))
    }

    fn apply(&self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in ops {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }
}
