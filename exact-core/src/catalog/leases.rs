//! Leases on background work, so that of N servers on one store exactly one does each job and
//! another takes it over when its owner dies. A lease is a record ([`Kind::Lease`]) under the
//! job's id holding its owner and expiry; it is taken, renewed and released with the store's
//! optimistic preconditions only ([`Expect::Absent`] / [`Expect::Exactly`]), so it works the
//! same on sled, memory and PostgreSQL. An owner renews well before expiry; a lease that has
//! expired belongs to nobody and the next claim takes it. Jobs are image conversions for now:
//! the lease id is the image id.

use super::{Catalog, RETRIES};
use crate::store::{Batch, Expect, Kind, Write};
use crate::{ErrorKind, Result};

/// Leases on background jobs (see the module docs).
pub struct Leases<'a>(pub(crate) &'a Catalog);

/// A lease as stored: owner, then expiry (µs since the epoch), both big-endian.
fn encode(owner: u64, expires: i64) -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&owner.to_be_bytes());
    b.extend_from_slice(&expires.to_be_bytes());
    b
}

fn decode(bytes: &[u8]) -> Option<(u64, i64)> {
    let owner = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let expires = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((owner, expires))
}

impl Leases<'_> {
    fn write(&self, job: u64, data: Option<Vec<u8>>, expect: Expect) -> Result<()> {
        self.0.store().commit(Batch {
            writes: vec![Write {
                kind: Kind::Lease,
                id: job,
                data,
                expect,
                remove: Vec::new(),
                add: Vec::new(),
            }],
            entries: Vec::new(),
        })
    }

    /// Takes (or renews) the lease on `job` for `owner` for `ttl_micros`: `true` when `owner`
    /// holds it now, `false` when another owner's lease has not expired. Racing claimants:
    /// exactly one gets it.
    pub fn claim(&self, job: u64, owner: u64, ttl_micros: i64) -> Result<bool> {
        for _ in 0..RETRIES {
            let now = self.0.now().0;
            let current = self.0.store().get(Kind::Lease, job)?;
            let expect = match &current {
                None => Expect::Absent,
                Some(bytes) => match decode(bytes) {
                    Some((holder, expires)) if holder != owner && expires > now => {
                        return Ok(false);
                    }
                    // Ours, expired, or unreadable: take it over.
                    _ => Expect::Exactly(bytes.clone()),
                },
            };
            let lease = encode(owner, now.saturating_add(ttl_micros));
            match self.write(job, Some(lease), expect) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// The owner of `job`'s lease, if one holds it now.
    pub fn holder(&self, job: u64) -> Result<Option<u64>> {
        let now = self.0.now().0;
        Ok(self
            .0
            .store()
            .get(Kind::Lease, job)?
            .and_then(|b| decode(&b))
            .filter(|(_, expires)| *expires > now)
            .map(|(owner, _)| owner))
    }

    /// Gives up `owner`'s lease on `job` (the job is done); someone else's is left alone.
    pub fn release(&self, job: u64, owner: u64) -> Result<()> {
        let Some(bytes) = self.0.store().get(Kind::Lease, job)? else {
            return Ok(());
        };
        if decode(&bytes).is_some_and(|(holder, _)| holder == owner) {
            match self.write(job, None, Expect::Exactly(bytes)) {
                Err(e) if e.kind() != ErrorKind::Conflict => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Catalog {
    /// Leases on background jobs, shared by every server on the store.
    pub fn leases(&self) -> Leases<'_> {
        Leases(self)
    }
}
