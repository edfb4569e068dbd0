"""Baselines for benches/benches/tiles.rs, measured with the real OpenSlide in the same run.
Prints one JSON object. Usage: bench_openslide.py SLIDE RENDER_SLIDE RENDER_LEVEL POSITIONS_JSON"""

import io
import json
import sys
import time

import openslide
from openslide.deepzoom import DeepZoomGenerator


def main():
    slide, render_slide, render_level, positions = sys.argv[1:5]
    render_level = int(render_level)
    positions = json.loads(positions)
    out = {}

    n = 50
    t = time.perf_counter()
    for _ in range(n):
        openslide.OpenSlide(slide).close()
    out["open_ms"] = (time.perf_counter() - t) * 1000 / n

    osr = openslide.OpenSlide(render_slide)
    dz = DeepZoomGenerator(osr, 254, 1, False)
    cols, rows = dz.level_tiles[render_level]
    tiles = [(c, r) for r in range(rows) for c in range(cols)]
    t = time.perf_counter()
    for c, r in tiles:
        buf = io.BytesIO()
        dz.get_tile(render_level, (c, r)).save(buf, "JPEG", quality=75)
    out["render_tiles_per_s"] = len(tiles) / (time.perf_counter() - t)
    out["render_tiles"] = len(tiles)

    osr = openslide.OpenSlide(slide)
    t = time.perf_counter()
    for x, y in positions:
        osr.read_region((x, y), 0, (1024, 1024))
    out["region_ms"] = (time.perf_counter() - t) * 1000 / len(positions)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
