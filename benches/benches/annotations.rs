//! Annotation store benchmark (issue: foundation). One image in the sled store holding
//! N annotations (default 1,000,000; `EXACT_BENCH_N` to change), mixed boxes and 8–40-node
//! polygons spread over a 100,000 × 80,000 px slide. Prints, each beside its baseline:
//! bulk insert rate; viewport queries returning ~1,000 annotations (p50/p99) against a
//! brute-force scan of the image; empty viewports; bytes on disk per box annotation.
//!
//! Run: `cargo bench -p exact-benches --bench annotations`

use exact_benches::{Rng, dir_size, quantile, timed};
use exact_core::catalog::{AnnotationPatch, AnnotationQuery, NewAnnotation};
use exact_core::model::CollaborationType;
use exact_core::{Actor, AnnotationTypeId, BBox, ImageId, Point, Vector, VectorType};
use exact_store::{Exact, ExactConfig};
use exact_tests::World;
use std::time::Duration;

/// The allocator the `exact` binary uses too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const W: f64 = 100_000.0;
const H: f64 = 80_000.0;
const CHUNK: usize = 10_000;

/// Round trips to PostgreSQL so far (0 on other backends): printed per operation beside timings.
fn trips() -> u64 {
    exact_store::meta::postgres::round_trips()
}

/// `  (N round trips to PostgreSQL per OP)` when any were made since `since`, else nothing.
fn per(since: u64, ops: usize, op: &str) -> String {
    let n = trips() - since;
    if n == 0 || ops == 0 {
        return String::new();
    }
    format!(
        "  ({:.1} round trips to PostgreSQL per {op})",
        n as f64 / ops as f64
    )
}

struct Setup {
    exact: Exact,
    me: Actor,
    image: ImageId,
    boxes: AnnotationTypeId,
    polygons: AnnotationTypeId,
}

/// A store in `dir`; its metadata in `EXACT_BENCH_META` when `meta` and that is set.
fn setup(dir: &std::path::Path, meta: bool) -> Setup {
    let mut config = ExactConfig::in_dir(dir);
    if meta {
        config.meta = std::env::var("EXACT_BENCH_META").ok();
    }
    let exact = Exact::open(config).expect("open store");
    // The test kit's world: its first image is the W × H slide the annotations go on.
    let w = World::build(exact.catalog().clone(), CollaborationType::Collaborative);
    Setup {
        me: w.actor(&w.admin),
        image: w.image.id,
        boxes: w.ty(VectorType::BoundingBox).id,
        polygons: w.ty(VectorType::Polygon).id,
        exact,
    }
}

fn make(s: &Setup, rng: &mut Rng, polygons: bool) -> NewAnnotation {
    let (x, y) = (rng.range(0.0, W), rng.range(0.0, H));
    if polygons && rng.next_u64().is_multiple_of(2) {
        let n = 8 + (rng.next_u64() % 33) as usize;
        let r = rng.range(10.0, 60.0);
        let pts = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                Point::new((x + r * a.cos()).round(), (y + r * a.sin()).round())
            })
            .collect();
        NewAnnotation::new(s.polygons, s.image, Some(Vector::new(pts)))
    } else {
        let (w, h) = (rng.range(10.0, 80.0).round(), rng.range(10.0, 80.0).round());
        NewAnnotation::new(
            s.boxes,
            s.image,
            Some(Vector::rect(
                x.round(),
                y.round(),
                x.round() + w,
                y.round() + h,
            )),
        )
    }
}

fn insert(s: &Setup, n: usize, polygons: bool) -> Duration {
    let mut rng = Rng::new(42);
    let mut total = Duration::ZERO;
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        let batch: Vec<NewAnnotation> = (0..k).map(|_| make(s, &mut rng, polygons)).collect();
        let (r, t) = timed(|| s.exact.annotations().create_many(&s.me, batch));
        r.expect("bulk insert");
        total += t;
        left -= k;
    }
    total
}

