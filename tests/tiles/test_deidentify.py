"""`exact slide deidentify`: the label and macro images taken out of a slide's file (their IFDs
unlinked, their pixels zeroed) as OpenSlide then sees it — no label, no macro, every level and
the thumbnail unchanged, the file the same size — on a scanner's SVS and tifffile's (classic,
BigTIFF, big-endian); slides it cannot do are refused, naming why, with nothing written."""

import numpy as np
import openslide
import pytest

from conftest import fixtures, run_exact

SLIDES = {
    "CMU-1-Small-Region.svs": lambda: fixtures.DATA / "CMU-1-Small-Region.svs",
    "tifffile-aperio.svs": lambda: fixtures.aperio_svs("tifffile-aperio.svs", 2400, 1900),
    "bigtiff": lambda: fixtures.aperio_svs("tifffile-aperio-big.svs", 1300, 900, bigtiff=True),
}


@pytest.mark.parametrize("name", SLIDES)
def test_label_and_macro_are_gone_and_the_rest_is_unchanged(name, tmp_path):
    src = SLIDES[name]()
    out = tmp_path / "clean.svs"
    p = run_exact("slide", "deidentify", src, "-o", out)
    assert "took out label, macro" in p.stderr
    a, b = openslide.OpenSlide(str(src)), openslide.OpenSlide(str(out))
    assert {"label", "macro"} <= set(a.associated_images)
    assert sorted(b.associated_images) == ["thumbnail"]
    assert np.array_equal(np.asarray(a.associated_images["thumbnail"]),
                          np.asarray(b.associated_images["thumbnail"]))
    assert b.level_dimensions == a.level_dimensions
    for level, (w, h) in enumerate(a.level_dimensions):
        assert np.array_equal(np.asarray(a.read_region((0, 0), level, (w, h))),
                              np.asarray(b.read_region((0, 0), level, (w, h)))), level
    assert out.stat().st_size == src.stat().st_size
    # The label's pixels are gone from the bytes too, not only unlinked.
    label = np.asarray(a.associated_images["label"].convert("RGB")).tobytes()
    assert label[:4096] not in out.read_bytes()


def test_big_endian_files_keep_every_other_page(tmp_path):
    # OpenSlide does not open a big-endian SVS: tifffile checks the pages instead.
    import tifffile
    src = fixtures.aperio_svs("tifffile-aperio-be.svs", 1300, 900, byteorder=">")
    out = tmp_path / "clean.svs"
    run_exact("slide", "deidentify", src, "-o", out)
    with tifffile.TiffFile(src) as a, tifffile.TiffFile(out) as b:
        assert b.byteorder == ">"
        kept = [p for p in a.pages if not (p.description or "").split("\n")[-1].startswith(("label", "macro"))]
        assert len(kept) == len(a.pages) - 2
        assert len(b.pages) == len(kept)
        for p, q in zip(kept, b.pages):
            assert np.array_equal(p.asarray(), q.asarray())


def test_a_slide_without_label_is_copied_unchanged(tmp_path):
    src = fixtures.vips_pyramid("vips-lzw.tif", 901, 700, compression="lzw")
    out = tmp_path / "copy.tif"
    p = run_exact("slide", "deidentify", src, "-o", out)
    assert "unchanged copy" in p.stderr
    assert out.read_bytes() == src.read_bytes()


def test_dicom_is_refused_naming_why_and_nothing_is_written(tmp_path):
    src = fixtures.dicom_slides()["dicom-aperio-eot"]
    out = tmp_path / "clean.dcm"
    p = run_exact("slide", "deidentify", src, "-o", out, check=False)
    assert p.returncode != 0
    assert "DICOM" in p.stderr and "patient" in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []
