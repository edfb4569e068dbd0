"""An image's pixels over the REST API, with openslide-python's ``OpenSlide`` API: what
``exact_wsi.connect(...).slide(image)`` returns, as ``Store.slide(image)`` does in-process.

The pyramid and properties come from ``GET /api/v1/images/images/<id>/slide/`` once; regions
from ``slide/region/`` (RGBA PNG, lossless, at most 2048 pixels a side per request: bigger
reads are fetched in parts and joined), thumbnails from ``slide/thumbnail/`` and associated
images from ``slide/associated/<name>/``. The server reads them with the same engine and the
requester's rights, so the pixels equal the embedded store's for the same region. (A region
larger than 2048 pixels on a level whose downsample is not an integer is joined from parts
whose level-0 corners are rounded, which may shift a part by a pixel.)

Thumbnails larger than 2048 pixels a side are made here as openslide-python makes them (the
whole best level, read in parts, composited on the background colour, resized with Lanczos).
Native tiles come from ``slide/native/<level>/<col>/<row>/`` as stored (``read_native_tile``),
and ``exact_wsi.DeepZoomGenerator(remote_slide)`` reads the server's Deep Zoom grid (EXACT's
254/1 grid, JPEG q90); ``remote_slide.native_deepzoom()`` the native grid, whose full-resolution
tiles are the stored JPEG bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import AbstractSlide
from ._errors import ClosedError, InvalidInputError, NotFoundError, UnsupportedError

if TYPE_CHECKING:
    from .remote import RemoteStore

__all__ = ["RemoteSlide", "RemoteDeepZoom"]

# The server's largest region or thumbnail side (exact-http `routes/slides.rs`).
MAX_SIDE = 2048


def _png(data: bytes) -> Any:
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    return img


class _RemoteAssociated(Mapping):
    """Associated images fetched on access."""

    def __init__(self, slide: RemoteSlide, names: list[str]) -> None:
        self._slide = slide
        self._names = names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise NotFoundError(f"no associated image {name!r}")
        import urllib.parse

        return self._slide._fetch(f"associated/{urllib.parse.quote(name, safe='')}/", None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<_RemoteAssociated {self._names!r}>"


class RemoteSlide(AbstractSlide):
    """A slide on a server, opened by image id with the connected user's rights."""

    def __init__(self, store: RemoteStore, image: int, name: str) -> None:
        self._store: RemoteStore | None = store
        self._image = image
        self._filename = name
        info = store._request("GET", f"api/v1/images/images/{image}/slide/", pixels=True)
        self._properties = dict(info["properties"])
        self._level_dimensions = tuple((int(w), int(h)) for w, h in info["level_dimensions"])
        self._level_downsamples = tuple(float(d) for d in info["level_downsamples"])
        self._associated = [str(n) for n in info.get("associated_images", [])]

    def _s(self) -> RemoteStore:
        if self._store is None:
            raise ClosedError(f"slide {self._filename!r} is closed")
        return self._store

    def _fetch(self, what: str, params: dict | None) -> Any:
        data = self._s()._request("GET", f"api/v1/images/images/{self._image}/slide/{what}",
                                  params, raw=True, pixels=True)
        return _png(data)

    def close(self) -> None:
        self._store = None

    def __repr__(self) -> str:
        state = " closed" if self._store is None else ""
        return f"RemoteSlide(image={self._image}, {self._filename!r}){state}"

    @property
    def associated_images(self) -> Mapping[str, Any]:
        self._s()
        return _RemoteAssociated(self, self._associated)

    def get_best_level_for_downsample(self, downsample: float) -> int:
        """The last level whose downsample is not above ``downsample`` (OpenSlide's rule)."""
        import math

        try:
            d = float(downsample)
        except (TypeError, ValueError):
            raise InvalidInputError(f"downsample must be a number, got {downsample!r}") from None
        if not math.isfinite(d):
            raise InvalidInputError(f"downsample must be finite, got {d}")
        ds = self._level_downsamples
        if d < ds[0]:
            return 0
        for i in range(1, len(ds)):
            if d < ds[i]:
                return i - 1
        return len(ds) - 1

    def read_region(self, location: Any, level: int, size: Any, *, as_array: bool = False) -> Any:
        """The region of ``level`` whose top-left corner is ``location`` (level-0
        coordinates), as a PIL RGBA image, or a numpy ``(h, w, 4)`` uint8 array with
        ``as_array=True``; transparent outside the slide."""
        import numpy as np
        from PIL import Image

        from . import _as_int, _pair

        x, y = _pair("location", location)
        level = _as_int("level", level)
        w, h = _pair("size", size)
        self._s()
        if w < 0 or h < 0:
            raise InvalidInputError(f"negative width ({w}) or height ({h})")
        if not 0 <= level < self.level_count:
            raise InvalidInputError(f"level {level} out of range (0..{self.level_count})")
        out = np.zeros((h, w, 4), dtype=np.uint8)
        ds = self._level_downsamples[level]
        for top in range(0, h, MAX_SIDE):
            for left in range(0, w, MAX_SIDE):
                pw, ph = min(MAX_SIDE, w - left), min(MAX_SIDE, h - top)
                part = self._fetch("region/", {
                    "x": x + round(left * ds), "y": y + round(top * ds), "level": level,
                    "width": pw, "height": ph})
                out[top:top + ph, left:left + pw] = np.asarray(part.convert("RGBA"))
        if as_array:
            return out
        return Image.fromarray(out, "RGBA")

    def read_region_array(self, location: Any, level: int, size: Any) -> Any:
        """``read_region(..., as_array=True)``."""
        return self.read_region(location, level, size, as_array=True)

    def get_thumbnail(self, size: Any) -> Any:
        """An RGB thumbnail fitting in ``size``. Up to 2048 pixels a side the server makes it;
        bigger ones are made here as openslide-python does (the whole best level, read in
        parts, on the background colour, resized with Lanczos)."""
        from PIL import Image

        from . import _pair

        w, h = _pair("size", size)
        self._s()
        if w <= 0 or h <= 0:
            raise InvalidInputError(f"thumbnail size must be positive, got {(w, h)}")
        if w <= MAX_SIDE and h <= MAX_SIDE:
            return self._fetch("thumbnail/", {"width": w, "height": h}).convert("RGB")
        w0, h0 = self.dimensions
        level = self.get_best_level_for_downsample(max(w0 / w, h0 / h))
        region = self.read_region((0, 0), level, self._level_dimensions[level])
        bg = "#" + self._properties.get("openslide.background-color", "ffffff")
        thumb = Image.new("RGB", region.size, bg)
        thumb.paste(region, None, region)
        thumb.thumbnail((w, h), Image.Resampling.LANCZOS)
        return thumb

    def read_native_tile(self, level: int, col: int, row: int) -> bytes:
        """The stored bytes of a native tile (a complete JPEG for JPEG slides), undecoded:
        ``UnsupportedError`` for a level that is not JPEG-tiled, ``NotFoundError`` outside the
        level's grid."""
        from . import _as_int

        level, col, row = _as_int("level", level), _as_int("col", col), _as_int("row", row)
        self._s()
        if not 0 <= level < self.level_count:
            raise InvalidInputError(f"level {level} out of range (0..{self.level_count})")
        if col < 0 or row < 0:
            raise InvalidInputError(f"negative tile address ({col}, {row})")
        data: bytes = self._s()._request(
            "GET", f"api/v1/images/images/{self._image}/slide/native/{level}/{col}/{row}/",
            raw=True, pixels=True)
        return data

    def native_deepzoom(self) -> RemoteDeepZoom:
        """The server's native Deep Zoom grid (``native.dzi``): the slide's own tile size, no
        overlap; tiles of full-resolution levels are the stored JPEG bytes."""
        self._s()
        return RemoteDeepZoom(self, native=True)

    def set_cache(self, cache: Any) -> None:
        """Accepted for openslide-python compatibility."""


