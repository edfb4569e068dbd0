"""Writes the benchmark slide: a SIZE x SIZE tiled JPEG pyramid (256 px tiles, BigTIFF) made
lazily by libvips (pyvips), a light checkerboard so panning is visible. Usage:
python make_slide.py OUT.tif SIZE. Idempotent: writes to a temporary name, then renames."""
import os
import sys

import pyvips

out, size = sys.argv[1], int(sys.argv[2])
if not os.path.exists(out):
    xyz = pyvips.Image.xyz(size, size)
    cells = ((xyz[0] / 4096).floor() + (xyz[1] / 4096).floor()) % 2
    grey = (cells * 24 + 212).cast("uchar")
    im = grey.bandjoin([grey - 8, grey + 6]).cast("uchar")
    tmp = out + f".tmp{os.getpid()}"
    im.tiffsave(tmp, tile=True, pyramid=True, tile_width=256, tile_height=256,
                compression="jpeg", Q=80, bigtiff=True)
    os.rename(tmp, out)
print(out)
