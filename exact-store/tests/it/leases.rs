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
    plugin_jobs_run_once_and_are_taken_over,
    one_owner_at_a_time_until_expiry_or_release,
    racing_claims_get_one_winner,
);

/// Plugin jobs on several servers (issue 16): two catalogs on one store stand for two
/// servers. A queued job is run by exactly one; the other's start-up sweep leaves a job a
/// live server holds alone; once its server stops renewing (dead), the lease expires, the
/// sweep queues the job again and the other server takes it over.
fn plugin_jobs_run_once_and_are_taken_over(b: Backend) {
    use exact_core::catalog::{JobState, ModelAllowlist};
    use exact_core::wire::Obj;
    let w = World::new(b);
    let store = w._backend.as_ref().unwrap().store.clone();
    let (one, two) = (Catalog::new(store.clone()), Catalog::new(store));
    let a = w.actor(&w.admin);
    let plugin =
        w.c.processing()
            .create_plugin(
                &a,
                &Obj::of(
                    serde_json::json!({"name": "p", "products": [w.product.id.0]}),
                    "body",
                )
                .unwrap(),
                "",
                &ModelAllowlist::default(),
            )
            .unwrap();
    let job =
        w.c.processing()
            .create_job(&a, plugin.id, w.image.id, None)
            .unwrap();
    // Racing servers: one claims it.
    let barrier = Arc::new(Barrier::new(2));
    let won: Vec<bool> = std::thread::scope(|s| {
        let hs: Vec<_> = [(&one, 1u64), (&two, 2u64)]
            .into_iter()
            .map(|(c, owner)| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    barrier.wait();
                    let r = c.processing().claim_job(job.id, owner, "w", LONG).unwrap();
                    r.is_some()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(won.iter().filter(|x| **x).count(), 1, "{won:?}");
    let (winner, loser, wo, lo) = if won[0] {
        (&one, &two, 1, 2)
    } else {
        (&two, &one, 2, 1)
    };
    assert_eq!(
        winner.processing().job_state(job.id).unwrap(),
        JobState::Running
    );
    // The winner renews (alive): the other's sweep leaves the job running.
    assert!(winner.processing().renew_job(job.id, wo, LONG).unwrap());
    assert!(
        loser
            .processing()
            .requeue_orphans(lo, false)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        loser.processing().job_state(job.id).unwrap(),
        JobState::Running
    );
    assert!(
        loser
            .processing()
            .claim_job(job.id, lo, "w", LONG)
            .unwrap()
            .is_none()
    );
    // The winner dies: its lease runs out (renewed with 1 ms), the sweep re-queues the job
    // and the other server takes it over; the dead one cannot renew any more.
    assert!(winner.processing().renew_job(job.id, wo, 1_000).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        loser.processing().requeue_orphans(lo, false).unwrap(),
        vec![job.id]
    );
    let taken = loser
        .processing()
        .claim_job(job.id, lo, "taker", LONG)
        .unwrap();
    assert_eq!(taken.map(|j| j.attached_worker), Some("taker".to_owned()));
    assert!(!winner.processing().renew_job(job.id, wo, LONG).unwrap());
    // A conversion lease on the image with the job's id is a different lease.
    assert!(winner.leases().claim(job.id.0, wo, LONG).unwrap());
    loser.processing().release_job(job.id, lo).unwrap();
    assert!(
        winner
            .processing()
            .requeue_orphans(wo, false)
            .unwrap()
            .len()
            == 1
    );
}
