//! A 16-bit fluorescence plane rendered as tiles (issue 17): every 128-px native tile of one
//! plane of the tifffile OME-TIFF `planes-ome.ome.tif` (Z=5, T=3, C=3 uint16, 512×384, made by
//! tests/tiles/fixtures.py in `.venv-tiles`) composited to RGB and JPEG-encoded in-process
//! (tile cache off), beside tifffile + numpy doing the same in Python on the same file in the
//! same run: read the plane's three channel pages, scale each through the same display range,
//! tint, add, crop the tiles and encode them with Pillow. Medians of several rounds, tiles/s.
//! Run: `cargo bench -p exact-benches --bench planes`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use exact_tiles::{DeepZoomGenerator, Slide};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BASELINE: &str = r#"
import io, json, sys, time
import numpy as np, tifffile
from PIL import Image
path, z, t, rounds = sys.argv[1], *map(int, sys.argv[2:5])
ranges = json.loads(sys.argv[5])
colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.float32)
tf = tifffile.TiffFile(path)
Z, C = 5, 3
def one():
    acc = np.zeros((384, 512, 3), np.float32)
    for c in range(C):
        p = tf.pages[(t * Z + z) * C + c].asarray().astype(np.float32)
        lo, hi = ranges[c]
        acc += np.clip((p - lo) / (hi - lo), 0, 1)[..., None] * colors[c]
    rgb = np.minimum(np.rint(acc), 255).astype(np.uint8)
    n = 0
    for r in range(3):
        for c in range(4):
            Image.fromarray(rgb[r*128:(r+1)*128, c*128:(c+1)*128]).save(io.BytesIO(), "JPEG", quality=75)
            n += 1
    return n
rates = []
for _ in range(rounds):
    s = time.perf_counter(); n = one(); rates.append(n / (time.perf_counter() - s))
rates.sort()
print(json.dumps({"tiles_per_s": rates[len(rates) // 2]}))
"#;

fn main() {
    let py = repo().join(".venv-tiles/bin/python");
    let made = Command::new(&py)
        .current_dir(repo().join("tests/tiles"))
        .args([
            "-c",
            "import fixtures; print(fixtures.ome_planes('planes-ome.ome.tif'))",
        ])
        .output();
    let Some(path) = made
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        println!("planes bench: needs .venv-tiles with tifffile (run scripts/test-tiles once)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rounds = 15;
    let (z, t) = (1u32, 1u32);
    let (ours, ranges) = rt.block_on(async {
        let top = Arc::new(Slide::open(&path).await.expect("open"));
        let ranges = top
            .plane(z, t)
            .expect("plane")
            .display_ranges()
            .await
            .expect("ranges");
        let mut rates = Vec::new();
        for _ in 0..rounds {
            // A fresh slide per round with no decoded-tile cache (the default plane: the
            // composite costs the same on every plane); its display ranges found first.
            let slide = Slide::open(&path)
                .await
                .expect("open")
                .with_tile_cache_bytes(0);
            slide.display_ranges().await.expect("ranges");
            let plane = Arc::new(slide);
            let g = DeepZoomGenerator::native(plane).expect("dz");
            let level = g.geometry().level_count() - 1;
            let s = Instant::now();
            let mut n = 0;
            for row in 0..3 {
                for col in 0..4 {
                    let img = g.render(level, col, row).await.expect("render");
                    std::hint::black_box(img.encode_jpeg(75).expect("jpeg"));
                    n += 1;
                }
            }
            rates.push(f64::from(n) / s.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        (rates[rates.len() / 2], ranges)
    });
    let r = serde_json::to_string(&ranges).expect("json");
    let base = Command::new(&py)
        .args([
            "-c",
            BASELINE,
            &path,
            &(z - 1).to_string(),
            &(t - 1).to_string(),
            &rounds.to_string(),
            &r,
        ])
        .output()
        .expect("python");
    let v: serde_json::Value = serde_json::from_slice(&base.stdout)
        .unwrap_or_else(|_| panic!("baseline: {}", String::from_utf8_lossy(&base.stderr)));
    let theirs = v["tiles_per_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "16-bit 3-channel plane z={z} frame={t} of {path}: 12 tiles of 128 px, composited + JPEG q75"
    );
    println!("  tifffile + numpy + Pillow (baseline): {theirs:>9.1} tiles/s (median of {rounds})");
    println!("  exact-tiles (in-process, no cache):   {ours:>9.1} tiles/s (median of {rounds})");
    println!("  ratio: {:.2}x", ours / theirs);
}
