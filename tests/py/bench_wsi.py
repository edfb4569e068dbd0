"""By hand: exact_wsi against openslide-python in the same run (baseline beside each figure).

    .venv-py/bin/python tests/py/bench_wsi.py [SLIDE]

read_region of 512 x 512 regions in a loop, and DeepZoomGenerator.get_tile (254/1) over a
level-0 sample; every pass starts from a freshly opened slide (cold caches). Passes alternate
between the two libraries; the figures are medians of REPEATS passes."""

import statistics
import sys
import time
from pathlib import Path

import openslide
import openslide.deepzoom

sys.path.insert(0, str(Path(__file__).parent))
import exact_wsi  # noqa: E402
from conftest import fixtures  # noqa: E402


def regions(osr, n=200):
    w, h = osr.dimensions
    step = 509  # not a multiple of tile sizes: regions straddle tiles
    out, x, y = [], 0, 0
    while len(out) < n:
        out.append((x, y))
        x += step
        if x + 512 > w:
            x, y = 0, (y + step) % max(1, h - 512)
    return out


def bench_regions(mod, path):
    s = mod.open_slide(path)
    locs = regions(s)
    t = time.perf_counter()
    for loc in locs:
        s.read_region(loc, 0, (512, 512))
    return len(locs) / (time.perf_counter() - t)


def bench_tiles(mod, dzmod, path, n=300):
    dz = dzmod.DeepZoomGenerator(mod.open_slide(path), 254, 1, False)
    level = dz.level_count - 1
    cols, rows = dz.level_tiles[level]
    addrs = [(c, r) for r in range(rows) for c in range(cols)][:n]
    t = time.perf_counter()
    for a in addrs:
        dz.get_tile(level, a)
    return len(addrs) / (time.perf_counter() - t)


REPEATS = 7


def median(f):
    return statistics.median(f() for _ in range(REPEATS))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else str(fixtures.DATA / "CMU-1-Small-Region.svs")
    # Load both libraries' machinery (exact_wsi's runtime threads) before timing anything.
    bench_tiles(exact_wsi, exact_wsi.deepzoom, path, n=1)
    bench_tiles(openslide, openslide.deepzoom, path, n=1)
    runs = {"r_os": [], "r_ex": [], "t_os": [], "t_ex": []}
    for _ in range(REPEATS):
        runs["r_os"].append(bench_regions(openslide, path))
        runs["r_ex"].append(bench_regions(exact_wsi, path))
        runs["t_os"].append(bench_tiles(openslide, openslide.deepzoom, path))
        runs["t_ex"].append(bench_tiles(exact_wsi, exact_wsi.deepzoom, path))
    r_os, r_ex, t_os, t_ex = (statistics.median(runs[k]) for k in ("r_os", "r_ex", "t_os", "t_ex"))
    print(f"{Path(path).name} (medians of {REPEATS} passes)")
    print(f"read_region 512x512: exact_wsi {r_ex:8.1f}/s  openslide-python {r_os:8.1f}/s  x{r_ex / r_os:.2f}")
    print(f"get_tile level 0:    exact_wsi {t_ex:8.1f}/s  openslide-python {t_os:8.1f}/s  x{t_ex / t_os:.2f}")


if __name__ == "__main__":
    main()
