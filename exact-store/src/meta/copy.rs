//! Copying a whole metadata store into another (`exact migrate --from URL --to URL`): sled to
//! PostgreSQL and back, or between any two backends, through the [`MetaStore`] port only.
//!
//! Everything a store holds is copied as it is: the records of every [`Kind`] and the entries
//! of every [`Index`] (annotation pages, locators and history live there), in committed
//! batches, and the id counters are moved past every id the source handed out. Blobs stay where
//! they are: records only name them, so the target serves them from the same blob store.
//!
//! Copying is resumable: kinds and indexes go in a fixed order and in key order, so after an
//! interruption the target's last record and entry say where to go on (`resume`). At the end
//! both stores are counted and checksummed, kind by kind and index by index.

use exact_core::store::{Batch, EntryWrite, Expect, Index, Kind, MetaStore, Write};
use exact_core::{Error, Result};

/// Records or entries per committed batch.
const BATCH: usize = 2_000;

/// Above every index key the core writes (keys are short and prefix-free).
const END: [u8; 1024] = [0xFF; 1024];

/// What a pass over one kind or index found: how many, and an order-sensitive checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// `User records`, `AnnotationGrid entries`, …
    pub what: String,
    /// How many records or entries.
    pub count: u64,
    /// FNV-1a over ids, keys and bytes, in store order.
    pub checksum: u64,
}

/// Where a copy is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Counting and checksumming the source.
    Counting,
    /// Copying; `done` of the counted total.
    Copying,
    /// Counting and checksumming the target.
    Verifying,
}

/// The outcome of [`copy`].
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// The source, kind by kind then index by index.
    pub source: Vec<Tally>,
    /// The target, in the same order; equal to `source` when the copy is complete.
    pub target: Vec<Tally>,
    /// Records and entries written by this run.
    pub copied: u64,
    /// Records and entries found already copied (a resumed run).
    pub skipped: u64,
}

impl CopyReport {
    /// The kinds and indexes whose count or checksum differ.
    pub fn mismatches(&self) -> Vec<(&Tally, &Tally)> {
        self.source
            .iter()
            .zip(&self.target)
            .filter(|(s, t)| s != t)
            .collect()
    }
}

/// Progress callbacks get the phase, the items done and the total (0 while unknown), and
/// return `false` to stop (an interruption: [`copy`] then fails with `Conflict` naming it,
/// having committed whole batches only).
pub type Progress<'a> = dyn FnMut(Phase, u64, u64) -> bool + 'a;

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn eat(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn item(&mut self, key: &[u8], id: u64, value: &[u8]) {
        self.eat(&(key.len() as u64).to_be_bytes());
        self.eat(key);
        self.eat(&id.to_be_bytes());
        self.eat(&(value.len() as u64).to_be_bytes());
        self.eat(value);
    }
}

fn interrupted() -> Error {
    Error::Conflict {
        what: "the copy (interrupted; run it again with resume to go on)".into(),
    }
}

/// Counts and checksums every kind and index of `store`.
pub fn tally(
    store: &dyn MetaStore,
    phase: Phase,
    progress: &mut Progress<'_>,
) -> Result<Vec<Tally>> {
    let mut out = Vec::new();
    let mut seen = 0u64;
    for &kind in Kind::ALL {
        let (mut count, mut sum, mut after) = (0u64, Fnv::new(), 0u64);
        loop {
            let page = store.scan(kind, after, BATCH)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            for (id, data) in &page {
                sum.item(&[], *id, data);
            }
            count += page.len() as u64;
            seen += page.len() as u64;
            if !progress(phase, seen, 0) {
                return Err(interrupted());
            }
        }
        out.push(Tally {
            what: format!("{kind:?} records"),
            count,
            checksum: sum.0,
        });
    }
    for &index in Index::ALL {
        let (mut count, mut sum, mut stop) = (0u64, Fnv::new(), false);
        store.index_visit(index, &[], &END, &mut |key, id, value| {
            sum.item(key, id, value);
            count += 1;
            seen += 1;
            if seen.is_multiple_of(BATCH as u64) && !progress(phase, seen, 0) {
                stop = true;
            }
            !stop
        })?;
        if stop {
            return Err(interrupted());
        }
        out.push(Tally {
            what: format!("{index:?} entries"),
            count,
            checksum: sum.0,
        });
    }
    Ok(out)
}

