"""Writes a small Aperio-style SVS for the UI tests with tifffile: tiled JPEG levels with an
Aperio description (AppMag 20, MPP 0.5), so the viewer has real pyramid tiles, a known
microns-per-pixel for the scale bar and ruler, and an objective power for the magnification.
Usage: python make_slide.py OUT.svs WIDTH HEIGHT SEED"""

import sys

import numpy as np
import tifffile


def synthetic_rgb(width, height, seed):
    """Smooth gradients, rings and sharp-edged blocks: something to look at when debugging."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = (x / max(width - 1, 1)) * 255
    g = (y / max(height - 1, 1)) * 255
    d = np.sqrt((x - width * 0.37) ** 2 + (y - height * 0.61) ** 2)
    b = 127 + 100 * np.sin(d / (17 + seed))
    img = np.stack([r, g, b], axis=-1)
    rng = np.random.default_rng(seed)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(20, max(21, width // 6)), rng.integers(20, max(21, height // 6))
        img[y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    out, width, height, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    tile = 240
    base = synthetic_rgb(width, height, seed)
    desc = (f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
            f"({tile}x{tile}) JPEG/RGB Q=85|AppMag = 20|MPP = 0.5000")
    with tifffile.TiffWriter(out, bigtiff=False) as tw:
        tw.write(base, tile=(tile, tile), compression="jpeg", compressionargs={"level": 85},
                 photometric="rgb", description=desc, subsampling=(1, 1), metadata=None)
        thumb = np.ascontiguousarray(base[::16, ::16])
        tw.write(thumb, compression="jpeg", photometric="rgb", subsampling=(1, 1),
                 description=f"Aperio Image Library v12.0.15 \r\n{width}x{height} -> "
                             f"{thumb.shape[1]}x{thumb.shape[0]} - |AppMag = 20|MPP = 0.5000",
                 rowsperstrip=16, metadata=None)
        img = base
        for _ in range(2):
            img = np.ascontiguousarray(img[::4, ::4])
            tw.write(img, tile=(tile, tile), compression="jpeg", compressionargs={"level": 85},
                     photometric="rgb", subsampling=(1, 1), description=desc, subfiletype=0,
                     metadata=None)


if __name__ == "__main__":
    main()
