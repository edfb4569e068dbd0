"""An image's pixels over the REST API, with openslide-python's ``OpenSlide`` API: what
``exact_wsi.connect(...).slide(image)`` returns, as ``Store.slide(image)`` does in-process.

The pyramid and properties come from ``GET /api/v1/images/images/<id>/slide/`` once; regions
from ``slide/region/`` (RGBA PNG, lossless, at most 2048 pixels a side per request: bigger
reads are fetched in parts and joined), thumbnails from ``slide/thumbnail/`` and associated
images from ``slide/associated/<name>/``. The server reads them with the same engine and the
requester's rights, so the pixels equal the embedded store's for the same region. (A region
larger than 2048 pixels on a level whose downsample is not an integer is joined from parts
whose level-0 corners are rounded, which may shift a part by a pixel.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import AbstractSlide
from ._errors import ClosedError, InvalidInputError, NotFoundError, UnsupportedError

if TYPE_CHECKING:
    from .remote import RemoteStore

__all__ = ["RemoteSlide"]

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
        """An RGB thumbnail fitting in ``size`` (each side at most 2048 over HTTP)."""
        from . import _pair

        w, h = _pair("size", size)
        if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
            raise InvalidInputError(f"thumbnail size must be 1..{MAX_SIDE} a side over HTTP, "
                                    f"got {(w, h)}")
        return self._fetch("thumbnail/", {"width": w, "height": h}).convert("RGB")

    def read_native_tile(self, level: int, col: int, row: int) -> bytes:
        raise UnsupportedError("native tiles are not offered by the slide API; use read_region "
                               "or the Deep Zoom URLs (native.dzi)")

    def set_cache(self, cache: Any) -> None:
        """Accepted for openslide-python compatibility."""
