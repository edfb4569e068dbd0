"""Deep Zoom geometry and tiles against openslide-python's DeepZoomGenerator, and
passthrough tiles against OpenSlide's pixels."""

import io

import numpy as np
import openslide
import pytest
from openslide.deepzoom import DeepZoomGenerator

from conftest import exact_json, fixtures, load, mae, run_exact

SLIDES = fixtures.all_slides()


@pytest.mark.parametrize("limit_bounds", [False, True])
@pytest.mark.parametrize("name", sorted(SLIDES))
def test_geometry_matches(name, limit_bounds):
    path = SLIDES[name]
    args = ["slide", "dzi", "--json", path] + (["--limit-bounds"] if limit_bounds else [])
    ours = exact_json(*args)
    dz = DeepZoomGenerator(openslide.OpenSlide(str(path)), 254, 1, limit_bounds)
    assert ours["level_count"] == dz.level_count
    assert [tuple(d) for d in ours["level_dimensions"]] == list(dz.level_dimensions)
    assert [tuple(t) for t in ours["level_tiles"]] == list(dz.level_tiles)
    assert ours["tile_count"] == dz.tile_count


def sample_tiles(dz):
    for level in range(dz.level_count):
        cols, rows = dz.level_tiles[level]
        picks = {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2), (cols - 1, 0), (0, rows - 1)}
        for c, r in sorted(picks):
            yield level, c, r


@pytest.mark.parametrize("limit_bounds", [False, True])
# DICOM levels are TIFF-like directories to the Deep Zoom code: one series is enough here.
@pytest.mark.parametrize("name", [n for n in sorted(SLIDES)
                                  if not n.startswith("dicom-") or n == "dicom-aperio-eot"])
def test_tiles_match(name, limit_bounds, tmp_path):
    path = SLIDES[name]
    dz = DeepZoomGenerator(openslide.OpenSlide(str(path)), 254, 1, limit_bounds)
    lb = ["--limit-bounds"] if limit_bounds else []
    for level, c, r in sample_tiles(dz):
        theirs = dz.get_tile(level, (c, r)).convert("RGB")
        # the rendered pixels, before encoding
        png = tmp_path / f"{level}_{c}_{r}.png"
        run_exact("slide", "tile", path, level, c, r, "-o", png, *lb)
        ours = load(png).convert("RGB")
        assert ours.size == theirs.size, f"{name} {level}/{c}_{r}"
        err = mae(ours, theirs)
        assert (err <= 2).all(), f"{name} {level}/{c}_{r}: MAE {err}"
        # the served JPEG (q75) is no further from OpenSlide's pixels than OpenSlide's own tile
        # served as JPEG q75 (openslide-python's deepzoom_server)
        jpg = tmp_path / f"{level}_{c}_{r}.jpeg"
        run_exact("slide", "tile", path, level, c, r, "-o", jpg, *lb)
        buf = io.BytesIO()
        theirs.save(buf, "JPEG", quality=75)
        ours_err = mae(load(jpg).convert("RGB"), theirs).mean()
        their_err = mae(load(buf.getvalue()).convert("RGB"), theirs).mean()
        assert ours_err <= their_err + 1, f"{name} {level}/{c}_{r}: JPEG {ours_err} vs {their_err}"


def jpeg_slides():
    for name, path in sorted(SLIDES.items()):
        info = exact_json("slide", "info", "--json", path)
        if info["levels"][0]["passthrough"] and info["levels"][0]["tile_width"] == info["levels"][0]["tile_height"]:
            yield name


@pytest.mark.parametrize("name", list(jpeg_slides()))
def test_native_tiles_pass_through_with_openslide_pixels(name, tmp_path):
    path = SLIDES[name]
    osr = openslide.OpenSlide(str(path))
    info = exact_json("slide", "info", "--json", path)
    l0 = info["levels"][0]
    tw, th = l0["tile_width"], l0["tile_height"]
    geo = exact_json("slide", "dzi", "--json", "--native", path)
    top = geo["level_count"] - 1
    raw = path.read_bytes()
    for c, r in {(0, 0), (l0["tiles_across"] // 2, l0["tiles_down"] // 2)}:
        if (c + 1) * tw > l0["width"] or (r + 1) * th > l0["height"]:
            continue
        out = tmp_path / f"{c}_{r}.jpeg"
        p = run_exact("slide", "tile", "--native", "--stats", path, top, c, r, "-o", out)
        assert '"passthrough":true' in p.stderr.replace(" ", "")
        data = out.read_bytes()
        # untouched: the stored entropy-coded data is in the file verbatim
        assert data[-2000:] in raw
        ours = np.asarray(load(data).convert("RGB"))
        theirs = np.asarray(osr.read_region((c * tw, r * th), 0, (tw, th)).convert("RGB"))
        err = mae(ours, theirs)
        assert (err <= 1).all(), f"{name} tile {c},{r}: MAE {err}"


def test_app14_makes_aperio_rgb_tiles_decode_right(tmp_path):
    path = SLIDES["CMU-1-Small-Region.svs"]
    out = tmp_path / "t.jpeg"
    run_exact("slide", "tile", "--native", path, 12, 3, 4, "-o", out)
    data = out.read_bytes()
    assert data[2:4] == b"\xff\xee" and data[6:11] == b"Adobe"
    theirs = np.asarray(openslide.OpenSlide(str(path)).read_region((720, 960), 0, (240, 240)).convert("RGB"))
    assert (mae(load(data).convert("RGB"), theirs) <= 1).all()
    stripped = data[:2] + data[18:]  # the same stream without APP14 decodes with wrong colours
    assert (mae(load(stripped).convert("RGB"), theirs) > 10).any()


@pytest.mark.parametrize("name", ["vips-jpeg-odd.tif", "vips-bigtiff.tif", "tifffile-aperio.svs"])
def test_native_grid_passes_every_whole_tile_of_every_native_level(name, tmp_path):
    path = SLIDES[name]
    info = exact_json("slide", "info", "--json", path)
    geo = exact_json("slide", "dzi", "--json", "--native", path)
    osr = openslide.OpenSlide(str(path))
    ts = info["levels"][0]["tile_width"]
    passed = 0
    for dz_level, (zw, zh) in enumerate(geo["level_dimensions"]):
        native = [i for i, (lw, lh) in enumerate(info["level_dimensions"])
                  if abs(zw - lw) <= 1 and abs(zh - lh) <= 1]
        if not native:
            continue  # not a native level: rendered
        sl = native[0]
        lw, lh = info["level_dimensions"][sl]
        c, r = (min(zw, lw) // ts) - 1, (min(zh, lh) // ts) - 1
        if c < 0 or r < 0:
            continue
        out = tmp_path / f"{dz_level}.jpeg"
        p = run_exact("slide", "tile", "--native", "--stats", path, dz_level, c, r, "-o", out)
        assert '"passthrough":true' in p.stderr.replace(" ", ""), (dz_level, c, r)
        ds = osr.level_downsamples[sl]
        theirs = np.asarray(osr.read_region((int(round(c * ts * ds)), int(round(r * ts * ds))), sl, (ts, ts)).convert("RGB"))
        # level > 0: OpenSlide addresses in level-0 pixels, so its read may sit a fraction of a
        # pixel off the tile grid (bilinear shift); the bytes themselves are the stored tile
        assert (mae(load(out).convert("RGB"), theirs) <= (1 if sl == 0 else 3)).all()
        passed += 1
    # every native level with at least one whole tile
    whole = sum(1 for lw, lh in info["level_dimensions"] if lw >= ts and lh >= ts)
    assert passed == whole
