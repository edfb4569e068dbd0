"""Test slides made by real tools (libvips via pyvips, tifffile + imagecodecs), cached under
tests/fixtures/cache (gitignored). Each generator is idempotent: it writes to a temporary name
and renames, so an interrupted run never leaves a half-written slide in the cache."""

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "tests" / "fixtures" / "cache"
DATA = REPO / "tests" / "fixtures" / "data"


def synthetic_rgb(width, height, seed=0):
    """A smooth but busy RGB image: gradients, rings and blocks (sub-pixel shifts stay small)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = (x / max(width - 1, 1)) * 255
    g = (y / max(height - 1, 1)) * 255
    cx, cy = width * 0.37, height * 0.61
    d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    b = 127 + 100 * np.sin(d / (17 + seed))
    img = np.stack([r, g, b], axis=-1)
    # a few flat rectangles with sharp edges
    rng = np.random.default_rng(seed)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(20, max(21, width // 6)), rng.integers(20, max(21, height // 6))
        img[y0:y0 + h, x0:x0 + w] = rng.integers(0, 256, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cached(name, make):
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / name
    if not path.exists():
        tmp = CACHE / (name + ".tmp" + str(os.getpid()))
        make(tmp)
        tmp.rename(path)
    return path


def vips_pyramid(name, width, height, **opts):
    """A tiled pyramid written by libvips' tiffsave."""
    def make(tmp):
        import pyvips
        arr = synthetic_rgb(width, height)
        im = pyvips.Image.new_from_memory(arr.tobytes(), width, height, 3, "uchar")
        args = dict(tile=True, pyramid=True, tile_width=256, tile_height=256)
        args.update(opts)
        im.tiffsave(str(tmp), **args)
    return _cached(name, make)


def aperio_svs(name, width, height, tile=240, levels=3, bigtiff=False, byteorder="<"):
    """An Aperio-style SVS written by tifffile: tiled JPEG levels (Photometric RGB, like real
    Aperio files), a stripped thumbnail as IFD 1, then label and macro (BigTIFF with
    `bigtiff`, as scanners write slides beyond 4 GB; big-endian with `byteorder=">"`)."""
    def make(tmp):
        import tifffile
        base = synthetic_rgb(width, height, seed=3)
        desc = (f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
                f"({tile}x{tile}) JPEG/RGB Q=70|AppMag = 40|StripeWidth = 1000|"
                "ScanScope ID = SS1234|Filename = synthetic|MPP = 0.2500|Date = 01/02/24")
        with tifffile.TiffWriter(tmp, bigtiff=bigtiff, byteorder=byteorder) as tw:
            tw.write(base, tile=(tile, tile), compression="jpeg", compressionargs={"level": 85},
                     photometric="rgb", description=desc, subsampling=(1, 1), metadata=None)
            thumb = base[::16, ::16]
            tw.write(np.ascontiguousarray(thumb), compression="jpeg", photometric="rgb",
                     description=f"Aperio Image Library v12.0.15 \r\n{width}x{height} -> {thumb.shape[1]}x{thumb.shape[0]} - |AppMag = 40|MPP = 0.2500",
                     subsampling=(1, 1), rowsperstrip=16, metadata=None)
            img = base
            for _ in range(1, levels):
                img = img[::4, ::4]
                tw.write(np.ascontiguousarray(img), tile=(tile, tile), compression="jpeg",
                         compressionargs={"level": 85}, photometric="rgb", subsampling=(1, 1),
                         description=desc, subfiletype=0, metadata=None)
            label = synthetic_rgb(300, 200, seed=5)
            tw.write(label, compression="lzw", photometric="rgb", subfiletype=1,
                     description="Aperio Image Library v12.0.15\r\nlabel 300x200", rowsperstrip=64, metadata=None)
            macro = synthetic_rgb(600, 240, seed=6)
            tw.write(macro, compression="jpeg", photometric="rgb", subfiletype=9,
                     description="Aperio Image Library v12.0.15\r\nmacro 600x240", rowsperstrip=64, metadata=None)
    return _cached(name, make)


