//! Leases on background work (issue 15): of several servers on one store exactly one holds a
//! job's lease; it can be renewed by its owner only, is free again once expired or released,
//! and racing claimants get it once. The conversion worker takes a conversion only under its
//! lease, so N servers convert each upload once and a dead server's work is taken over.

use crate::common::{Backend, World};
use crate::per_backend;
use exact_core::Catalog;
use std::sync::{Arc, Barrier};

const LONG: i64 = 60_000_000; // µs

fn one_owner_at_a_time_until_expiry_or_release(b: Backend) {
    let w = World::new(b);
    let store = w._backend.as_ref().unwrap().store.clone();
    let (a, b) = (Catalog::new(store.clone()), Catalog::new(store));
    assert!(a.leases().claim(7, 1, LONG).unwrap());
    assert!(!b.leases().claim(7, 2, LONG).unwrap(), "held by 1");
    assert_eq!(b.leases().holder(7).unwrap(), Some(1));
    assert!(a.leases().claim(7, 1, LONG).unwrap(), "the owner renews");
    // Someone else's release leaves it; the owner's frees it.
    b.leases().release(7, 2).unwrap();
    assert_eq!(a.leases().holder(7).unwrap(), Some(1));
    a.leases().release(7, 1).unwrap();
    assert_eq!(a.leases().holder(7).unwrap(), None);
    assert!(b.leases().claim(7, 2, LONG).unwrap());
    // An owner that stops renewing (a server killed) loses it when it expires.
    assert!(a.leases().claim(8, 1, 1_000).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(b.leases().holder(8).unwrap(), None);
    assert!(b.leases().claim(8, 2, LONG).unwrap(), "taken over");
    assert!(
        !a.leases().claim(8, 1, LONG).unwrap(),
        "the old owner cannot renew"
    );
}

fn racing_claims_get_one_winner(b: Backend) {
    let w = World::new(b);
    let store = w._backend.as_ref().unwrap().store.clone();
    for job in 100..110 {
        let barrier = Arc::new(Barrier::new(4));
        let won: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4u64)
                .map(|owner| {
                    let (c, barrier) = (Catalog::new(store.clone()), barrier.clone());
                    s.spawn(move || {
                        barrier.wait();
                        c.leases().claim(job, owner + 1, LONG).unwrap()
                    })
                })
                .collect();
            hs.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
        });
        assert_eq!(won, 1, "job {job}");
    }
}

per_backend!(
    one_owner_at_a_time_until_expiry_or_release,
    racing_claims_get_one_winner,
);
