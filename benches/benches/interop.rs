//! Import/export benchmark (issue 14). A GeoJSON file of N features (default 1,000,000;
//! `EXACT_BENCH_N` to change), half boxes (rectangles) and half points, on one image of a
//! sled store. Prints, each beside its baseline from the same run: import of the file (parse,
//! check, dedupe, one atomic batch) against Python's `json.load` + `shapely.geometry.shape` on
//! the same file (targets: ≤ 10 s); export of the N annotations to GeoJSON and to CSV
//! (targets: ≤ 5 s); the peak memory each phase adds (VmHWM, reset between phases). Dry runs
//! of both imports (read and check, nothing written) show the reading half apart from the
//! store's write. The exports stand beside the store's listing alone (the same annotations
//! visited, nothing written) and Python writing the same features with `json.dump` and
//! `csv.writer` from memory.
//!
//! Run: `cargo bench -p exact-benches --bench interop` (the Python baseline needs `shapely`
//! in `EXACT_BENCH_PYTHON`, default `python3`). `EXACT_BENCH_ONLY=export` fills the store by
//! the bulk-insert baseline alone and measures only the exports (for profiling them);
//! `EXACT_BENCH_ONLY=sliderunner` fills it the same way and measures only the SlideRunner
//! export and imports (no Python baseline either).

use exact_benches::timed;
use exact_core::VectorType;
use exact_core::catalog::{
    NewAnnotation, NewAnnotationType, NewImage, NewImageSet, NewProduct, NewTeam, NewUser,
};
use exact_core::vector::Vector;
use exact_interop::{ExportOptions, Format, ImportOptions};
use exact_store::{Exact, ExactConfig};
use std::io::Write;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak-RSS mark (Linux ≥ 4.0), so each phase's peak is its own.
fn reset_peak() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status("VmRSS:")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Imports the file at `path` into `set` with `opts`: the report, the time taken and the peak
/// memory it added (MiB).
fn import_measured(
    exact: &Exact,
    me: &exact_core::Actor,
    set: exact_core::ImageSetId,
    path: &std::path::Path,
    opts: &ImportOptions,
) -> (exact_interop::ImportReport, std::time::Duration, f64) {
    let rss0 = reset_peak();
    let (r, t) = timed(|| {
        let mut f = std::fs::File::open(path).unwrap();
        exact.interop().import(me, set, &mut f, opts, &mut |_| {})
    });
    (r.unwrap(), t, mib(status("VmHWM:").saturating_sub(rss0)))
}

