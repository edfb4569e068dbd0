"""By hand: exact_wsi.connect's bulk writes and pixels against an in-process server.

    .venv-py/bin/python tests/py/bench_connect.py [N]

Bulk update of N (default 1,000) annotations through the connected store — one atomic
``multiple_update/`` request (our figure) beside one PATCH per row (the baseline: what
``RemoteStore.update_annotations`` did before, and what a client of EXACT's API does) — and a
512 × 512 region of a real slide read over HTTP beside the same read in-process (the
embedded store's slide, the floor). Medians of REPEATS runs, printed side by side."""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import exact_wsi

REPEATS = 5
SVS = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "CMU-1-Small-Region.svs"


def median_time(f, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
    local = exact_wsi.Store.open(Path(tempfile.mkdtemp()) / "data")
    team = local.create_team("bench")
    iset = local.create_image_set("bench", team)
    product = local.create_product("p", team=team, imagesets=[iset])
    box = local.create_annotation_type("box", product, vector_type="bbox")
    image = local.upload(iset, SVS)
    xy = np.random.default_rng(1).uniform(0, 2000, size=(n, 2))
    ids = [int(i) for i in local.add_boxes(image, box, np.hstack([xy, xy + 20]))]
    with exact_wsi.serve(local) as srv:
        remote = exact_wsi.connect(srv.url, token=local.create_token("bench"))
        k = [0]

        def bulk():
            k[0] += 1
            remote.update_annotations([{"id": i, "description": f"bulk {k[0]}"} for i in ids])

        def per_row():
            k[0] += 1
            for i in ids:
                remote._request("PATCH", f"api/v1/annotations/annotations/{i}/",
                                body={"description": f"row {k[0]}"})

        ours, base = median_time(bulk), median_time(per_row, repeats=3)
        print(f"update {n} annotations over HTTP: one atomic request {ours * 1e3:.0f} ms, "
              f"one PATCH per row (baseline) {base * 1e3:.0f} ms, x{base / ours:.1f}")

        a, b = local.slide(image), remote.slide(image)
        floor = median_time(lambda: a.read_region((100, 100), 0, (512, 512), as_array=True))
        over = median_time(lambda: b.read_region((100, 100), 0, (512, 512), as_array=True))
        print(f"read_region 512x512: over HTTP {over * 1e3:.1f} ms, in-process (floor) "
              f"{floor * 1e3:.1f} ms, x{over / floor:.1f}")


if __name__ == "__main__":
    main()
