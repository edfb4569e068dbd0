//! Native DICOM tiles in-process beside OpenSlide 4 on the same file, in the same run: every
//! level-0 tile of the wsidicomizer series `dicom-aperio-eot` (made by tests/tiles/fixtures.py
//! in `.venv-tiles`) read with `Slide::native_tile` (one ranged read, no decoding), against
//! openslide-python (openslide-bin 4) reading the same tile areas with `read_region`, and with
//! `read_region` + JPEG encoding (what an openslide-python tile server does per tile).
//! Run: `cargo bench -p exact-benches --bench dicom`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use exact_tiles::Slide;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BASELINE: &str = r#"
import io, json, sys, time
import openslide
path, tw, th, across, down, rounds = sys.argv[1], *map(int, sys.argv[2:7])
osr = openslide.OpenSlide(path)
tiles = [(c, r) for r in range(down) for c in range(across)]
def run(encode):
    best = []
    for _ in range(rounds):
        t = time.perf_counter()
        for c, r in tiles:
            im = osr.read_region((c * tw, r * th), 0, (tw, th))
            if encode:
                im.convert("RGB").save(io.BytesIO(), "JPEG", quality=75)
        best.append(len(tiles) / (time.perf_counter() - t))
    best.sort()
    return best[len(best) // 2]
print(json.dumps({"read_region": run(False), "read_region_jpeg": run(True),
                  "version": openslide.__library_version__}))
"#;

fn main() {
    let py = repo().join(".venv-tiles/bin/python");
    let series = Command::new(&py)
        .current_dir(repo().join("tests/tiles"))
        .args([
            "-c",
            "import fixtures; print(fixtures.dicom_slides()['dicom-aperio-eot'])",
        ])
        .output();
    let Some(path) = series
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        println!("dicom bench: needs .venv-tiles with wsidicomizer (run scripts/test-tiles once)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let slide = rt
        .block_on(Slide::open(&path))
        .expect("open the DICOM series");
    let l0 = slide.levels()[0].clone();
    let tiles: Vec<(u32, u32)> = (0..l0.tiles_down)
        .flat_map(|r| (0..l0.tiles_across).map(move |c| (c, r)))
        .collect();
    let rounds = 9;
    let mut rates = Vec::new();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        for &(c, r) in &tiles {
            bytes += rt.block_on(slide.native_tile(0, c, r)).expect("tile").len();
        }
        rates.push(tiles.len() as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let ours = rates[rates.len() / 2];
    let base = Command::new(&py)
        .args(["-c", BASELINE, &path])
        .args(
            [
                l0.tile_width,
                l0.tile_height,
                l0.tiles_across,
                l0.tiles_down,
                rounds,
            ]
            .map(|v| v.to_string()),
        )
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    println!(
        "DICOM native tiles ({} tiles of {}x{}, {} bytes/round, medians of {rounds} rounds)",
        tiles.len(),
        l0.tile_width,
        l0.tile_height,
        bytes / rounds as usize
    );
    println!("  exact-tiles native_tile (passthrough): {ours:.0} tiles/s");
    match base {
        Some(json) => {
            let field = |k: &str| {
                json.split(&format!("\"{k}\": "))
                    .nth(1)
                    .and_then(|s| s.split([',', '}']).next())
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            let (rr, rj) = (field("read_region"), field("read_region_jpeg"));
            println!(
                "  OpenSlide read_region:                 {rr:.0} tiles/s  (ours {:.1}x)",
                ours / rr
            );
            println!(
                "  OpenSlide read_region + JPEG encode:   {rj:.0} tiles/s  (ours {:.1}x)",
                ours / rj
            );
            println!("  baseline: {json}");
        }
        None => println!("  OpenSlide baseline unavailable (openslide-python in .venv-tiles)"),
    }
}
