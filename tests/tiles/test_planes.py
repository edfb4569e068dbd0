"""Planes (issue 17): OME-TIFF Z × T × C stacks, multi-page and ImageJ stacks written by
tifffile read plane by plane through `exact slide`, equal to tifffile's own arrays; the
16-bit channels composited to RGB as documented; planes beyond the image refused."""

import numpy as np
import pytest
import tifffile

import fixtures
from conftest import exact_json, load, run_exact


def channel(path, tmp, z, frame, c, level, w, h):
    out = tmp / f"c{z}-{frame}-{c}-{level}.png"
    run_exact("slide", "region", path, 0, 0, level, w, h, "--z", z, "--frame", frame,
              "--channel", c, "-o", out)
    return np.asarray(load(out)).astype(np.uint16)


def test_ome_planes_equal_tifffile(tmp_out):
    path = fixtures.ome_planes("planes-ome.ome.tif")
    info = exact_json("slide", "info", path, "--json")
    assert (info["vendor"], info["depth"], info["frames"]) == ("ome-tiff", 5, 3)
    assert [c["name"] for c in info["channels"]] == ["DAPI", "GFP", "RFP"]
    assert {c["bits"] for c in info["channels"]} == {16}
    assert info["level_dimensions"] == [[512, 384], [256, 192]]
    with tifffile.TiffFile(path) as tf:
        full = tf.series[0].levels[0].asarray()   # T Z C Y X
        half = tf.series[0].levels[1].asarray()
    assert full.shape == (3, 5, 3, 384, 512)
    for t in range(3):
        for z in range(5):
            for c in range(3):
                got = channel(path, tmp_out, z + 1, t + 1, c, 0, 512, 384)
                assert np.array_equal(got, full[t, z, c]), (t, z, c)
    # The reduced level of a few planes (the SubIFD pyramid per plane).
    for t, z, c in [(0, 0, 0), (2, 4, 2), (1, 3, 1)]:
        got = channel(path, tmp_out, z + 1, t + 1, c, 1, 256, 192)
        assert np.array_equal(got, half[t, z, c]), (t, z, c)

    # The composite: each channel through its range (percentiles 0.1/99.9 of the default
    # plane's lowest level), tinted red/green/blue, added.
    ranges = []
    for c in range(3):
        v = np.sort(half[0, 0, c].ravel())
        n = v.size - 1
        lo, hi = int(v[int(np.floor(n * 0.001))]), int(v[int(np.ceil(n * 0.999))])
        ranges.append((lo, max(hi, lo + 1)))
    assert [tuple(c["display_range"]) for c in info["channels"]] == ranges
    t, z = 2, 3
    out = tmp_out / "composite.png"
    run_exact("slide", "region", path, 0, 0, 0, 512, 384, "--z", z + 1, "--frame", t + 1,
              "-o", out)
    got = np.asarray(load(out))[..., :3].astype(np.int16)
    want = np.zeros((384, 512, 3))
    for c, (lo, hi) in enumerate(ranges):
        want[..., c] += 255 * np.clip((full[t, z, c].astype(np.float64) - lo) / (hi - lo), 0, 1)
    want = np.clip(np.round(want), 0, 255).astype(np.int16)
    assert np.abs(got - want).max() <= 1

    # Planes beyond the image: a clear error, non-zero exit.
    for args in (["--z", 6], ["--frame", 4], ["--z", 0]):
        p = run_exact("slide", "thumbnail", path, *args, "-o", tmp_out / "x.png", check=False)
        assert p.returncode != 0 and "plane" in p.stderr and "depth 5, frames 3" in p.stderr


@pytest.mark.parametrize("kind", ["pages", "rgb", "imagej"])
def test_stacks(kind, tmp_out):
    path = fixtures.tiff_stack(f"planes-{kind}.tif", kind)
    info = exact_json("slide", "info", path, "--json")
    arr = tifffile.imread(path)
    if kind == "pages":
        assert (info["depth"], info["frames"], info["channel_count"]) == (1, 3, 1)
        for t in range(3):
            got = channel(path, tmp_out, 1, t + 1, 0, 0, 512, 384)
            assert np.array_equal(got, arr[t])
    elif kind == "rgb":
        assert (info["depth"], info["frames"], info["channel_count"]) == (1, 4, 3)
        for t in range(4):
            out = tmp_out / f"rgb{t}.png"
            run_exact("slide", "region", path, 0, 0, 0, 256, 192, "--frame", t + 1, "-o", out)
            assert np.array_equal(np.asarray(load(out))[..., :3], arr[t])
    else:
        assert (info["depth"], info["frames"], info["channel_count"]) == (5, 3, 3)
        for t, z, c in [(0, 0, 0), (2, 4, 2), (1, 2, 1)]:
            got = channel(path, tmp_out, z + 1, t + 1, c, 0, 512, 384)
            assert np.array_equal(got, arr[t, z, c]), (t, z, c)


