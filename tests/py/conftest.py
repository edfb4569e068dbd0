"""Shared helpers of the exact_wsi wheel tests: the slides of tests/tiles (real and generated
by libvips / tifffile, cached in tests/fixtures/cache) and image maths."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tiles"))
import fixtures  # noqa: E402,F401  (re-exported for the test modules)


def mae(a, b):
    """Mean absolute error per channel of two same-sized images (PIL or arrays)."""
    a = np.asarray(a, dtype=np.int16)
    b = np.asarray(b, dtype=np.int16)
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    return np.abs(a - b).reshape(-1, a.shape[-1]).mean(axis=0)


def slides():
    """The comparison slides: the shared real ones and a few generated pyramids."""
    s = fixtures.all_slides(dicom=False)
    keep = ["CMU-1-Small-Region.svs", "openslide-python-boxes.tiff", "openslide-python-small.svs",
            "vips-jpeg-odd.tif", "vips-bigtiff.tif", "vips-deflate.tif", "tifffile-aperio.svs"]
    return {k: s[k] for k in keep}
