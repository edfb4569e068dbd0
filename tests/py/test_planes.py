"""Planes from Python (issue 17): `OpenSlide.planes`, `.channels`, `.plane(z, frame)` and
`read_region(..., z=, frame=)` on the OME-TIFF fixture written by tifffile (T=3, Z=2, C=2,
16-bit); the default plane is what every openslide-python call already read."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

import exact_wsi

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "planes-t3-z2-c2.ome.tif"


def composite(planes, ranges, colors):
    out = np.zeros(planes[0].shape + (3,))
    for p, (lo, hi), col in zip(planes, ranges, colors):
        t = np.clip((p.astype(np.float64) - lo) / (hi - lo), 0, 1)
        out += t[..., None] * np.array(col, np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.int16)


def test_planes_channels_and_regions():
    arr = tifffile.imread(FIXTURE)  # T Z C Y X
    with exact_wsi.OpenSlide(FIXTURE) as s:
        assert s.planes == (2, 3)
        assert [c["name"] for c in s.channels] == ["DAPI", "GFP"]
        assert [c["bits"] for c in s.channels] == [16, 16]
        assert s.dimensions == (96, 64)
        # Ranges: 0.1/99.9 percentiles of the default plane's lowest level, per channel.
        half = tifffile.TiffFile(FIXTURE).series[0].levels[1].asarray()
        ranges = []
        for c in range(2):
            v = np.sort(half[0, 0, c].ravel())
            n = v.size - 1
            lo, hi = int(v[int(np.floor(n * 0.001))]), int(v[int(np.ceil(n * 0.999))])
            ranges.append((lo, max(hi, lo + 1)))
        colors = [(0, 255, 0), (255, 0, 255)]
        default = s.read_region((0, 0), 0, (96, 64), as_array=True)
        for t in range(3):
            for z in range(2):
                want = composite(arr[t, z], ranges, colors)
                got = s.read_region((0, 0), 0, (96, 64), as_array=True, z=z + 1, frame=t + 1)
                assert np.abs(got[..., :3].astype(np.int16) - want).max() <= 1, (t, z)
                p = s.plane(z + 1, t + 1)
                assert p.dimensions == (96, 64) and p.level_count == 2
                same = p.read_region((0, 0), 0, (96, 64), as_array=True)
                assert np.array_equal(same, got)
        assert np.array_equal(default, s.read_region((0, 0), 0, (96, 64), as_array=True,
                                                     z=1, frame=1))
        assert s.get_thumbnail((48, 32), z=2, frame=3).size == (48, 32)
        with pytest.raises(exact_wsi.NotFoundError, match="depth 2, frames 3"):
            s.plane(3, 1)
        with pytest.raises(exact_wsi.NotFoundError):
            s.read_region((0, 0), 0, (8, 8), frame=4)
        with pytest.raises(ValueError):
            s.plane(0, 1)


def test_single_plane_slides_report_one_plane():
    svs = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "CMU-1-Small-Region.svs"
    with exact_wsi.OpenSlide(svs) as s:
        assert s.planes == (1, 1) and s.channels == ()
        assert s.plane(1, 1).dimensions == s.dimensions


def test_frame_descriptions_from_python(tmp_path):
    """EXACT's FrameDescriptions of an uploaded OME-TIFF (from its Plane positions), changed
    through `Store.update_image`; a description beyond the image's depth is a ValueError."""
    positions = FIXTURE.parent / "planes-positions.ome.tif"
    store = exact_wsi.Store.open(tmp_path)
    team = store.create_team("planesteam")
    image_set = store.create_image_set("planesset", team["id"])
    image = store.upload(image_set["id"], positions)
    image = image[0] if isinstance(image, list) else image
    assert store.frame_descriptions(image["id"]) == [
        {"frame_id": 0, "frame_type": 0, "description": "z=0.0 µm"},
        {"frame_id": 1, "frame_type": 0, "description": "z=0.5 µm"},
        {"frame_id": 2, "frame_type": 0, "description": "z=1.0 µm"},
        {"frame_id": 0, "frame_type": 1, "description": "t=0.0 s"},
        {"frame_id": 1, "frame_type": 1, "description": "t=30.0 s"},
    ]
    new = [{"frame_id": 2, "frame_type": 0, "description": "top"}]
    store.update_image(image["id"], FrameDescriptions=new)
    assert store.frame_descriptions(image["id"]) == new
    with pytest.raises(ValueError, match="beyond the image's depth"):
        store.update_image(image["id"],
                           FrameDescriptions=[{"frame_id": 9, "frame_type": 0, "description": "x"}])


