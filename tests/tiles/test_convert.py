"""Conversion of non-pyramidal uploads into tiled JPEG pyramids, read back by OpenSlide and
libvips, pixels compared with the source image."""

import numpy as np
import openslide
import pytest
from PIL import Image

from conftest import fixtures, mae, run_exact

W, H = 1500, 1001


@pytest.fixture(scope="module")
def source():
    return fixtures.synthetic_rgb(W, H, seed=11)


def write_input(kind, arr, tmp_path):
    path = tmp_path / f"in.{kind}"
    im = Image.fromarray(arr)
    if kind == "png":
        im.save(path)
    elif kind == "jpg":
        im.save(path, quality=95, subsampling=0)
    elif kind == "bmp":
        im.save(path)
    elif kind == "webp":
        im.save(path, lossless=True)
    elif kind == "tif":
        import tifffile
        tifffile.imwrite(path, arr, photometric="rgb", compression="lzw", rowsperstrip=40)
    elif kind == "interlaced.png":
        import pyvips
        pyvips.Image.new_from_array(arr).pngsave(str(path), interlace=True)
    return path


@pytest.mark.parametrize("kind", ["png", "jpg", "bmp", "webp", "tif", "interlaced.png"])
def test_convert_reads_back_in_openslide_and_libvips(kind, source, tmp_path):
    src = write_input(kind, source, tmp_path)
    out = tmp_path / "out.tif"
    p = run_exact("slide", "convert", src, out)
    assert "levels" in p.stdout
    assert "100%" in p.stderr  # progress was reported
    osr = openslide.OpenSlide(str(out))
    assert osr.properties["openslide.vendor"] == "generic-tiff"
    assert osr.dimensions == (W, H)
    assert osr.level_count == 4  # 1500x1001 -> 750x501 -> 375x251 -> 188x126
    region = np.asarray(osr.read_region((0, 0), 0, (W, H)).convert("RGB"))
    err = mae(region, source)
    assert (err <= 3).all(), f"{kind}: MAE {err}"
    # smaller levels are 2x2 means of the one above
    l1 = np.asarray(osr.read_region((0, 0), 1, osr.level_dimensions[1]).convert("RGB"))
    ref = source[: H // 2 * 2, : W // 2 * 2].reshape(H // 2, 2, W // 2, 2, 3).mean(axis=(1, 3))
    assert (mae(l1[: H // 2, : W // 2], ref) <= 3).all()
    import pyvips
    v = pyvips.Image.new_from_file(str(out))
    assert (v.width, v.height, v.get("n-pages") if v.get_typeof("n-pages") else 4) == (W, H, 4)
    vv = np.ndarray(buffer=v.write_to_memory(), dtype=np.uint8, shape=(H, W, v.bands))[..., :3]
    assert (mae(vv, source) <= 3).all()


def test_convert_rejects_garbage_naming_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    p = run_exact("slide", "convert", bad, tmp_path / "o.tif", check=False)
    assert p.returncode != 0 and "broken.png" in p.stderr and "panicked" not in p.stderr


def test_convert_streams_large_png(tmp_path):
    """A PNG bigger than the memory the conversion may use: peak RSS of the converter stays
    below the decoded image's size (rows stream through one band per level)."""
    import resource
    import subprocess

    import pyvips
    from conftest import exact_bin
    w, h = 6000, 4000  # 72 MB of RGB
    xyz = pyvips.Image.xyz(w, h)
    im = (xyz[0] * (255.0 / w)).bandjoin([xyz[1] * (255.0 / h), (xyz[0] + xyz[1]) % 256]).cast("uchar")
    src = tmp_path / "big.png"
    im.pngsave(str(src), compression=1)
    out = tmp_path / "big.tif"
    code = ("import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")

    def peak_kb(source, target):
        p = subprocess.run(["python3", "-c", code, exact_bin(), "slide", "convert", "-q",
                            str(source), str(target)], capture_output=True, text=True, check=True)
        return int(p.stdout.strip())

    # The binary's own footprint (code, allocator, runtime), measured on a tiny picture, is not
    # the conversion's: compare the growth with the decoded image's size.
    small = tmp_path / "small.png"
    im.crop(0, 0, 64, 64).pngsave(str(small))
    base_kb = peak_kb(small, tmp_path / "small.tif")
    big_kb = peak_kb(src, out)
    growth = (big_kb - base_kb) * 1024
    assert growth < w * h * 3 * 0.4, f"peak RSS {big_kb} kB, {base_kb} kB for a 64 px picture"
    osr = openslide.OpenSlide(str(out))
    assert osr.dimensions == (w, h)
    px = np.asarray(osr.read_region((3000, 2000), 0, (1, 1)).convert("RGB"))[0, 0]
    assert abs(int(px[0]) - 127) <= 3 and abs(int(px[1]) - 127) <= 3
