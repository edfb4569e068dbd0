"""Bad input raises the typed exceptions of exact_wsi, never crashes the interpreter."""

import pytest

import exact_wsi
from exact_wsi.deepzoom import DeepZoomGenerator
from conftest import fixtures

CMU = str(fixtures.DATA / "CMU-1-Small-Region.svs")


def test_hierarchy():
    assert issubclass(exact_wsi.NotFoundError, exact_wsi.ExactError)
    assert issubclass(exact_wsi.NotFoundError, FileNotFoundError)
    assert issubclass(exact_wsi.NotFoundError, KeyError)
    assert issubclass(exact_wsi.InvalidInputError, ValueError)
    for cls in [exact_wsi.UnsupportedError, exact_wsi.CorruptError, exact_wsi.BackendError]:
        assert issubclass(cls, exact_wsi.ExactError)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        exact_wsi.open_slide(tmp_path / "nope.svs")
    assert isinstance(e.value, exact_wsi.NotFoundError)
    assert "nope.svs" in str(e.value)


def test_not_a_slide(tmp_path):
    p = tmp_path / "x.svs"
    p.write_bytes(b"hello world, not a tiff")
    with pytest.raises(exact_wsi.ExactError) as e:
        exact_wsi.open_slide(p)
    assert not isinstance(e.value, exact_wsi.NotFoundError)


def test_truncated_file(tmp_path):
    p = tmp_path / "truncated.svs"
    p.write_bytes(open(CMU, "rb").read()[:1_300_000])
    with pytest.raises(exact_wsi.ExactError):
        s = exact_wsi.open_slide(p)
        s.read_region((0, 0), 0, (2220, 2967))


@pytest.mark.parametrize("args", [
    ((0, 0), 99, (10, 10)),
    ((0, 0), -1, (10, 10)),
    ((0, 0), 0, (-5, 10)),
    ((0, 0), 0, (100000, 100000)),
    ((0, 0), 0, (1, 2, 3)),
    (("a", 0), 0, (10, 10)),
    ((0, 0), 1.5, (10, 10)),
])
def test_bad_regions(args):
    s = exact_wsi.open_slide(CMU)
    with pytest.raises(ValueError) as e:
        s.read_region(*args)
    assert isinstance(e.value, exact_wsi.ExactError)


def test_wrong_types():
    with pytest.raises(ValueError):
        exact_wsi.open_slide(42)
    with pytest.raises(ValueError):
        DeepZoomGenerator("not a slide")
    s = exact_wsi.open_slide(CMU)
    with pytest.raises(ValueError):
        s.get_best_level_for_downsample("x")
    with pytest.raises(ValueError):
        s.get_thumbnail((0, 10))


def test_deepzoom_bad_addresses():
    dz = DeepZoomGenerator(exact_wsi.open_slide(CMU))
    for level, addr in [(dz.level_count, (0, 0)), (-1, (0, 0)), (0, (5, 0)), (dz.level_count - 1, (-1, 0))]:
        with pytest.raises(ValueError):
            dz.get_tile(level, addr)
    with pytest.raises(ValueError):
        DeepZoomGenerator(exact_wsi.open_slide(CMU), tile_size=0)
    with pytest.raises(ValueError):
        DeepZoomGenerator(exact_wsi.open_slide(CMU), overlap=-1)


def test_missing_associated_image():
    s = exact_wsi.open_slide(CMU)
    with pytest.raises(KeyError):
        s.associated_images["nope"]


def test_closed_slide():
    s = exact_wsi.open_slide(CMU)
    s.close()
    with pytest.raises(exact_wsi.ExactError):
        s.read_region((0, 0), 0, (10, 10))