def test_bad_ome(tmp_out):
    """OME-XML that promises more planes than the file has, or is not XML at all: an error
    naming the file and the reason."""
    data = fixtures.planes_data(t=1, z=2, c=1, h=64, w=64)[0, :, 0]
    good = tifffile.TiffFile(fixtures.ome_planes("planes-ome.ome.tif")).pages[0].description
    xml = good.replace('SizeZ="5"', 'SizeZ="7"')
    cases = {
        "sizes": (xml.replace('SizeX="512" SizeY="384"', 'SizeX="64" SizeY="64"'),
                  "IFDs"),
        "order": (good.replace("XYCZT", "XYCZQ").replace('SizeX="512" SizeY="384"',
                  'SizeX="64" SizeY="64"').replace('SizeZ="5"', 'SizeZ="1"').replace(
                  'SizeC="3"', 'SizeC="1"').replace('SizeT="3"', 'SizeT="2"'),
                  "DimensionOrder"),
        "number": (good.replace('SizeZ="5"', 'SizeZ="lots"'), "not a number"),
    }
    for name, (desc, reason) in cases.items():
        path = tmp_out / f"bad-{name}.ome.tif"
        tifffile.imwrite(path, data, photometric="minisblack", description=desc, metadata=None)
        p = run_exact("slide", "info", path, check=False)
        assert p.returncode != 0, name
        assert str(path) in p.stderr and reason in p.stderr, (name, p.stderr)


def test_ome_series_equal_tifffile(tmp_out):
    """Every series of a several-series OME-TIFF opens with `--series N` (from 0, tifffile's
    numbering), plane by plane and level by level equal to tifffile's arrays; the single-plane
    series stay associated images of series 0 too."""
    path = fixtures.ome_series("planes-series.ome.tif")
    with tifffile.TiffFile(path) as tf:
        series = [[lvl.asarray() for lvl in s.levels] for s in tf.series]
    info = exact_json("slide", "info", path, "--json")
    assert info["series_count"] == 4
    assert info["series_names"] == ["cells", "overview", "macro", "label"]
    assert (info["series"], info["depth"], info["frames"]) == (0, 2, 2)
    assert sorted(info["associated_images"]) == ["label", "macro"]

    # Series 0: every channel plane at both levels.
    for level, (w, h) in enumerate([(256, 192), (128, 96)]):
        for t in range(2):
            for z in range(2):
                for c in range(2):
                    got = channel(path, tmp_out, z + 1, t + 1, c, level, w, h)
                    assert np.array_equal(got, series[0][level][t, z, c]), (level, t, z, c)

    # Series 1..3: RGB pyramid, RGB macro, grey label, each a slide of its own.
    for n, dims in [(1, [[320, 224], [160, 112]]), (2, [[120, 80]]), (3, [[60, 40]])]:
        i = exact_json("slide", "info", path, "--json", "--series", n)
        assert (i["series"], i["depth"], i["frames"]) == (n, 1, 1)
        assert i["level_dimensions"] == dims, n
        for level, (w, h) in enumerate(dims):
            out = tmp_out / f"s{n}-{level}.png"
            run_exact("slide", "region", path, 0, 0, level, w, h, "--series", n, "-o", out)
            got = np.asarray(load(out))
            want = series[n][level]
            if want.ndim == 2:
                got = got[..., 0] if got.ndim == 3 else got
            else:
                got = got[..., :3]
            assert np.array_equal(got, want), (n, level)

    p = run_exact("slide", "info", path, "--series", 4, check=False)
    assert p.returncode != 0 and "series 4" in p.stderr and "it has 4" in p.stderr
