"""Writes the registration benchmark pair: OUT/a.tif, a SIZE_X x SIZE_Y tiled JPEG pyramid of
real tissue (CMU-1-Small-Region, read by OpenSlide, enlarged onto white glass), and OUT/b.tif,
the same mirrored, rotated 30 degrees, scaled 0.85 and shifted (the transform is printed as a
JSON 3x3 matrix). Usage: python make_registration_pair.py OUT [SIZE_X SIZE_Y]. Idempotent."""
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import openslide
import pyvips

REPO = Path(__file__).resolve().parents[2]
CMU = REPO / "tests" / "fixtures" / "data" / "CMU-1-Small-Region.svs"
out = Path(sys.argv[1])
w, h = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (40000, 30000)
k = w / 4000
c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
m = np.array([[-0.85 * c, -0.85 * s, 3850 * k], [-0.85 * s, 0.85 * c, 980 * k], [0, 0, 1]])
out.mkdir(parents=True, exist_ok=True)


def save(im, path):
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        im.tiffsave(str(tmp), tile=True, tile_width=256, tile_height=256, pyramid=True,
                    compression="jpeg", Q=85, bigtiff=True)
        os.rename(tmp, path)


osr = openslide.OpenSlide(str(CMU))
rgb = np.asarray(osr.read_region((0, 0), 0, osr.dimensions).convert("RGB"))
tissue = pyvips.Image.new_from_array(rgb, interpretation="srgb").resize(0.75 * k)
glass = (pyvips.Image.black(w, h, bands=3) + 255).cast("uchar").copy(interpretation="srgb")
a = glass.insert(tissue, int(1000 * k), int(300 * k))
save(a, out / "a.tif")
b = pyvips.Image.new_from_file(str(out / "a.tif")).affine(
    [m[0, 0], m[0, 1], m[1, 0], m[1, 1]], odx=m[0, 2], ody=m[1, 2], oarea=[0, 0, w, h],
    background=[255, 255, 255], interpolate=pyvips.Interpolate.new("bilinear"))
save(b, out / "b.tif")
print(json.dumps(m.tolist()))