class RemoteDeepZoom:
    """Deep Zoom tiles of a :class:`RemoteSlide` from the server, with openslide-python's
    ``DeepZoomGenerator`` API and geometry. The server offers two grids: EXACT's (254 px,
    overlap 1, no bounds limit, JPEG q90; what ``exact_wsi.DeepZoomGenerator(remote_slide)``
    gives) and the native one (``RemoteSlide.native_deepzoom()``)."""

    def __init__(self, slide: RemoteSlide, *, native: bool = False) -> None:
        import math
        import re

        self._slide = slide
        base = f"api/v1/images/images/{slide._image}/"
        dzi_path, self._files = ((base + "native.dzi", base + "native_files/") if native
                                 else (base + "1/1/tile/", base + "1/1/tile_files/"))
        dzi = slide._s()._request("GET", dzi_path, raw=True, pixels=True).decode()
        self._dzi = dzi

        def attr(name: str) -> int:
            m = re.search(rf'{name}="(\d+)"', dzi)
            if m is None:
                raise InvalidInputError(f"the server's DZI has no {name}")
            return int(m.group(1))

        self._t, self._o = attr("TileSize"), attr("Overlap")
        z = (attr("Width"), attr("Height"))
        dims = [z]
        while z[0] > 1 or z[1] > 1:
            z = (max(1, math.ceil(z[0] / 2)), max(1, math.ceil(z[1] / 2)))
            dims.append(z)
        self._z = tuple(reversed(dims))
        self._tiles = tuple((math.ceil(w / self._t), math.ceil(h / self._t)) for w, h in self._z)
        n = len(self._z)
        l0_z = tuple(2 ** (n - d - 1) for d in range(n))
        self._slide_level = tuple(slide.get_best_level_for_downsample(d) for d in l0_z)
        self._l_z = tuple(l0_z[d] / slide.level_downsamples[self._slide_level[d]]
                          for d in range(n))

    def __repr__(self) -> str:
        return (f"RemoteDeepZoom({self._slide!r}, tile_size={self._t}, overlap={self._o})")

    @property
    def level_count(self) -> int:
        return len(self._z)

    @property
    def level_tiles(self) -> tuple[tuple[int, int], ...]:
        return self._tiles

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._z

    @property
    def tile_count(self) -> int:
        return sum(c * r for c, r in self._tiles)

    def _info(self, level: Any, address: Any) -> tuple:
        import math

        from . import _as_int, _pair

        level = _as_int("level", level)
        col, row = _pair("address", address)
        if not 0 <= level < len(self._z):
            raise InvalidInputError(f"level {level} out of range (0..{len(self._z)})")
        cols, rows = self._tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise InvalidInputError(f"address {(col, row)} out of range ({cols} x {rows})")
        t, o, sl = self._t, self._o, self._slide_level[level]
        tl = (o * int(col != 0), o * int(row != 0))
        br = (o * int(col != cols - 1), o * int(row != rows - 1))
        z_size = tuple(min(t, lim - t * i) + a + b
                       for i, lim, a, b in zip((col, row), self._z[level], tl, br))
        l_loc = [self._l_z[level] * (t * i - a) for i, a in zip((col, row), tl)]
        ds = self._slide.level_downsamples[sl]
        l0 = tuple(int(ds * v) for v in l_loc)
        l_lim = self._slide.level_dimensions[sl]
        l_size = tuple(int(min(math.ceil(self._l_z[level] * dz), lim - math.ceil(v)))
                       for v, dz, lim in zip(l_loc, z_size, l_lim))
        return level, col, row, (l0, sl, l_size), (z_size[0], z_size[1])

    def get_tile_jpeg(self, level: int, address: Any) -> bytes:
        """The tile as the server sends it (JPEG)."""
        level, col, row, _, _ = self._info(level, address)
        data: bytes = self._slide._s()._request(
            "GET", f"{self._files}{level}/{col}_{row}.jpeg", raw=True, pixels=True)
        return data

    def get_tile(self, level: int, address: Any, *, as_array: bool = False) -> Any:
        """The tile as a PIL RGB image (or a numpy ``(h, w, 3)`` array with ``as_array=True``)."""
        import io

        import numpy as np
        from PIL import Image

        img = Image.open(io.BytesIO(self.get_tile_jpeg(level, address))).convert("RGB")
        return np.asarray(img).copy() if as_array else img

    def get_tile_coordinates(self, level: int, address: Any) -> tuple:
        """``((x, y), slide_level, (w, h))``: the ``read_region`` arguments of the tile."""
        return self._info(level, address)[3]

    def get_tile_dimensions(self, level: int, address: Any) -> tuple[int, int]:
        w, h = self._info(level, address)[4]
        return (w, h)

    def get_dzi(self, format: str) -> str:
        """The server's DZI document; its tiles are JPEG."""
        if format not in ("jpeg", "jpg"):
            raise UnsupportedError(f"the server's Deep Zoom tiles are JPEG, not {format!r}")
        return self._dzi
