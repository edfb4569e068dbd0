"""exact_wsi.deepzoom.DeepZoomGenerator against openslide-python's: grids and tiles."""

import xml.etree.ElementTree as ET

import openslide
import openslide.deepzoom
import pytest
from PIL import Image

import exact_wsi
from exact_wsi.deepzoom import DeepZoomGenerator
from conftest import mae, slides

SLIDES = slides()


def dzi(xml):
    """The DZI's content (attribute order and XML declaration aside)."""
    root = ET.fromstring(xml)
    return root.tag, root.attrib, [(c.tag, c.attrib) for c in root]


GRIDS = [(254, 1, False), (254, 1, True), (256, 0, False), (240, 0, True), (510, 2, False)]


@pytest.mark.parametrize("tile_size,overlap,limit_bounds", GRIDS)
@pytest.mark.parametrize("name", sorted(SLIDES))
def test_geometry(name, tile_size, overlap, limit_bounds):
    path = str(SLIDES[name])
    theirs = openslide.deepzoom.DeepZoomGenerator(openslide.OpenSlide(path), tile_size, overlap, limit_bounds)
    ours = DeepZoomGenerator(exact_wsi.open_slide(path), tile_size, overlap, limit_bounds)
    assert ours.level_count == theirs.level_count
    assert ours.level_tiles == theirs.level_tiles
    assert ours.level_dimensions == theirs.level_dimensions
    assert ours.tile_count == theirs.tile_count
    assert dzi(ours.get_dzi("jpeg")) == dzi(theirs.get_dzi("jpeg"))
    for level in range(theirs.level_count):
        cols, rows = theirs.level_tiles[level]
        for addr in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            assert ours.get_tile_dimensions(level, addr) == theirs.get_tile_dimensions(level, addr)
            assert ours.get_tile_coordinates(level, addr) == theirs.get_tile_coordinates(level, addr)


@pytest.mark.parametrize("limit_bounds", [False, True])
@pytest.mark.parametrize("name", sorted(SLIDES))
def test_tiles(name, limit_bounds):
    path = str(SLIDES[name])
    theirs = openslide.deepzoom.DeepZoomGenerator(openslide.OpenSlide(path), 254, 1, limit_bounds)
    ours = DeepZoomGenerator(exact_wsi.open_slide(path), 254, 1, limit_bounds)
    for level in range(theirs.level_count):
        cols, rows = theirs.level_tiles[level]
        for addr in sorted({(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2), (cols - 1, 0)}):
            want = theirs.get_tile(level, addr).convert("RGB")
            got = ours.get_tile(level, addr)
            assert isinstance(got, Image.Image) and got.mode == "RGB"
            assert got.size == want.size, f"{name} {level}/{addr}"
            assert (mae(got, want) <= 2).all(), f"{name} {level}/{addr}"
            jpeg = ours.get_tile_jpeg(level, addr)
            assert jpeg[:2] == b"\xff\xd8"
