"""Writes the files the management journey uploads (numpy and the standard library):
a big PNG (slow enough to convert that the page shows it converting), a zip holding two small
PNGs, a file over the upload limit and an unreadable "slide" (random bytes named .svs) the server must refuse.
Usage: python make_uploads.py OUT_DIR"""

import os
import random
import struct
import sys
import zipfile
import zlib

import numpy as np


def png(width, height, seed):
    """A smooth RGB picture (compresses well, converts slowly at this size)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 255 // max(width - 1, 1) + seed) % 256, y * 255 // max(height - 1, 1), (x // 64 + y // 64) % 2 * 200], axis=-1)
    rows = np.zeros((height, width * 3 + 1), np.uint8)
    rows[:, 1:] = rgb.astype(np.uint8).reshape(height, width * 3)
    raw = rows.tobytes()

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "big-picture.png"), "wb") as f:
        f.write(png(4000, 3000, 0))
    with zipfile.ZipFile(os.path.join(out, "batch.zip"), "w") as z:
        z.writestr("zipped-a.png", png(300, 200, 40))
        z.writestr("zipped-b.png", png(200, 300, 90))
    # Over the limit the journey's server runs with (EXACT_MAX_UPLOAD=4000000).
    with open(os.path.join(out, "huge.tif"), "wb") as f:
        f.write(bytes(5_000_000))
    rnd = random.Random(7)
    with open(os.path.join(out, "broken.svs"), "wb") as f:
        f.write(bytes(rnd.getrandbits(8) for _ in range(4096)))


if __name__ == "__main__":
    main()
