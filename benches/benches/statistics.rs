//! Image statistics benchmark (issue 18). One image in the sled store holding N box
//! annotations (default 1,000,000; `EXACT_BENCH_N`), 1 % of them accepted.
//! Prints the median of `Annotations::statistics` (EXACT's statistics panel: per type count,
//! in-image, not-in-image, verified, unverified; read from the counts maintained on write)
//! beside two baselines from the same run: `statistics_by_scan` (the previous way: counts,
//! then every verdict and a pass over the image's annotation heads) and listing every
//! annotation and counting in the caller (what EXACT's ORM query does). Both ways must give
//! the same rows.
//!
//! Run: `cargo bench -p exact-benches --bench statistics`

use exact_benches::{Rng, timed};
use exact_core::catalog::{AnnotationQuery, NewAnnotation};
use exact_core::model::CollaborationType;
use exact_core::{Vector, VectorType};
use exact_store::{Exact, ExactConfig};
use exact_tests::World;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    let n: usize = std::env::var("EXACT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let exact = Exact::open(ExactConfig::in_dir(dir.path())).expect("open store");
    let w = World::build(exact.catalog().clone(), CollaborationType::Collaborative);
    let me = w.actor(&w.admin);
    let image = w.image.id;
    let kind = w.ty(VectorType::BoundingBox).id;
    let mut rng = Rng::new(7);
    let mut ids = Vec::with_capacity(n);
    let (_, insert) = timed(|| {
        let mut left = n;
        while left > 0 {
            let k = left.min(10_000);
            let batch: Vec<NewAnnotation> = (0..k)
                .map(|_| {
                    let (x, y) = (
                        rng.range(0.0, 99_000.0).round(),
                        rng.range(0.0, 79_000.0).round(),
                    );
                    NewAnnotation::new(kind, image, Some(Vector::rect(x, y, x + 40.0, y + 40.0)))
                })
                .collect();
            let made = exact.annotations().create_many(&me, batch).expect("insert");
            ids.extend(made.iter().map(|a| a.id));
            left -= k;
        }
    });
    for id in ids.iter().step_by(100) {
        exact
            .verifications()
            .verify(&me, *id, true)
            .expect("verify");
    }
    println!(
        "statistics of one image with {n} annotations ({} accepted); inserted in {:.1} s",
        ids.len().div_ceil(100),
        insert.as_secs_f64()
    );
    let runs = 7;
    let time = |f: &dyn Fn() -> usize| -> (f64, usize) {
        let mut out = 0;
        let ts = (0..runs)
            .map(|_| {
                let (r, t) = timed(f);
                out = r;
                t
            })
            .collect();
        (median(ts), out)
    };
    let (stats, s_n) = time(&|| {
        let s = exact
            .annotations()
            .statistics(&me, image)
            .expect("statistics");
        s.iter().map(|r| r.count).sum()
    });
    let (scan, f_n) = time(&|| {
        let s = exact
            .annotations()
            .statistics_by_scan(&me, image)
            .expect("statistics by scan");
        s.iter().map(|r| r.count).sum()
    });
    let (listing, l_n) = time(&|| {
        exact
            .annotations()
            .query(&me, image, &AnnotationQuery::default())
            .expect("list")
            .len()
    });
    assert_eq!((s_n, f_n, l_n), (n, n, n));
    let rows = exact
        .annotations()
        .statistics(&me, image)
        .expect("statistics");
    let verified: usize = rows.iter().map(|r| r.verified_count).sum();
    assert_eq!(verified, n.div_ceil(100), "verified count");
    assert_eq!(
        rows,
        exact
            .annotations()
            .statistics_by_scan(&me, image)
            .expect("statistics by scan"),
        "both ways give the same rows"
    );
    println!("  statistics (ours, maintained counts)    median {stats:8.3} ms");
    println!(
        "  baseline: statistics by scan (before)   median {scan:8.1} ms  (it / ours = {:.1})",
        scan / stats
    );
    println!(
        "  baseline: list all, count in caller     median {listing:8.1} ms  (it / ours = {:.2})",
        listing / stats
    );
    println!("  target (issue 18): statistics of 1,000,000 annotations in <= 50 ms");
}
