"""read_region at every level, thumbnails and associated images against OpenSlide."""

import numpy as np
import openslide
import pytest

from conftest import fixtures, load, mae, run_exact

SLIDES = fixtures.all_slides()


def regions_for(osr, level):
    lw, lh = osr.level_dimensions[level]
    ds = osr.level_downsamples[level]
    # level-0 corner chosen on the level's grid, so both sides address whole pixels
    out = [(0, 0, min(lw, 300), min(lh, 200))]
    out.append((int(round(lw // 3 * ds)), int(round(lh // 2 * ds)), 257, 131))
    out.append((-int(round(17 * ds)), -int(round(9 * ds)), 64, 48))  # straddles the top-left
    out.append((int(round((lw - 40) * ds)), int(round((lh - 30) * ds)), 100, 80))  # bottom-right
    return out


@pytest.mark.parametrize("name", sorted(SLIDES))
def test_read_region_every_level(name, tmp_path):
    path = SLIDES[name]
    osr = openslide.OpenSlide(str(path))
    for level in range(osr.level_count):
        for i, (x, y, w, h) in enumerate(regions_for(osr, level)):
            out = tmp_path / f"r{level}-{i}.png"
            run_exact("slide", "region", path, x, y, level, w, h, "-o", out)
            ours = np.asarray(load(out).convert("RGBA"))
            theirs = np.asarray(osr.read_region((x, y), level, (w, h)))
            alpha_diff = np.abs(ours[..., 3].astype(int) - theirs[..., 3]).mean()
            assert alpha_diff < 1, f"{name} level {level} region {i}: alpha differs"
            opaque = theirs[..., 3] == 255
            if opaque.any():
                err = mae(ours[opaque][:, :3], theirs[opaque][:, :3])
                assert (err <= 2).all(), f"{name} level {level} region {i}: MAE {err}"


@pytest.mark.parametrize("name", sorted(SLIDES))
def test_thumbnail(name, tmp_path):
    path = SLIDES[name]
    osr = openslide.OpenSlide(str(path))
    out = tmp_path / "t.png"
    run_exact("slide", "thumbnail", path, "--size", 256, "-o", out)
    ours = load(out).convert("RGB")
    theirs = osr.get_thumbnail((256, 256)).convert("RGB")
    assert ours.size == theirs.size
    assert (mae(ours, theirs) <= 3).all()


@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "tifffile-aperio.svs", "dicom-cmu",
                                  "dicom-aperio-eot", "dicom-j2k-sparse", "dicom-native"])
def test_associated_images(name, tmp_path):
    path = SLIDES[name]
    osr = openslide.OpenSlide(str(path))
    for assoc, img in osr.associated_images.items():
        out = tmp_path / f"{assoc}.png"
        run_exact("slide", "associated", path, assoc, "-o", out)
        ours = load(out).convert("RGB")
        theirs = img.convert("RGB")
        assert ours.size == theirs.size, assoc
        assert (mae(ours, theirs) <= 2).all(), assoc