fn main() {
    let n: usize = std::env::var("EXACT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::var("EXACT_BENCH_ONLY").unwrap_or_default();
    let only_export = only == "export";
    let only_sliderunner = only == "sliderunner";
    let dir = tempfile::tempdir().unwrap();
    let exact = Exact::open(ExactConfig::in_dir(dir.path().join("data"))).unwrap();
    let u = exact.users().register(NewUser::new("bench")).unwrap();
    let me = exact.actor(u.id).unwrap();
    let team = exact
        .teams()
        .create(&me, NewTeam::new("bench team"))
        .unwrap();
    let me = exact.actor(u.id).unwrap();
    let set = exact
        .image_sets()
        .create(&me, NewImageSet::new("bench", team.id))
        .unwrap();
    let p = exact
        .products()
        .create(
            &me,
            NewProduct {
                name: "p".into(),
                team: Some(team.id),
                imagesets: vec![set.id],
                ..Default::default()
            },
        )
        .unwrap();
    let mitosis = exact
        .annotation_types()
        .create(
            &me,
            NewAnnotationType::new("mitosis", VectorType::BoundingBox, p.id),
        )
        .unwrap();
    let cell = exact
        .annotation_types()
        .create(&me, NewAnnotationType::new("cell", VectorType::Point, p.id))
        .unwrap();
    exact
        .images()
        .add(&me, NewImage::new(set.id, "slide.svs", 200_000, 100_000))
        .unwrap();

    let geo = dir.path().join("in.geojson");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&geo).unwrap());
        w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")
            .unwrap();
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        for i in 0..n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = (s % 199_000) as f64;
            let y = ((s >> 20) % 99_000) as f64;
            if i > 0 {
                w.write_all(b",\n").unwrap();
            }
            if i % 2 == 0 {
                let (w2, h2) = (
                    x + 10.0 + (s % 60) as f64,
                    y + 10.0 + ((s >> 8) % 60) as f64,
                );
                write!(w, "{{\"type\":\"Feature\",\"id\":\"00000000-0000-4000-8000-{i:012}\",\"geometry\":{{\"type\":\"Polygon\",\"coordinates\":[[[{x},{y}],[{w2},{y}],[{w2},{h2}],[{x},{h2}],[{x},{y}]]]}},\"properties\":{{\"objectType\":\"annotation\",\"classification\":{{\"name\":\"mitosis\",\"color\":[255,0,0]}},\"isLocked\":false}}}}").unwrap();
            } else {
                write!(w, "{{\"type\":\"Feature\",\"id\":\"00000000-0000-4000-8000-{i:012}\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{x},{y}]}},\"properties\":{{\"objectType\":\"detection\",\"classification\":{{\"name\":\"cell\",\"color\":[0,0,255]}},\"isLocked\":false}}}}").unwrap();
            }
        }
        w.write_all(b"\n]}\n").unwrap();
    }
    let size = std::fs::metadata(&geo).unwrap().len();
    println!(
        "interop benchmark: {n} features (half boxes, half points), GeoJSON file {:.0} MiB",
        size as f64 / 1048576.0
    );

    // Baseline: Python json.load + shapely on the same file, in its own process.
    let python = std::env::var("EXACT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import json, resource, sys, time
from shapely.geometry import shape
t = time.perf_counter()
with open(sys.argv[1]) as f:
    doc = json.load(f)
geoms = [shape(f["geometry"]) for f in doc["features"]]
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# Writing the same features back out from memory: GeoJSON with json.dump, CSV with csv.writer.
import csv
t = time.perf_counter()
with open(sys.argv[2] + ".geojson", "w") as f:
    json.dump(doc, f)
dt_json = time.perf_counter() - t
t = time.perf_counter()
with open(sys.argv[2] + ".csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "image", "type", "geometry"])
    for ft in doc["features"]:
        g = ft["geometry"]
        w.writerow([ft.get("id"), "slide.svs", ft["properties"]["classification"]["name"], json.dumps(g["coordinates"])])
dt_csv = time.perf_counter() - t
print(f"{dt:.3f} {rss} {len(geoms)} {dt_json:.3f} {dt_csv:.3f}")
"#;
    let baseline = if only_sliderunner {
        Err(std::io::Error::other(
            "not run (EXACT_BENCH_ONLY=sliderunner)",
        ))
    } else {
        std::process::Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&geo)
            .arg(dir.path().join("python-out"))
            .output()
    };
    let base = match &baseline {
        Ok(o) if o.status.success() => {
            let t = String::from_utf8_lossy(&o.stdout);
            let v: Vec<&str> = t.split_whitespace().collect();
            Some((
                v[0].parse::<f64>().unwrap_or(f64::NAN),
                v[1].parse::<u64>().unwrap_or(0),
                [
                    v.get(3)
                        .and_then(|t| t.parse::<f64>().ok())
                        .unwrap_or(f64::NAN),
                    v.get(4)
                        .and_then(|t| t.parse::<f64>().ok())
                        .unwrap_or(f64::NAN),
                ],
            ))
        }
        Ok(o) => {
            println!(
                "baseline unavailable ({python}): {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            None
        }
        Err(e) => {
            println!("baseline unavailable ({python}): {e}");
            None
        }
    };

    // Baseline 1: serde_json's own parse of the whole file into a `Value` (no checks,
    // nothing stored), the naive way to read it.
    let mut t_parse = std::time::Duration::ZERO;
    if only.is_empty() {
        let rss0 = reset_peak();
        let (v, t) = timed(|| {
            let f = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&geo).unwrap());
            serde_json::from_reader::<_, serde_json::Value>(f).unwrap()
        });
        t_parse = t;
        let parse_peak = status("VmHWM:").saturating_sub(rss0);
        drop(v);
        println!(
            "  baseline serde_json::from_reader → Value (parse only): {:>7.2} s, peak +{:.0} MiB",
            t_parse.as_secs_f64(),
            mib(parse_peak)
        );
    }
    // Baseline 2: the store's bulk insert of the same kind of annotations (create_many,
    // exact_interop::BATCH per atomic batch) into a set of its own: the floor for the import's
    // writing half.
    let set3 = exact
        .image_sets()
        .create(&me, NewImageSet::new("bench bulk", team.id))
        .unwrap();
    exact.products().attach(&me, p.id, set3.id).unwrap();
    let img3 = exact
        .images()
        .add(&me, NewImage::new(set3.id, "slide.svs", 200_000, 100_000))
        .unwrap();
    let rss0 = reset_peak();
    let ((), t_bulk) = timed(|| {
        let mut s: u64 = 0x2545_f491_4f6c_dd1d;
        let mut i = 0;
        while i < n {
            let k = (n - i).min(exact_interop::BATCH);
            let batch: Vec<NewAnnotation> = (i..i + k)
                .map(|j| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let x = (s % 199_000) as f64;
                    let y = ((s >> 20) % 99_000) as f64;
                    let (t, v) = if j % 2 == 0 {
                        (
                            mitosis.id,
                            Vector::rect(
                                x,
                                y,
                                x + 10.0 + (s % 60) as f64,
                                y + 10.0 + ((s >> 8) % 60) as f64,
                            ),
                        )
                    } else {
                        (cell.id, Vector::rect(x - 5.0, y - 5.0, x + 5.0, y + 5.0))
                    };
                    NewAnnotation::new(t, img3.id, Some(v))
                })
                .collect();
            exact.annotations().create_many(&me, batch).unwrap();
            i += k;
        }
    });
    let bulk_peak = status("VmHWM:").saturating_sub(rss0);
    println!(
        "  baseline bulk insert (create_many, {} per batch): {:>7.2} s ({:>9.0} annotations/s), peak +{:.0} MiB",
        exact_interop::BATCH,
        t_bulk.as_secs_f64(),
        n as f64 / t_bulk.as_secs_f64(),
        mib(bulk_peak)
    );

    if only_export {
        export_bench(&exact, &me, set3.id, n, dir.path(), base.map(|b| b.2));
        return;
    }
    if only_sliderunner {
        sliderunner_bench(&exact, &me, set3.id, n, dir.path(), p.id, team.id);
        return;
    }
    // The reading half alone: a dry run parses and checks everything, writes nothing.
    let dry = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    let (r, t, peak) = import_measured(&exact, &me, set.id, &geo, &dry);
    assert_eq!(r.read as usize, n);
    println!(
        "import GeoJSON, dry run (read + check, no write): {:>7.2} s, peak +{peak:.0} MiB",
        t.as_secs_f64(),
    );
    let (r, t, peak) = import_measured(&exact, &me, set.id, &geo, &ImportOptions::default());
    assert_eq!(r.created as usize, n, "{:?}", r.refused);
    println!(
        "import GeoJSON → store:   {:>7.2} s  ({:>9.0} features/s)  peak +{:.0} MiB  (target ≤ 10 s)",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64(),
        peak
    );
    if let Some((bt, brss, _)) = base {
        println!(
            "  baseline json.load + shapely (parse only, nothing stored): {bt:>7.2} s, peak RSS {:.0} MiB  → ours/baseline time {:.2}",
            mib(brss),
            t.as_secs_f64() / bt
        );
    }
    println!(
        "  ours / serde_json parse {:.2}; ours / bulk insert {:.2}",
        t.as_secs_f64() / t_parse.as_secs_f64(),
        t.as_secs_f64() / t_bulk.as_secs_f64()
    );
    export_bench(&exact, &me, set.id, n, dir.path(), base.map(|b| b.2));
    sliderunner_bench(&exact, &me, set.id, n, dir.path(), p.id, team.id);
    // Re-import of the same file: everything is a duplicate, nothing written.
    let (r, t, peak) = import_measured(&exact, &me, set.id, &geo, &ImportOptions::default());
    println!(
        "re-import (all duplicates): {:>5.2} s, created {}, skipped {}, peak +{peak:.0} MiB",
        t.as_secs_f64(),
        r.created,
        r.skipped_duplicates,
    );
}