/// What a row-per-annotation layout costs: the same encoded annotations, one sled key each
/// (no spatial index at all), committed and flushed in the same batch sizes.
fn row_layout_baseline(s: &Setup, n: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(None)
        .open()
        .unwrap();
    let mut rng = Rng::new(42);
    let mut total = Duration::ZERO;
    let mut id = 0u64;
    while (id as usize) < n {
        let rows: Vec<Vec<u8>> = (0..CHUNK.min(n - id as usize))
            .map(|_| {
                let new = make(s, &mut rng, true);
                let a = exact_core::model::Annotation {
                    id: exact_core::AnnotationId(0),
                    annotation_type: new.annotation_type,
                    vector: new.vector,
                    image: new.image,
                    user: None,
                    last_editor: None,
                    time: exact_core::Timestamp(0),
                    last_edit_time: exact_core::Timestamp(0),
                    deleted: false,
                    concealed: false,
                    blurred: false,
                    description: String::new(),
                    unique_identifier: uuid_like(&mut rng),
                    meta_data: Default::default(),
                };
                exact_core::codec::encode_annotation(&a)
            })
            .collect();
        let (_, t) = timed(|| {
            let mut batch = sled::Batch::default();
            for row in rows {
                id += 1;
                batch.insert(&id.to_be_bytes(), row);
            }
            db.apply_batch(batch).unwrap();
            db.flush().unwrap();
        });
        total += t;
    }
    n as f64 / total.as_secs_f64()
}

fn uuid_like(rng: &mut Rng) -> uuid::Uuid {
    uuid::Uuid::from_u64_pair(rng.next_u64(), rng.next_u64())
}