def test_every_ome_series_from_python(tmp_path):
    """`series_count`, `series_names` and `series(n)` on an OME-TIFF that tifffile writes with
    three series: a Z=2 16-bit stack, an RGB pyramid of another size, a grey label; each series
    reads equal to tifffile's arrays, a series beyond the file raises NotFoundError."""
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 4000, (2, 48, 64), dtype=np.uint16)
    rgb = rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
    label = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    path = tmp_path / "series.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(stack, photometric="minisblack", metadata={"axes": "ZYX", "Name": "stack"})
        tw.write(rgb, photometric="rgb", tile=(32, 32), subifds=1, metadata={"Name": "rgb"})
        tw.write(rgb[::2, ::2], photometric="rgb", tile=(32, 32), subfiletype=1)
        tw.write(label, photometric="minisblack", metadata={"Name": "label"})
    with tifffile.TiffFile(path) as tf:
        want_half = tf.series[1].levels[1].asarray()
    with exact_wsi.OpenSlide(path) as s:
        assert s.series_count == 3
        assert s.series_names == ("stack", "rgb", "label")
        assert s.planes == (2, 1)
        assert s.series(0).planes == (2, 1)
        r = s.series(1)
        assert r.dimensions == (96, 80) and r.level_count == 2 and r.planes == (1, 1)
        got = r.read_region((0, 0), 0, (96, 80), as_array=True)
        assert np.array_equal(got[..., :3], rgb)
        got = r.read_region((0, 0), 1, (48, 40), as_array=True)
        assert np.array_equal(got[..., :3], want_half)
        lab = s.series(2).read_region((0, 0), 0, (30, 20), as_array=True)
        assert np.array_equal(lab[..., 0], label)
        with pytest.raises(exact_wsi.NotFoundError):
            s.series(3)


def test_every_series_of_an_upload_is_an_image(tmp_path):
    """An OME-TIFF of four series written by tifffile (`tests/fixtures/make_series.py`) uploaded
    with `Store.upload`: three images (the label stays an associated image) sharing the one
    file, each with its `series`, and `Store.slide` of each reads that series equal to
    tifffile's arrays, plane by plane."""
    fixture = FIXTURE.parent / "series-4.ome.tif"
    store = exact_wsi.Store.open(tmp_path)
    team = store.create_team("seriesteam")
    image_set = store.create_image_set("seriesset", team["id"])
    first = store.upload(image_set["id"], fixture)
    assert first["name"] == "series-4.ome.tif" and first["series"] == 0
    images = sorted(store.images(image_set["id"]), key=lambda i: i["series"])
    assert [(i["name"], i["series"]) for i in images] == [
        ("series-4.ome.tif", 0),
        ("series-4.ome.tif - Image1", 1),
        ("series-4.ome.tif - stack", 2),
    ]
    with tifffile.TiffFile(fixture) as tf:
        want = [tf.series[n].asarray() for n in range(3)]
    for image, arr in zip(images, want):
        s = store.slide(image["id"])
        h, w = arr.shape[-3:-1] if arr.ndim == 3 and arr.shape[-1] == 3 else arr.shape[-2:]
        assert s.dimensions == (w, h)
        if image["series"] == 2:  # 8-bit grey, Z=2
            for z in range(2):
                got = s.read_region((0, 0), 0, (w, h), as_array=True, z=z + 1)
                assert np.array_equal(got[..., 0], arr[z]), z
        else:
            got = s.read_region((0, 0), 0, (w, h), as_array=True)
            assert np.array_equal(got[..., :3], arr)
