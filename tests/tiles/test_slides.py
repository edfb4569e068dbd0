"""Levels, downsamples and properties equal OpenSlide's, for real and generated slides."""

import openslide
import pytest

from conftest import exact_json, fixtures, run_exact

SLIDES = fixtures.all_slides()
# OpenSlide's quickhash-1 hashes decoded tiles with its own recipe; we do not reproduce it.
NOT_COMPARED = {"openslide.quickhash-1"}


@pytest.mark.parametrize("name", sorted(SLIDES))
def test_levels_and_properties_match_openslide(name):
    path = SLIDES[name]
    info = exact_json("slide", "info", "--json", path)
    osr = openslide.OpenSlide(str(path))
    assert info["level_count"] == osr.level_count
    assert tuple(info["dimensions"]) == osr.dimensions
    assert [tuple(d) for d in info["level_dimensions"]] == list(osr.level_dimensions)
    assert info["level_downsamples"] == pytest.approx(list(osr.level_downsamples), rel=1e-12)
    theirs = {k: v for k, v in osr.properties.items() if k not in NOT_COMPARED}
    ours = info["properties"]
    if name.startswith("dicom-"):
        # OpenSlide lists every data element as dicom.<Keyword>; we keep a few (same names).
        theirs = {k: v for k, v in theirs.items() if not k.startswith("dicom.")}
        assert all(ours[k] == osr.properties[k] for k in ours if k.startswith("dicom."))
        ours = {k: v for k, v in ours.items() if not k.startswith("dicom.")}
    missing = {k: v for k, v in theirs.items() if ours.get(k) != v}
    assert not missing, f"differs from OpenSlide: { {k: (ours.get(k), v) for k, v in missing.items()} }"
    extra = set(ours) - set(theirs)
    assert not extra, f"properties OpenSlide does not have: {extra}"
    assert sorted(info["associated_images"]) == sorted(osr.associated_images)


@pytest.mark.parametrize("name", sorted(SLIDES))
def test_text_info_names_vendor_and_levels(name):
    out = run_exact("slide", "info", SLIDES[name]).stdout
    osr = openslide.OpenSlide(str(SLIDES[name]))
    assert f"vendor:      {osr.properties['openslide.vendor']}" in out
    assert f"levels:      {osr.level_count}" in out


def test_ome_tiff_first_series_with_subifd_pyramid():
    import tifffile
    path = fixtures.ome_tiff("ome.ome.tif", 1000, 800)
    info = exact_json("slide", "info", "--json", path)
    with tifffile.TiffFile(path) as t:
        want = [(p.shape[1], p.shape[0]) for p in t.series[0].levels]
    assert info["vendor"] == "ome-tiff"
    assert [tuple(d) for d in info["level_dimensions"]] == want
    assert float(info["properties"]["openslide.mpp-x"]) == pytest.approx(0.5)


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "truncated.svs"
    data = (fixtures.DATA / "CMU-1-Small-Region.svs").read_bytes()
    bad.write_bytes(data[:1_300_000])
    p = run_exact("slide", "info", bad, check=False)
    assert p.returncode != 0
    assert "truncated.svs" in p.stderr
    assert "panicked" not in p.stderr
    notiff = tmp_path / "x.svs"
    notiff.write_bytes(b"hello world, not a tiff")
    p = run_exact("slide", "info", notiff, check=False)
    assert p.returncode != 0 and "x.svs" in p.stderr and "panicked" not in p.stderr