/// Commits `pending` entries (if any) into `to`.
fn flush(to: &dyn MetaStore, pending: &mut Vec<EntryWrite>, copied: &mut u64) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let n = pending.len() as u64;
    to.commit(Batch {
        writes: Vec::new(),
        entries: std::mem::take(pending),
    })?;
    *copied += n;
    Ok(())
}

/// Whether `store` holds no record and no entry.
pub fn is_empty(store: &dyn MetaStore) -> Result<bool> {
    for &kind in Kind::ALL {
        if !store.scan(kind, 0, 1)?.is_empty() {
            return Ok(false);
        }
    }
    for &index in Index::ALL {
        if !store.index_range(index, &[], &END, 1)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Copies everything in `from` into `to` (see the module docs). `to` must be empty unless
/// `resume` is set, which goes on from where an interrupted copy into `to` stopped.
pub fn copy(
    from: &dyn MetaStore,
    to: &dyn MetaStore,
    resume: bool,
    progress: &mut Progress<'_>,
) -> Result<CopyReport> {
    if !resume && !is_empty(to)? {
        return Err(Error::invalid(
            "to",
            format!(
                "{} is not empty; copy into an empty store, or resume an interrupted copy",
                to.location()
            ),
        ));
    }
    let source = tally(from, Phase::Counting, progress)?;
    let total: u64 = source.iter().map(|t| t.count).sum();
    let (mut copied, mut skipped) = (0u64, 0u64);
    for &kind in Kind::ALL {
        // Where a previous run stopped: the target's highest id of this kind.
        let mut done_up_to = 0u64;
        if resume {
            let mut after = 0;
            loop {
                let page = to.scan(kind, after, BATCH)?;
                let Some(last) = page.last() else { break };
                after = last.0;
                done_up_to = after;
                skipped += page.len() as u64;
            }
        }
        let mut after = done_up_to;
        loop {
            let page = from.scan(kind, after, BATCH)?;
            let Some(last) = page.last() else { break };
            after = last.0;
            let n = page.len() as u64;
            let writes = page
                .into_iter()
                .map(|(id, data)| Write {
                    kind,
                    id,
                    data: Some(data),
                    expect: Expect::Anything,
                    remove: Vec::new(),
                    add: Vec::new(),
                })
                .collect();
            to.commit(Batch {
                writes,
                entries: Vec::new(),
            })?;
            copied += n;
            if !progress(Phase::Copying, copied + skipped, total) {
                return Err(interrupted());
            }
        }
    }
    for &index in Index::ALL {
        let last_done = if resume {
            to.index_last(index, &[], &END)?.map(|e| (e.key, e.id))
        } else {
            None
        };
        let mut pending: Vec<EntryWrite> = Vec::with_capacity(BATCH);
        let mut failed: Option<Error> = None;
        from.index_visit(index, &[], &END, &mut |key, id, value| {
            if let Some((k, i)) = &last_done
                && (key, id) <= (k.as_slice(), *i)
            {
                skipped += 1;
                return true;
            }
            pending.push(EntryWrite {
                index,
                key: key.to_vec(),
                id,
                value: Some(value.to_vec()),
                expect: Expect::Anything,
            });
            if pending.len() < BATCH {
                return true;
            }
            match flush(to, &mut pending, &mut copied) {
                Ok(()) if progress(Phase::Copying, copied + skipped, total) => true,
                Ok(()) => {
                    failed = Some(interrupted());
                    false
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        flush(to, &mut pending, &mut copied)?;
        if !progress(Phase::Copying, copied + skipped, total) {
            return Err(interrupted());
        }
    }
    // Ids: the target must never hand out one the source already used.
    for &kind in Kind::ALL {
        let next = from.allocate_ids(kind, 1)?;
        let have = to.allocate_ids(kind, 1)?;
        if have < next {
            to.allocate_ids(kind, next - have)?;
        }
    }
    // Backends that keep counters in memory persist them with the next commit.
    to.commit(Batch::default())?;
    let target = tally(to, Phase::Verifying, progress)?;
    Ok(CopyReport {
        source,
        target,
        copied,
        skipped,
    })
}