/// The SlideRunner export of `from` (n annotations) and its imports (dry, then written) into
/// a new set of `product`'s.
fn sliderunner_bench(
    exact: &Exact,
    me: &exact_core::Actor,
    from: exact_core::ImageSetId,
    n: usize,
    dir: &std::path::Path,
    product: exact_core::ProductId,
    team: exact_core::TeamId,
) {
    let dry = ImportOptions {
        dry_run: true,
        ..Default::default()
    };
    // SlideRunner: the store exported to a SlideRunner database, imported into a second set.
    let sr = dir.join("out.sqlite");
    let (s, t) = timed(|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&sr).unwrap());
        let s = exact.interop().export(
            me,
            from,
            Format::SlideRunner,
            &ExportOptions::default(),
            &mut w,
            &mut |_| {},
        );
        w.flush().unwrap();
        s
    });
    assert_eq!(s.unwrap().annotations as usize, n);
    println!(
        "export store → sliderunner {:>6.2} s  ({:.0} MiB database)",
        t.as_secs_f64(),
        std::fs::metadata(&sr).unwrap().len() as f64 / 1048576.0
    );
    let set2 = exact
        .image_sets()
        .create(me, NewImageSet::new("bench 2", team))
        .unwrap();
    exact.products().attach(me, product, set2.id).unwrap();
    exact
        .images()
        .add(me, NewImage::new(set2.id, "slide.svs", 200_000, 100_000))
        .unwrap();
    let (r, t, peak) = import_measured(exact, me, set2.id, &sr, &dry);
    assert_eq!(r.read as usize, n);
    println!(
        "import SlideRunner, dry run (read + check, no write): {:>5.2} s, peak +{peak:.0} MiB",
        t.as_secs_f64(),
    );
    let (r, t, peak) = import_measured(exact, me, set2.id, &sr, &ImportOptions::default());
    assert_eq!(r.created as usize, n, "{:?}", r.refused);
    println!(
        "import SlideRunner → store: {:>5.2} s  ({:>9.0} annotations/s)  peak +{peak:.0} MiB  (target ≤ 10 s)",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64(),
    );
}

