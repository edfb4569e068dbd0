//! A [`MetaStore`] over any ordered key-value engine with atomic, durable batches.
//!
//! Key space: `R kind id` → record bytes; `I index key id` → index value; `C kind` → next id.
//! Commits are serialized by a mutex, which makes precondition and uniqueness checks exact for a
//! single-process engine (sled locks its directory, so there is only ever one process). Id
//! counters are advanced in memory and persisted inside the next committed batch: ids handed out
//! but never committed may be reused after a crash, committed ones never are.

use exact_core::store::{Batch, EntryVisitor, Expect, Index, IndexEntry, Kind, MetaStore};
use exact_core::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

const RECORD: u8 = b'R';
const INDEX: u8 = b'I';
const COUNTER: u8 = b'C';

/// An ordered key-value engine.
pub trait Kv: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` pairs with `start <= key < end`, in key order.
    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.for_each(start, end, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            out.len() < limit
        })?;
        Ok(out)
    }
    /// Visits pairs with `start <= key < end` in key order until `visit` returns false.
    fn for_each(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;
    /// The last pair with `start <= key < end`.
    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// Applies puts (`Some`) and deletes (`None`) atomically and durably; for a key given twice
    /// the last operation wins.
    fn apply(&self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()>;
}

/// A [`MetaStore`] over a [`Kv`] engine.
pub struct KvMetaStore<K: Kv> {
    kv: K,
    location: String,
    /// Serializes commits and id allocation.
    lock: Mutex<HashMap<Kind, u64>>,
}

fn record_key(kind: Kind, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    k.push(RECORD);
    k.push(kind.tag());
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn index_key(index: Index, key: &[u8], id: u64) -> Vec<u8> {
    let mut k = index_prefix(index, key);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn index_prefix(index: Index, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 10);
    k.push(INDEX);
    k.push(index.tag());
    k.extend_from_slice(key);
    k
}

fn counter_key(kind: Kind) -> Vec<u8> {
    vec![COUNTER, kind.tag()]
}

fn split_id(key: &[u8]) -> Option<(&[u8], u64)> {
    let at = key.len().checked_sub(8)?;
    let (head, id) = key.split_at(at);
    Some((head, u64::from_be_bytes(id.try_into().ok()?)))
}

impl<K: Kv> KvMetaStore<K> {
    /// A store over `kv`; `location` names it in messages.
    pub fn new(kv: K, location: impl Into<String>) -> Self {
        KvMetaStore {
            kv,
            location: location.into(),
            lock: Mutex::new(HashMap::new()),
        }
    }

    fn corrupt(&self, detail: impl Into<String>) -> Error {
        Error::corrupt(self.location.clone(), detail)
    }

    fn next_id(&self, next: &mut HashMap<Kind, u64>, kind: Kind) -> Result<u64> {
        if let Some(n) = next.get(&kind) {
            return Ok(*n);
        }
        let n = match self.kv.get(&counter_key(kind))? {
            None => 1,
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| self.corrupt(format!("id counter of {kind:?}")))?,
            ),
        };
        next.insert(kind, n);
        Ok(n)
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<Kind, u64>> {
        // A panic while holding the lock cannot leave the map inconsistent (it only caches
        // counters that are re-read on demand), so a poisoned lock is safe to reuse.
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<K: Kv> MetaStore for KvMetaStore<K> {
    fn location(&self) -> &str {
        &self.location
    }

    fn get(&self, kind: Kind, id: u64) -> Result<Option<Vec<u8>>> {
        self.kv.get(&record_key(kind, id))
    }

    fn scan(&self, kind: Kind, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>> {
        let Some(start_id) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let start = record_key(kind, start_id);
        let end = vec![RECORD, kind.tag() + 1];
        self.kv
            .range(&start, &end, limit)?
            .into_iter()
            .map(|(k, v)| {
                let (_, id) = split_id(&k).ok_or_else(|| self.corrupt("short record key"))?;
                Ok((id, v))
            })
            .collect()
    }

    fn index_range(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexEntry>> {
        let (s, e) = (index_prefix(index, start), index_prefix(index, end));
        let mut out = Vec::new();
        let mut bad = false;
        self.kv.for_each(&s, &e, &mut |k, v| {
            match k.get(2..).and_then(split_id) {
                Some((key, id)) => out.push(IndexEntry {
                    key: key.to_vec(),
                    id,
                    value: v.to_vec(),
                }),
                None => bad = true,
            }
            !bad && out.len() < limit
        })?;
        if bad {
            return Err(self.corrupt("short index key"));
        }
        Ok(out)
    }

    fn index_visit(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        visit: &mut EntryVisitor<'_>,
    ) -> Result<()> {
        let (s, e) = (index_prefix(index, start), index_prefix(index, end));
        let mut bad = false;
        self.kv
            .for_each(&s, &e, &mut |k, v| match k.get(2..).and_then(split_id) {
                Some((key, id)) => visit(key, id, v),
                None => {
                    bad = true;
                    false
                }
            })?;
        if bad {
            return Err(self.corrupt("short index key"));
        }
        Ok(())
    }

    fn index_last(&self, index: Index, start: &[u8], end: &[u8]) -> Result<Option<IndexEntry>> {
        let (s, e) = (index_prefix(index, start), index_prefix(index, end));
        match self.kv.last(&s, &e)? {
            None => Ok(None),
            Some((k, v)) => {
                let (key, id) = k
                    .get(2..)
                    .and_then(split_id)
                    .ok_or_else(|| self.corrupt("short index key"))?;
                Ok(Some(IndexEntry {
                    key: key.to_vec(),
                    id,
                    value: v,
                }))
            }
        }
    }

    fn allocate_ids(&self, kind: Kind, count: u64) -> Result<u64> {
        let mut next = self.locked();
        let first = self.next_id(&mut next, kind)?;
        let after = first
            .checked_add(count)
            .ok_or_else(|| Error::invalid("count", "id space exhausted"))?;
        next.insert(kind, after);
        Ok(first)
    }

    fn commit(&self, batch: Batch) -> Result<()> {
        let next = self.locked();
        let mut ops: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut claimed: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut removed: HashSet<Vec<u8>> = HashSet::new();
        for w in &batch.writes {
            let key = record_key(w.kind, w.id);
            let ok = match &w.expect {
                Expect::Anything => true,
                Expect::Absent => self.kv.get(&key)?.is_none(),
                Expect::Exactly(bytes) => self.kv.get(&key)?.as_deref() == Some(bytes.as_slice()),
            };
            if !ok {
                return Err(Error::Conflict {
                    what: format!("{:?} {}", w.kind, w.id),
                });
            }
            for t in &w.remove {
                let k = index_key(t.index, &t.key, w.id);
                removed.insert(k.clone());
                ops.push((k, None));
            }
            for t in &w.add {
                if t.index.unique() {
                    let prefix = index_prefix(t.index, &t.key);
                    if let Some(other) = claimed.insert(prefix.clone(), w.id).filter(|o| *o != w.id)
                    {
                        return Err(Error::exists(format!(
                            "{:?} key shared by ids {other} and {}",
                            t.index, w.id
                        )));
                    }
                    let end = exact_core::keys::prefix_end(&prefix);
                    for (k, _) in self.kv.range(&prefix, &end, 4)? {
                        let taken = split_id(&k).map(|(_, id)| id);
                        if taken != Some(w.id) && !removed.contains(&k) {
                            return Err(Error::exists(format!(
                                "{:?} key already used by id {}",
                                t.index,
                                taken.unwrap_or(0)
                            )));
                        }
                    }
                }
                ops.push((index_key(t.index, &t.key, w.id), Some(t.value.clone())));
            }
            ops.push((key, w.data.clone()));
        }
        for e in batch.entries {
            let key = index_key(e.index, &e.key, e.id);
            let ok = match &e.expect {
                Expect::Anything => true,
                Expect::Absent => self.kv.get(&key)?.is_none(),
                Expect::Exactly(bytes) => self.kv.get(&key)?.as_deref() == Some(bytes.as_slice()),
            };
            if !ok {
                return Err(Error::Conflict {
                    what: format!("{:?} entry of id {}", e.index, e.id),
                });
            }
            ops.push((key, e.value));
        }
        for (kind, n) in next.iter() {
            ops.push((counter_key(*kind), Some(n.to_be_bytes().to_vec())));
        }
        self.kv.apply(ops)
    }
}
