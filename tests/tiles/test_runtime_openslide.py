"""OpenSlide loaded at run time by the default `exact` binary (no `openslide` cargo feature):
the openslide-bin wheel's library, found through EXACT_OPENSLIDE_LIB or the Python
environment, reads the formats only OpenSlide reads; without it they are refused with a
message saying how to enable them. A Hamamatsu NDPI and a MIRAX slide are generated
(fixtures.ndpi_slide, fixtures.mrxs_slide; OpenSlide's own hamamatsu and mirax backends read
them), and an SVS under an OpenSlide-only extension drives the same path (OpenSlide detects formats by
content): levels, properties and pixels must equal openslide-python's, which uses the same
library."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openslide
import openslide_bin
import pytest

from conftest import exact_bin, exact_json, fixtures, load

LIB = str(Path(openslide_bin.__file__).parent / "libopenslide.so.1")


def run(args, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX")}
    env.update(env_extra)
    return subprocess.run([exact_bin(), *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_openslide_only_formats_open_through_the_runtime_library(tmp_path):
    ndpi = tmp_path / "case.ndpi"
    shutil.copy(fixtures.DATA / "CMU-1-Small-Region.svs", ndpi)
    p = run(["slide", "info", "--json", ndpi], {"EXACT_OPENSLIDE_LIB": LIB})
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    osr = openslide.OpenSlide(str(ndpi))
    assert info["reader"] == "openslide-runtime"
    assert info["vendor"] == osr.properties["openslide.vendor"]
    assert [tuple(d) for d in info["level_dimensions"]] == list(osr.level_dimensions)
    assert {k: v for k, v in info["properties"].items()} == dict(osr.properties)
    out = tmp_path / "r.png"
    p = run(["slide", "region", ndpi, -20, 100, 0, 300, 200, "-o", out], {"EXACT_OPENSLIDE_LIB": LIB})
    assert p.returncode == 0, p.stderr
    ours = np.asarray(load(out).convert("RGBA")).astype(int)
    theirs = np.asarray(osr.read_region((-20, 100), 0, (300, 200))).astype(int)
    assert np.abs(ours - theirs).mean() <= 0.5
    out = tmp_path / "label.png"
    p = run(["slide", "associated", ndpi, "label", "-o", out], {"EXACT_OPENSLIDE_LIB": LIB})
    assert p.returncode == 0, p.stderr
    assert load(out).size == osr.associated_images["label"].size


def test_without_the_library_they_are_refused_saying_how_to_enable(tmp_path):
    mrxs = tmp_path / "case.mrxs"
    mrxs.write_bytes(b"[GENERAL]\n")
    p = run(["slide", "info", mrxs], {"EXACT_OPENSLIDE_LIB": str(tmp_path / "missing.so")})
    assert p.returncode != 0 and "panicked" not in p.stderr
    assert "case.mrxs" in p.stderr and "pip install openslide-bin" in p.stderr, p.stderr
    assert "EXACT_OPENSLIDE_LIB" in p.stderr


def test_pure_readers_stay_first():
    info = exact_json("slide", "info", "--json", fixtures.DATA / "CMU-1-Small-Region.svs")
    assert info["reader"] == "exact-tiles"


def test_a_file_openslide_does_not_recognise_is_an_error_not_a_crash(tmp_path):
    junk = tmp_path / "junk.ndpi"
    junk.write_bytes(b"not a slide at all" * 100)
    p = run(["slide", "info", junk], {"EXACT_OPENSLIDE_LIB": LIB})
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "junk.ndpi" in p.stderr and "not a format OpenSlide reads" in p.stderr, p.stderr


@pytest.mark.parametrize("fmt", ["ndpi", "mrxs"])
def test_ndpi_and_mrxs_read_equal_to_openslide_python(fmt, tmp_path):
    """Generated slides OpenSlide's own backends read (fixtures.ndpi_slide: Hamamatsu NDPI, 3
    JPEG levels + a macro image; fixtures.mrxs_slide: MIRAX, a 4 x 3 grid of camera images in
    3 zoom levels) through the runtime library: the vendor, every level's geometry and every
    property as openslide-python reports them, regions at every level and the associated
    images pixel-equal (MAE <= 0.5)."""
    path = fixtures.ndpi_slide("tiny.ndpi") if fmt == "ndpi" else fixtures.mrxs_slide("tiny.mrxs")
    env = {"EXACT_OPENSLIDE_LIB": LIB}
    osr = openslide.OpenSlide(str(path))
    assert osr.properties["openslide.vendor"] == {"ndpi": "hamamatsu", "mrxs": "mirax"}[fmt]
    p = run(["slide", "info", "--json", path], env)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["reader"] == "openslide-runtime"
    assert info["vendor"] == osr.properties["openslide.vendor"]
    assert [tuple(d) for d in info["level_dimensions"]] == list(osr.level_dimensions)
    assert len(osr.level_dimensions) >= 3
    assert info["properties"] == dict(osr.properties)
    assert sorted(info["associated_images"]) == sorted(osr.associated_images)
    for level, (w, h) in enumerate(osr.level_dimensions):
        ds = osr.level_downsamples[level]
        lx, ly = w // 9, h // 7
        x, y = int(lx * ds), int(ly * ds)
        rw, rh = min(300, w - lx), min(200, h - ly)
        out = tmp_path / f"r{level}.png"
        p = run(["slide", "region", path, x, y, level, rw, rh, "-o", out], env)
        assert p.returncode == 0, p.stderr
        ours = np.asarray(load(out).convert("RGBA")).astype(int)
        theirs = np.asarray(osr.read_region((x, y), level, (rw, rh))).astype(int)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).mean() <= 0.5, level
    for name, img in osr.associated_images.items():
        out = tmp_path / f"{name}.png"
        p = run(["slide", "associated", path, name, "-o", out], env)
        assert p.returncode == 0, p.stderr
        ours = np.asarray(load(out).convert("RGB")).astype(int)
        theirs = np.asarray(img.convert("RGB")).astype(int)
        assert np.abs(ours - theirs).mean() <= 0.5