fn main() {
    let n: usize = std::env::var("EXACT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // Bytes on disk are measured on sled whatever `EXACT_BENCH_META` says.
    let meta = match std::env::var("EXACT_BENCH_META") {
        Ok(url) => exact_store::meta::redact(&url),
        Err(_) => "sled".to_owned(),
    };
    println!(
        "annotation store benchmark: {n} annotations on one 100,000 × 80,000 px image, metadata on {meta}"
    );

    // Mixed boxes and polygons: insert rate and queries.
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path(), true);
    let t0 = trips();
    let t = insert(&s, n, true);
    let insert_trips = per(t0, n.div_ceil(CHUNK), "batch");
    let rate = n as f64 / t.as_secs_f64();
    let base = row_layout_baseline(&s, n);
    println!(
        "bulk insert (create_many, {CHUNK} per durable batch): {rate:>12.0} annotations/s  (target ≥ 200,000/s){insert_trips}"
    );
    println!(
        "  baseline one sled key per annotation, same batches: {base:>9.0} annotations/s  → {:.1}×",
        rate / base
    );

    // A viewport holding ~1,000 annotations at this density.
    let side = (1_000.0 * W * H / n as f64).sqrt();
    let mut rng = Rng::new(7);
    let nq: usize = std::env::var("EXACT_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let queries: Vec<BBox> = (0..nq)
        .map(|_| {
            let (x, y) = (rng.range(0.0, W - side), rng.range(0.0, H - side));
            BBox::new(x, y, x + side, y + side)
        })
        .collect();
    let a = s.exact.annotations();
    // Two passes over the same viewports: the first reads pages sled has not consolidated since
    // the bulk insert (cold), the second is the steady state of a viewer panning around.
    let pass = |label: &str| {
        let mut lat = Vec::new();
        let mut returned = 0;
        let t0 = trips();
        for q in &queries {
            let (r, t) = timed(|| {
                a.query(&s.me, s.image, &AnnotationQuery::viewport(*q))
                    .unwrap()
            });
            returned += r.len();
            lat.push(t);
        }
        let (p50, p99) = (quantile(&mut lat, 0.5), quantile(&mut lat, 0.99));
        println!(
            "viewport {side:.0} px square, {:.0} annotations/query, {label}: p50 {:>8.3} ms  p99 {:>8.3} ms  (targets ≤ 1 ms, ≤ 5 ms){}",
            returned as f64 / queries.len() as f64,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            per(t0, queries.len(), "query")
        );
        p50
    };
    pass("cold pass");
    let p50 = pass("warm pass");
    // Baseline: the same query without the spatial index — scan every annotation of the image.
    let mut brute = Vec::new();
    for q in queries.iter().take(5) {
        let (r, t) = timed(|| {
            let all = a
                .query(&s.me, s.image, &AnnotationQuery::default())
                .unwrap();
            all.into_iter()
                .filter(|x| {
                    x.vector
                        .as_ref()
                        .and_then(|v| v.bbox())
                        .is_some_and(|b| b.intersects(q))
                })
                .count()
        });
        std::hint::black_box(r);
        brute.push(t);
    }
    let b50 = quantile(&mut brute, 0.5);

    println!(
        "  baseline brute-force scan of the image: p50 {:>8.3} ms  → index is {:.0}× faster",
        b50.as_secs_f64() * 1e3,
        b50.as_secs_f64() / p50.as_secs_f64()
    );

    // Empty viewports: outside the slide, where nothing is.
    let mut empty = Vec::new();
    let t0 = trips();
    for i in 0..2_000 {
        let x = 200_000.0 + i as f64 * 10.0;
        let q = BBox::new(x, 200_000.0, x + side, 200_000.0 + side);
        let (r, t) = timed(|| {
            a.query(&s.me, s.image, &AnnotationQuery::viewport(q))
                .unwrap()
        });
        assert!(r.is_empty());
        empty.push(t);
    }
    println!(
        "empty viewport: p50 {:>8.1} µs  (target ≤ 50 µs){}",
        quantile(&mut empty, 0.5).as_secs_f64() * 1e6,
        per(t0, empty.len(), "query")
    );
    bulk_update(&s, side * 3.0);
    drop(s);

    // Size on disk with boxes only.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = setup(dir2.path(), false);
    let base = dir_size(dir2.path());
    insert(&s2, n, false);
    drop(s2);
    // Reopen so sled has written everything it keeps.
    drop(Exact::open(ExactConfig::in_dir(dir2.path())).unwrap());
    let size = dir_size(dir2.path()) - base;
    println!(
        "disk: {:.0} bytes per box annotation  (target ≤ 400; baseline: the encoded record is ~50 bytes)",
        size as f64 / n as f64
    );
}

/// A bulk edit of the annotations in one region (they share pages, as a model's proposals or a
/// selection in the viewer do): one atomic `update_many` beside the same edits one `update`
/// each (each its own durable batch).
fn bulk_update(s: &Setup, side: f64) {
    let a = s.exact.annotations();
    let q = BBox::new(W / 2.0, H / 2.0, W / 2.0 + side, H / 2.0 + side);
    let ids: Vec<_> = a
        .query(&s.me, s.image, &AnnotationQuery::viewport(q))
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .take(5_000)
        .collect();
    let patch = |text: &str| AnnotationPatch {
        description: Some(text.into()),
        ..Default::default()
    };
    let t0 = trips();
    let (_, bulk) = timed(|| {
        a.update_many(&s.me, ids.iter().map(|id| (*id, patch("bulk"))).collect())
            .unwrap()
    });
    let bulk_trips = per(t0, 1, "batch");
    let t0 = trips();
    let (_, single) = timed(|| {
        for id in &ids {
            a.update(&s.me, *id, patch("single")).unwrap();
        }
    });
    println!(
        "bulk update of {} annotations in one region (update_many, one atomic batch): {:>8.1} ms{bulk_trips}",
        ids.len(),
        bulk.as_secs_f64() * 1e3
    );
    println!(
        "  baseline one update per annotation: {:>8.1} ms  → {:.1}×{}",
        single.as_secs_f64() * 1e3,
        single.as_secs_f64() / bulk.as_secs_f64(),
        per(t0, ids.len(), "update")
    );
}
