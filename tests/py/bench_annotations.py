"""By hand: reading 1,000,000 annotations of one image from Python.

    .venv-py/bin/python tests/py/bench_annotations.py [N] [DATA_DIR]

Adds N (default 1,000,000) boxes to one image of a sled store (bulk, 100,000 per call), then
reads them all back as numpy columns (our figure, target <= 1 s) beside the list-of-dicts path
(the baseline: what a client of EXACT's REST API gets), and a viewport of the slide. Medians of
REPEATS reads."""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import exact_wsi

REPEATS = 5


def timed(f, repeats=REPEATS):
    """The result, and the median wall and process CPU times (the CPU time shows what a busy
    machine's wall time hides)."""
    out, times, cpu = None, [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return out, statistics.median(times), statistics.median(cpu)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp()) / "data"
    store = exact_wsi.Store.open(data)
    team = store.create_team("bench")
    iset = store.create_image_set("bench", team)
    product = store.create_product("bench", team=team, imagesets=[iset])
    box = store.create_annotation_type("cell", product)
    image = store.add_image(iset, "slide.svs", 200_000, 100_000)
    rng = np.random.default_rng(7)
    t = time.perf_counter()
    for start in range(0, n, 100_000):
        k = min(100_000, n - start)
        xy = rng.uniform(0, 199_000, (k, 2)) * [1, 0.5]
        store.add_boxes(image, box, np.hstack([xy, xy + rng.uniform(5, 60, (k, 2))]))
    add = time.perf_counter() - t
    cols, t_cols, c_cols = timed(lambda: store.annotations(image, as_columns=True))
    assert len(cols["id"]) == n
    rows, t_rows, c_rows = timed(lambda: store.annotations(image), repeats=1 if n > 200_000 else REPEATS)
    assert len(rows) == n
    del rows
    v = (100_000, 50_000, 102_000, 51_000)
    vis, t_view, _ = timed(lambda: store.annotations(image, viewport=v, as_columns=True))
    print(f"{n:,} annotations on one image ({data})")
    print(f"bulk add (100,000 per call):   {add:7.2f} s  ({n / add:,.0f}/s)")
    print(f"read all as numpy columns:     {t_cols:7.3f} s (cpu {c_cols:.3f} s)   "
          f"list of dicts (baseline): {t_rows:7.3f} s (cpu {c_rows:.3f} s)  x{t_rows / t_cols:.1f}")
    print(f"viewport 2000x1000 columns:    {t_view * 1000:7.2f} ms ({len(vis['id'])} annotations)")


if __name__ == "__main__":
    main()