/// The GeoJSON and CSV exports of `set` (n annotations), each beside the store's listing
/// alone and Python's writing of the same features (`python`: json.dump, csv.writer seconds).
fn export_bench(
    exact: &Exact,
    me: &exact_core::Actor,
    set: exact_core::ImageSetId,
    n: usize,
    dir: &std::path::Path,
    python: Option<[f64; 2]>,
) {
    // The floor: every annotation visited as the export visits them, nothing formatted.
    let images = exact.image_sets().images(me, set).unwrap();
    let query = exact_core::catalog::AnnotationQuery::everything();
    let (seen, t_list) = timed(|| {
        let mut seen = 0usize;
        for i in &images {
            exact
                .annotations()
                .query_each(me, i.id, &query, |a| {
                    seen += usize::from(a.vector.is_some());
                })
                .unwrap();
        }
        seen
    });
    assert_eq!(seen, n);
    println!(
        "  baseline store listing alone (query_each, nothing written): {:>6.2} s ({:>9.0} annotations/s)",
        t_list.as_secs_f64(),
        n as f64 / t_list.as_secs_f64()
    );
    for (k, format) in [Format::GeoJson, Format::Csv].into_iter().enumerate() {
        let out = dir.join(format!("out.{}", format.extension()));
        let rss0 = reset_peak();
        let (s, t) = timed(|| {
            let mut w =
                std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap());
            let s = exact.interop().export(
                me,
                set,
                format,
                &ExportOptions::default(),
                &mut w,
                &mut |_| {},
            );
            w.flush().unwrap();
            s
        });
        let s = s.unwrap();
        assert_eq!(s.annotations as usize, n);
        let peak = status("VmHWM:").saturating_sub(rss0);
        println!(
            "export store → {:<8}   {:>7.2} s  ({:>9.0} annotations/s)  {:.0} MiB written, peak +{:.0} MiB  (target ≤ 5 s)",
            format.name(),
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64(),
            std::fs::metadata(&out).unwrap().len() as f64 / 1048576.0,
            mib(peak)
        );
        let py = python.map(|p| p[k]).filter(|p| p.is_finite());
        println!(
            "  ours / listing alone {:.2}{}",
            t.as_secs_f64() / t_list.as_secs_f64(),
            match py {
                Some(p) => format!(
                    "; baseline Python {} from memory {p:.2} s → ours/baseline time {:.2}",
                    if k == 0 { "json.dump" } else { "csv.writer" },
                    t.as_secs_f64() / p
                ),
                None => String::new(),
            }
        );
    }
}