def rgb_to_ycbcr(arr):
    """JFIF full-range RGB -> YCbCr (what Aperio stores in 33003 JPEG 2000 tiles)."""
    a = arr.astype(np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.clip(np.stack([y, cb, cr], -1).round(), 0, 255).astype(np.uint8)


def aperio_j2k(name, width, height, compression, tile=256):
    """An Aperio SVS with JPEG 2000 tiles (33005 RGB, or 33003 with YCbCr components),
    written by tifffile + imagecodecs (OpenJPEG); two levels and a JPEG thumbnail."""
    def make(tmp):
        import tifffile
        base = synthetic_rgb(width, height, seed=4)
        desc = (f"Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] "
                f"({tile}x{tile}) J2K/KDU Q=70|AppMag = 20|MPP = 0.5021")
        store = (lambda a: rgb_to_ycbcr(a)) if compression == 33003 else (lambda a: a)
        with tifffile.TiffWriter(tmp) as tw:
            tw.write(store(base), tile=(tile, tile), compression=compression, photometric="rgb",
                     description=desc, metadata=None)
            tw.write(np.ascontiguousarray(base[::8, ::8]), compression="jpeg", photometric="rgb",
                     description=desc, metadata=None, subsampling=(1, 1))
            tw.write(store(np.ascontiguousarray(base[::4, ::4])), tile=(tile, tile),
                     compression=compression, photometric="rgb", description=desc, metadata=None)
    return _cached(name, make)


def ome_tiff(name, width, height, tile=256, levels=3):
    """An OME-TIFF with a SubIFD pyramid (tifffile)."""
    def make(tmp):
        import tifffile
        base = synthetic_rgb(width, height, seed=7)
        with tifffile.TiffWriter(tmp, ome=True) as tw:
            tw.write(base, tile=(tile, tile), compression="deflate", photometric="rgb",
                     subifds=levels - 1,
                     metadata={"axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
            img = base
            for _ in range(1, levels):
                img = np.ascontiguousarray(img[::2, ::2])
                tw.write(img, tile=(tile, tile), compression="deflate", photometric="rgb",
                         subfiletype=1)
    return _cached(name, make)


def striped_tiff(name, width, height):
    """A non-pyramidal striped TIFF (input for conversion)."""
    def make(tmp):
        import tifffile
        tifffile.imwrite(tmp, synthetic_rgb(width, height, seed=9), photometric="rgb",
                         compression="lzw", rowsperstrip=32)
    return _cached(name, make)


def wsi_dicom(name, source, sparse=False, **convert):
    """A DICOM WSI series written by wsidicomizer converting `source` into the folder `name`;
    returns its level-0 (largest) instance, which opens the whole series (OpenSlide and ours
    find its siblings). `sparse`: the level-0 instance is rewritten (pydicom) as TILED_SPARSE
    with its frames in reverse order, each placed by its per-frame position."""
    def make(tmp):
        from wsidicomizer import WsiDicomizer
        WsiDicomizer.convert(str(source), str(tmp), **convert)
        if sparse:
            make_sparse(max(Path(tmp).glob("*.dcm"), key=lambda f: f.stat().st_size))
    folder = _cached(name, make)
    return max(folder.glob("*.dcm"), key=lambda f: f.stat().st_size)


def make_sparse(path):
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.sequence import Sequence
    ds = pydicom.dcmread(path)
    n = int(ds.NumberOfFrames)
    frames = list(generate_frames(ds.PixelData, number_of_frames=n))
    across = -(-int(ds.TotalPixelMatrixColumns) // int(ds.Columns))
    order = list(reversed(range(n)))
    per_frame = []
    for i in order:
        pos = Dataset()
        pos.ColumnPositionInTotalImagePixelMatrix = (i % across) * int(ds.Columns) + 1
        pos.RowPositionInTotalImagePixelMatrix = (i // across) * int(ds.Rows) + 1
        pos.XOffsetInSlideCoordinateSystem = 0
        pos.YOffsetInSlideCoordinateSystem = 0
        pos.ZOffsetInSlideCoordinateSystem = 0
        item = Dataset()
        item.PlanePositionSlideSequence = Sequence([pos])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.DimensionOrganizationType = "TILED_SPARSE"
    ds.PixelData = encapsulate([frames[i] for i in order])
    ds.save_as(path, enforce_file_format=True)


def all_slides(dicom=True):
    """name -> path of every slide the comparison tests run on; `dicom=False` leaves out the
    DICOM series (their writer, wsidicomizer, is installed only in the tile engine's venv)."""
    return {
        "CMU-1-Small-Region.svs": DATA / "CMU-1-Small-Region.svs",
        "openslide-python-boxes.tiff": DATA / "openslide-python-boxes.tiff",
        "openslide-python-small.svs": DATA / "openslide-python-small.svs",
        "vips-jpeg-odd.tif": vips_pyramid("vips-jpeg-odd.tif", 3001, 2001, compression="jpeg", Q=85),
        "vips-bigtiff.tif": vips_pyramid("vips-bigtiff.tif", 2000, 1537, compression="jpeg", Q=90,
                                         bigtiff=True, tile_width=240, tile_height=240),
        "vips-deflate.tif": vips_pyramid("vips-deflate.tif", 1203, 907, compression="deflate",
                                         predictor="horizontal"),
        "vips-lzw.tif": vips_pyramid("vips-lzw.tif", 901, 700, compression="lzw"),
        "vips-none.tif": vips_pyramid("vips-none.tif", 700, 513, compression="none",
                                      tile_width=128, tile_height=128),
        "tifffile-aperio.svs": aperio_svs("tifffile-aperio.svs", 2400, 1900),
        "aperio-j2k-33005.svs": aperio_j2k("aperio-j2k-33005.svs", 1200, 1000, 33005),
        "aperio-j2k-33003.svs": aperio_j2k("aperio-j2k-33003.svs", 1100, 900, 33003),
        **(dicom_slides() if dicom else {}),
    }


def dicom_slides():
    """DICOM WSI series written by wsidicomizer: JPEG frames copied from the SVS (Basic
    Offset Table), a three-level pyramid with an Extended Offset Table, JPEG 2000 frames in
    TILED_SPARSE order, and uncompressed frames."""
    from wsidicom.codec import Jpeg2kSettings, NumpySettings
    aperio = aperio_svs("tifffile-aperio.svs", 2400, 1900)
    return {
        "dicom-cmu": wsi_dicom("dicom-cmu", DATA / "CMU-1-Small-Region.svs", tile_size=None),
        "dicom-aperio-eot": wsi_dicom("dicom-aperio-eot", aperio, tile_size=None,
                                      offset_table="eot"),
        "dicom-j2k-sparse": wsi_dicom("dicom-j2k-sparse", aperio, sparse=True, tile_size=128,
                                      include_levels=[1, 2], encoding=Jpeg2kSettings(),
                                      force_transcoding=True, include_overview=False),
        "dicom-native": wsi_dicom("dicom-native", aperio, tile_size=128, include_levels=[1, 2],
                                  encoding=NumpySettings(), force_transcoding=True,
                                  include_thumbnail=False, include_label=False),
    }


def vips_big_pyramid(name, width, height, **opts):
    """A large tiled JPEG pyramid made lazily by libvips (never the whole image in memory):
    gradients and rings computed per tile."""
    def make(tmp):
        import pyvips
        xyz = pyvips.Image.xyz(width, height)
        x, y = xyz[0], xyz[1]
        r = x * (255.0 / max(width - 1, 1))
        g = y * (255.0 / max(height - 1, 1))
        d = ((x - width * 0.37) ** 2 + (y - height * 0.61) ** 2) ** 0.5
        b = (d * (360.0 / (2 * 3.14159265 * 17))).sin() * 100 + 127
        im = r.bandjoin([g, b]).cast("uchar")
        args = dict(tile=True, pyramid=True, tile_width=256, tile_height=256,
                    compression="jpeg", Q=85, bigtiff=True)
        args.update(opts)
        im.tiffsave(str(tmp), **args)
    return _cached(name, make)


if __name__ == "__main__":
    # `python fixtures.py big` makes the benchmark pyramid and prints its path.
    import sys
    if sys.argv[1:] == ["big"]:
        print(vips_big_pyramid("bench-40000x30001.tif", 40000, 30001))
    elif sys.argv[1:] == ["big-dicom"]:
        # The DICOM benchmark series (tests/http/bench_tiles.py --dicom): its folder.
        svs = aperio_svs("bench-aperio-16800x12000.svs", 16800, 12000)
        print(wsi_dicom("bench-dicom-16800x12000", svs, tile_size=None).parent)
    else:
        for n, p in all_slides().items():
            print(n, p)


def planes_data(t=3, z=5, c=3, h=384, w=512):
    """T × Z × C × H × W uint16 fluorescence-like planes: smooth backgrounds that move with z
    and t, a bright disc per plane and a little noise; every plane differs."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(7)
    out = np.empty((t, z, c, h, w), np.uint16)
    for ti in range(t):
        for zi in range(z):
            for ci in range(c):
                base = 1000 + 300 * ci + 900 * np.sin((x + 40 * zi) / (23 + 5 * ci)) \
                    * np.cos((y - 30 * ti) / 31)
                disc = ((x - 200 - 20 * zi) ** 2 + (y - 150 - 25 * ti) ** 2) < 2500
                out[ti, zi, ci] = np.clip(base + 3000 * (ci + 1) * disc
                                          + rng.integers(0, 8, (h, w)), 0, 65535)
    return out


def ome_planes(name):
    """An OME-TIFF of planes_data() (Z=5, T=3, C=3, 16-bit, 512×384): 128-px Deflate tiles and
    a 2-level SubIFD pyramid, as tifffile's documentation writes one."""
    def make(tmp):
        import tifffile
        data = planes_data()
        opts = dict(tile=(128, 128), photometric="minisblack", compression="zlib")
        with tifffile.TiffWriter(tmp, ome=True) as tw:
            tw.write(data, subifds=1, metadata={"axes": "TZCYX",
                     "Channel": {"Name": ["DAPI", "GFP", "RFP"]}}, **opts)
            tw.write(data[..., ::2, ::2], subfiletype=1, **opts)
    return _cached(name, make)


def tiff_stack(name, kind):
    """tifffile stacks of planes_data(): `pages` a T×H×W 16-bit multi-page TIFF (striped),
    `rgb` an N×H×W×3 8-bit tiled stack, `imagej` a T×Z×C hyperstack (ImageJ metadata)."""
    def make(tmp):
        import tifffile
        data = planes_data()
        if kind == "pages":
            tifffile.imwrite(tmp, data[:, 0, 0], photometric="minisblack")
        elif kind == "rgb":
            rgb = np.stack([synthetic_rgb(256, 192, seed=s) for s in range(4)])
            tifffile.imwrite(tmp, rgb, photometric="rgb", tile=(64, 64))
        else:
            tifffile.imwrite(tmp, data, imagej=True, metadata={"axes": "TZCYX"})
    return _cached(name, make)


def ome_series(name):
    """An OME-TIFF with four image series, as tifffile writes them (one `write` per series):
    0 a 16-bit Z=2 T=2 C=2 stack with a SubIFD pyramid, 1 a differently sized 8-bit RGB
    pyramid (tiled JPEG-free Deflate), 2 "macro" (RGB, one striped page), 3 "label" (grey)."""
    def make(tmp):
        import tifffile
        stack = planes_data(t=2, z=2, c=2, h=192, w=256)
        rgb = synthetic_rgb(320, 224, seed=3)
        opts = dict(tile=(64, 64), compression="zlib")
        with tifffile.TiffWriter(tmp, ome=True) as tw:
            tw.write(stack, subifds=1, photometric="minisblack",
                     metadata={"axes": "TZCYX", "Name": "cells",
                               "Channel": {"Name": ["DAPI", "GFP"]}}, **opts)
            tw.write(stack[..., ::2, ::2], subfiletype=1, photometric="minisblack", **opts)
            tw.write(rgb, subifds=1, photometric="rgb", metadata={"Name": "overview"}, **opts)
            tw.write(rgb[::2, ::2], subfiletype=1, photometric="rgb", **opts)
            tw.write(synthetic_rgb(120, 80, seed=5), photometric="rgb",
                     metadata={"Name": "macro"})
            tw.write(synthetic_rgb(60, 40, seed=6)[..., 0], photometric="minisblack",
                     metadata={"Name": "label"})
    return _cached(name, make)


def ndpi_slide(name):
    """A small Hamamatsu NDPI, as OpenSlide's hamamatsu backend reads one: a classic TIFF of
    one-strip JPEG pages (RowsPerStrip = height), finest first, each carrying the NDPI tags —
    65420 (format flag), 65421 (source lens: the objective for a pyramid level, -1 for the
    macro image), 65424 (focal plane 0), 65422/65423 (offsets from the slide centre, nm) —
    and centimetre resolutions for the MPP. Written by tifffile; the JPEGs have no restart
    markers, so OpenSlide reads each level as one tile. Each strip is a JFIF JPEG from Pillow
    (YCbCr 4:2:0), written to the TIFF unchanged."""
    def make(tmp):
        import tifffile
        base = synthetic_rgb(1024, 768, seed=11)
        levels = [base, base[::2, ::2], base[::4, ::4]]
        with tifffile.TiffWriter(tmp, bigtiff=False) as tw:
            for i, arr in enumerate(levels + [synthetic_rgb(200, 80, seed=12)]):
                macro = i == len(levels)
                h, w = arr.shape[:2]
                mpp = 0.25 * (1 << i)  # µm per pixel at this level
                tags = [(65420, "I", 1, 1, True),
                        (65421, "f", 1, -1.0 if macro else 40.0, True),
                        (65422, "i", 1, 1234, True), (65423, "i", 1, -5678, True),
                        (65424, "i", 1, 0, True)]
                if i == 0:
                    tags.append((65427, "s", 0, "exact-rs test slide", True))
                buf = io.BytesIO()
                Image.fromarray(np.ascontiguousarray(arr)).save(buf, "JPEG", quality=90)
                tw.write(iter([buf.getvalue()]), shape=(h, w, 3), dtype=np.uint8,
                         photometric="ycbcr", subsampling=(2, 2), compression="jpeg",
                         rowsperstrip=h, resolution=(1e4 / mpp, 1e4 / mpp),
                         resolutionunit="CENTIMETER", extratags=tags,
                         subfiletype=0, metadata=None)
    return _cached(name, make)


def mrxs_slide(name):
    """A small 3DHISTECH MIRAX slide as OpenSlide's mirax backend reads one: `NAME.mrxs` beside
    the folder `NAME/` with Slidedat.ini, Index.dat and Data0000.dat. Level 0 is a 4 x 3 grid of
    256-px JPEG camera images (one division per side, no overlap, no position buffer, so
    OpenSlide places them edge to edge); each further level concatenates 2 x 2 images of the
    one before (IMAGE_CONCAT_FACTOR 1), downsampled into one 256-px JPEG, white beyond the
    slide. Index.dat: version `01.02` and the SLIDE_ID, then the hierarchical root → one record
    per zoom level → one data page of (image index, offset, length, file) items."""
    import struct

    def make(tmp):
        cols, rows, side, levels = 4, 3, 256, 3
        base = synthetic_rgb(cols * side, rows * side, seed=21)
        slide_id = "exactrs-mrxs-0001"
        tmp.mkdir()
        folder = tmp / name.removesuffix(".mrxs")
        folder.mkdir()
        (tmp / name).write_bytes(b"")
        data, items = bytearray(), []
        for level in range(levels):
            concat = 1 << level
            page = []
            for y in range(0, rows, concat):
                for x in range(0, cols, concat):
                    area = np.full((side * concat, side * concat, 3), 255, np.uint8)
                    part = base[y * side:(y + concat) * side, x * side:(x + concat) * side]
                    area[:part.shape[0], :part.shape[1]] = part
                    img = Image.fromarray(area).resize((side, side), Image.Resampling.BOX)
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", quality=90)
                    page.append((y * cols + x, len(data), len(buf.getvalue()), 0))
                    data += buf.getvalue()
            items.append(page)
        (folder / "Data0000.dat").write_bytes(bytes(data))
        head = b"01.02" + slide_id.encode()
        # layout: head | hier root ptr | nonhier root ptr | hier table | records | pages
        table = len(head) + 8
        records = table + 4 * levels
        pages = records + 8 * levels
        index = bytearray(head + struct.pack("<ii", table, 0))
        index += b"".join(struct.pack("<i", records + 8 * i) for i in range(levels))
        at = pages
        for page in items:
            index += struct.pack("<ii", 0, at)
            at += 8 + 16 * len(page)
        for page in items:
            index += struct.pack("<ii", len(page), 0)
            index += b"".join(struct.pack("<iiii", *it) for it in page)
        (folder / "Index.dat").write_bytes(bytes(index))
        ini = ["[GENERAL]", f"SLIDE_ID={slide_id}", f"IMAGENUMBER_X={cols}",
               f"IMAGENUMBER_Y={rows}", "OBJECTIVE_MAGNIFICATION=20",
               "CameraImageDivisionsPerSide=1", "", "[HIERARCHICAL]", "HIER_COUNT=1",
               "NONHIER_COUNT=0", "INDEXFILE=Index.dat", "HIER_0_NAME=Slide zoom level",
               f"HIER_0_COUNT={levels}"]
        for level in range(levels):
            ini += [f"HIER_0_VAL_{level}=ZoomLevel_{level}",
                    f"HIER_0_VAL_{level}_SECTION=LAYER_0_LEVEL_{level}_SECTION"]
        ini += ["", "[DATAFILE]", "FILE_COUNT=1", "FILE_0=Data0000.dat"]
        for level in range(levels):
            ini += ["", f"[LAYER_0_LEVEL_{level}_SECTION]", "OVERLAP_X=0", "OVERLAP_Y=0",
                    f"MICROMETER_PER_PIXEL_X={0.5 * (1 << level)}",
                    f"MICROMETER_PER_PIXEL_Y={0.5 * (1 << level)}",
                    "IMAGE_FILL_COLOR_BGR=16777215", f"DIGITIZER_WIDTH={side}",
                    f"DIGITIZER_HEIGHT={side}", f"IMAGE_CONCAT_FACTOR={0 if level == 0 else 1}",
                    "IMAGE_FORMAT=JPEG"]
        (folder / "Slidedat.ini").write_text("\r\n".join(ini) + "\r\n")
    return _cached(name.removesuffix(".mrxs") + "-mrxs", make) / name
