//! Tile-engine benchmarks, each printed beside its baseline measured in the same run:
//! native passthrough tiles vs the raw `pread` of the same bytes, a rendered 2×-reduction Deep
//! Zoom level vs openslide-python's `DeepZoomGenerator.get_tile` + JPEG encode, opening a
//! 40,000 × 30,001 pyramid, and `read_region` 1024² at level 0 vs openslide-python.
//!
//! Slides: the 40,000 × 30,001 libvips pyramid is made (and cached) by
//! `tests/tiles/fixtures.py big` in `.venv-tiles` (scripts/test-tiles creates it); the
//! OpenSlide baselines run `tests/tiles/bench_openslide.py` with the same venv. Without the venv
//! the Rust figures are printed and the baselines are reported as unavailable.
//! Run: `cargo bench -p exact-benches --bench tiles`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use exact_tiles::{DeepZoomGenerator, DeepZoomOptions, Slide};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> Option<PathBuf> {
    let p = repo().join(".venv-tiles/bin/python");
    p.exists().then_some(p)
}

fn big_slide() -> Option<PathBuf> {
    let cached = repo().join("tests/fixtures/cache/bench-40000x30001.tif");
    if cached.exists() {
        return Some(cached);
    }
    let py = python()?;
    let out = Command::new(py)
        .arg(repo().join("tests/tiles/fixtures.py"))
        .arg("big")
        .output()
        .ok()?;
    (out.status.success() && cached.exists()).then_some(cached)
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Positions of 1024² regions spread over the slide (deterministic).
fn positions(w: u64, h: u64, n: usize) -> Vec<(i64, i64)> {
    (0..n as u64)
        .map(|i| {
            let x = (i * 7919 * 1021) % (w - 1024);
            let y = (i * 104_729 * 509) % (h - 1024);
            (x as i64, y as i64)
        })
        .collect()
}

fn main() {
    let Some(big) = big_slide() else {
        println!(
            "tiles bench: no .venv-tiles to make the 40,000 x 30,001 pyramid; run scripts/test-tiles first"
        );
        return;
    };
    let cmu = repo().join("tests/fixtures/data/CMU-1-Small-Region.svs");
    let big_s = big.to_str().expect("utf-8 path").to_string();

    // 1. open
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        block(Slide::open(&big_s)).expect("open");
    }
    let open_ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(n);

    let slide = Arc::new(block(Slide::open(&big_s)).expect("open"));
    let l0 = &slide.levels()[0];
    let tw = l0.tile_width;
    let (across, down) = (l0.tiles_across - 1, l0.tiles_down - 1);

    // 2. native passthrough vs raw pread of the same bytes, one core
    let count = 200_000u32;
    let tiles: Vec<(u32, u32)> = (0..count)
        .map(|i| ((i * 31) % across, (i * 17 / across.max(1) + i) % down))
        .collect();
    let ranges: Vec<(u64, usize)> = {
        use exact_tiles::tiff::read_directories;
        let src = exact_tiles::source::Source::from_file(&big).expect("file");
        let dirs = block(read_directories(&src, None, &Default::default())).expect("ifds");
        let d = &dirs[0];
        tiles
            .iter()
            .map(|&(c, r)| {
                let i = (r * d.width.div_ceil(tw) + c) as usize;
                (d.offsets[i], d.byte_counts[i] as usize)
            })
            .collect()
    };
    let file = std::fs::File::open(&big).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    let mut sink = 0usize;
    // warm the page cache for both loops (the figure is for cached tiles)
    for &(off, len) in &ranges {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buf[..len], off).expect("pread");
    }
    let t = Instant::now();
    for &(off, len) in &ranges {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buf[..len], off).expect("pread");
        sink = sink.wrapping_add(buf[len / 2] as usize);
    }
    let pread_per_s = f64::from(count) / t.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let (native_per_s, joined_per_s) = rt.block_on(async {
        let t = Instant::now();
        for &(c, r) in &tiles {
            let tile = slide.native_tile(0, c, r).await.expect("tile");
            sink = sink.wrapping_add(tile.len());
        }
        let a = f64::from(count) / t.elapsed().as_secs_f64();
        let dz = DeepZoomGenerator::native(slide.clone()).expect("dz");
        let top = dz.geometry().level_count() - 1;
        let t = Instant::now();
        for &(c, r) in &tiles {
            sink = sink.wrapping_add(dz.tile(top, c, r).await.expect("tile").len());
        }
        (a, f64::from(count) / t.elapsed().as_secs_f64())
    });

    // 3. rendered tiles needing a 2x reduction: CMU (one level) at Deep Zoom downsample 2
    let cmu_slide = Arc::new(block(Slide::open(cmu.to_str().expect("path"))).expect("cmu"));
    let opts = DeepZoomOptions::default();
    let probe = DeepZoomGenerator::new(cmu_slide.clone(), opts).expect("dz");
    let render_level = probe.geometry().level_count() - 2;
    let (cols, rows) = probe.geometry().level_tiles()[render_level];
    let render_per_s = {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("rt");
        rt.block_on(async {
            // fresh slide and generator: no rendered-tile cache hits
            let s = Arc::new(Slide::open(cmu.to_str().expect("path")).await.expect("cmu"));
            let dz = DeepZoomGenerator::new(s, opts).expect("dz");
            let t = Instant::now();
            for r in 0..rows {
                for c in 0..cols {
                    sink = sink.wrapping_add(dz.tile(render_level, c, r).await.expect("t").len());
                }
            }
            f64::from(cols * rows) / t.elapsed().as_secs_f64()
        })
    };

    // 4. read_region 1024x1024 at level 0
    let (w0, h0) = slide.dimensions();
    let pos = positions(w0, h0, 40);
    let region_ms = {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let s = Slide::open(&big_s).await.expect("open");
            let t = Instant::now();
            for &(x, y) in &pos {
                let img = s.read_region(x, y, 0, 1024, 1024).await.expect("region");
                sink = sink.wrapping_add(img.data[0] as usize);
            }
            t.elapsed().as_secs_f64() * 1000.0 / pos.len() as f64
        })
    };

    // baselines from OpenSlide, same machine, same run
    let base = python().and_then(|py| {
        let pos_json = format!(
            "[{}]",
            pos.iter()
                .map(|(x, y)| format!("[{x},{y}]"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let out = Command::new(py)
            .arg(repo().join("tests/tiles/bench_openslide.py"))
            .arg(&big)
            .arg(&cmu)
            .arg(render_level.to_string())
            .arg(pos_json)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        let num = |k: &str| -> Option<f64> {
            let i = text.find(&format!("\"{k}\": "))? + k.len() + 4;
            text[i..].split([',', '}']).next()?.trim().parse().ok()
        };
        Some((
            num("open_ms")?,
            num("render_tiles_per_s")?,
            num("region_ms")?,
        ))
    });
    let fmt = |v: Option<f64>, unit: &str| {
        v.map_or("unavailable (no .venv-tiles)".to_string(), |v| {
            format!("{v:.2} {unit}")
        })
    };
    println!("tiles bench (sink {sink})");
    println!(
        "  native passthrough tile, 1 core:   {native_per_s:>12.0} tiles/s (parts), {joined_per_s:.0} tiles/s (joined Bytes)  | baseline raw pread of the same bytes: {pread_per_s:.0} /s"
    );
    println!(
        "  rendered tile, 2x reduction (CMU DZ level {render_level}, {} tiles): {render_per_s:>8.1} tiles/s | baseline openslide-python get_tile + JPEG q75: {}  ratio {}",
        cols * rows,
        fmt(base.map(|b| b.1), "tiles/s"),
        base.map_or("-".into(), |b| format!("{:.2}x", render_per_s / b.1))
    );
    println!(
        "  open 40,000 x 30,001 pyramid:      {open_ms:>12.3} ms | baseline openslide-python OpenSlide(): {}",
        fmt(base.map(|b| b.0), "ms")
    );
    println!(
        "  read_region 1024x1024 level 0:     {region_ms:>12.2} ms | baseline openslide-python: {}  ratio {}",
        fmt(base.map(|b| b.2), "ms"),
        base.map_or("-".into(), |b| format!("{:.2}x", b.2 / region_ms))
    );
}
