"""exact_wsi: whole-slide images with openslide-python's API, read by exact-rs, and the
exact-rs annotation store (:class:`Store`, :func:`serve`) in-process.

Switch from openslide-python by changing one import::

    import exact_wsi as openslide
    with openslide.open_slide("slide.svs") as s:          # or "s3://bucket/slide.svs"
        region = s.read_region((0, 0), 0, (512, 512))     # PIL RGBA
        pixels = s.read_region((0, 0), 0, (512, 512), as_array=True)  # numpy (h, w, 4)
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from . import _native
from ._errors import (
    AlreadyExistsError,
    BackendError,
    ClosedError,
    ConflictError,
    CorruptError,
    ExactError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    StoreInUseError,
    TooLargeError,
    UnservableError,
    UnsupportedError,
)


def _find_openslide() -> None:
    """Point the engine at the openslide-bin wheel's library, if that wheel is installed and
    EXACT_OPENSLIDE_LIB is not set: MRXS, NDPI, SCN, BIF and VMS then open through it."""
    if os.environ.get("EXACT_OPENSLIDE_LIB"):
        return
    try:
        import importlib.util

        spec = importlib.util.find_spec("openslide_bin")
    except (ImportError, ValueError):
        return
    for folder in (spec.submodule_search_locations or []) if spec else []:
        lib = os.path.join(folder, "libopenslide.so.1")
        if os.path.exists(lib):
            os.environ["EXACT_OPENSLIDE_LIB"] = lib
            return


_find_openslide()

__version__ = _native.__version__

__all__ = [
    "OpenSlide", "open_slide", "AbstractSlide", "ExactError", "NotFoundError",
    "InvalidInputError", "UnsupportedError", "CorruptError", "BackendError", "ClosedError",
    "AlreadyExistsError", "PermissionDeniedError", "ConflictError", "StoreInUseError",
    "NotReadyError", "UnservableError", "TooLargeError",
    "OpenSlideError", "PROPERTY_NAME_COMMENT", "PROPERTY_NAME_VENDOR",
    "PROPERTY_NAME_QUICKHASH1", "PROPERTY_NAME_BACKGROUND_COLOR",
    "PROPERTY_NAME_OBJECTIVE_POWER", "PROPERTY_NAME_MPP_X", "PROPERTY_NAME_MPP_Y",
    "PROPERTY_NAME_BOUNDS_X", "PROPERTY_NAME_BOUNDS_Y", "PROPERTY_NAME_BOUNDS_WIDTH",
    "PROPERTY_NAME_BOUNDS_HEIGHT",
]

# openslide-python's names, so `import exact_wsi as openslide` keeps working.
OpenSlideError = ExactError
PROPERTY_NAME_COMMENT = "openslide.comment"
PROPERTY_NAME_VENDOR = "openslide.vendor"
PROPERTY_NAME_QUICKHASH1 = "openslide.quickhash-1"
PROPERTY_NAME_BACKGROUND_COLOR = "openslide.background-color"
PROPERTY_NAME_OBJECTIVE_POWER = "openslide.objective-power"
PROPERTY_NAME_MPP_X = "openslide.mpp-x"
PROPERTY_NAME_MPP_Y = "openslide.mpp-y"
PROPERTY_NAME_BOUNDS_X = "openslide.bounds-x"
PROPERTY_NAME_BOUNDS_Y = "openslide.bounds-y"
PROPERTY_NAME_BOUNDS_WIDTH = "openslide.bounds-width"
PROPERTY_NAME_BOUNDS_HEIGHT = "openslide.bounds-height"


def _to_pil(pixels: tuple) -> Any:
    from PIL import Image

    w, h, channels, data = pixels
    mode = "RGBA" if channels == 4 else "RGB"
    if w == 0 or h == 0:
        return Image.new(mode, (w, h))
    return Image.frombuffer(mode, (w, h), data, "raw", mode, 0, 1)


def _to_array(pixels: tuple) -> Any:
    import numpy as np

    w, h, channels, data = pixels
    # `data` is a bytearray: the array shares it and stays writable.
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, channels)


def _as_int(name: str, v: Any) -> int:
    import numbers

    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer, got {type(v).__name__}")
    return int(v)


def _pair(name: str, v: Any) -> tuple[int, int]:
    try:
        a, b = v
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a pair of integers, got {v!r}") from None
    return _as_int(name, a), _as_int(name, b)


_S = TypeVar("_S", bound="AbstractSlide")


class AbstractSlide:
    """The base of every slide, as in openslide-python: the pyramid and properties a slide
    reads once when it opens, and the context-manager protocol."""

    _filename: str
    _properties: dict[str, str]
    _level_dimensions: tuple[tuple[int, int], ...]
    _level_downsamples: tuple[float, ...]

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def level_count(self) -> int:
        return len(self._level_dimensions)

    @property
    def dimensions(self) -> tuple[int, int]:
        return self._level_dimensions[0]

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return self._level_dimensions

    @property
    def level_downsamples(self) -> tuple[float, ...]:
        return self._level_downsamples

    @property
    def properties(self) -> Mapping[str, str]:
        return self._properties

    @property
    def color_profile(self) -> None:
        return None


class _AssociatedImages(Mapping):
    """Associated images (label, macro, thumbnail …), decoded lazily on access."""

    def __init__(self, native: Any) -> None:
        self._native = native
        self._names = list(native.associated_image_names)

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise NotFoundError(f"no associated image {name!r}")
        return _to_pil(self._native.associated_image(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<_AssociatedImages {self._names!r}>"


class OpenSlide(AbstractSlide):
    """A whole-slide image, with openslide-python's ``OpenSlide`` API.

    ``filename`` is a path or a URL: ``file://…``, ``s3://bucket/key`` (credentials and endpoint
    from the usual ``AWS_*`` variables) or ``memory://…``.
    """

    def __init__(self, filename: Any) -> None:
        import os

        if not isinstance(filename, (str, os.PathLike)):
            raise InvalidInputError(f"filename must be a str or path, got {type(filename).__name__}")
        self._filename = os.fspath(filename)
        self._native: Any = _native.NativeSlide(self._filename)
        self._properties = dict(self._native.properties)
        self._level_dimensions = tuple((w, h) for w, h in self._native.level_dimensions)
        self._level_downsamples = tuple(self._native.level_downsamples)

    @classmethod
    def _of_native(cls, native: Any, filename: str) -> OpenSlide:
        """A slide the store opened (``Store.slide``), named ``filename``."""
        self = cls.__new__(cls)
        self._filename = filename
        self._native = native
        self._properties = dict(native.properties)
        self._level_dimensions = tuple((w, h) for w, h in native.level_dimensions)
        self._level_downsamples = tuple(native.level_downsamples)
        return self

    @classmethod
    def detect_format(cls, filename: Any) -> str | None:
        try:
            with cls(filename) as s:
                return s.properties.get(PROPERTY_NAME_VENDOR)
        except ExactError:
            return None

    def _n(self) -> Any:
        if self._native is None:
            raise ClosedError(f"slide {self._filename!r} is closed")
        return self._native

    def close(self) -> None:
        self._native = None

    def __repr__(self) -> str:
        state = " closed" if self._native is None else ""
        return f"OpenSlide({self._filename!r}){state}"

    @property
    def associated_images(self) -> Mapping[str, Any]:
        return _AssociatedImages(self._n())

    def get_best_level_for_downsample(self, downsample: float) -> int:
        try:
            d = float(downsample)
        except (TypeError, ValueError):
            raise InvalidInputError(f"downsample must be a number, got {downsample!r}") from None
        return self._n().best_level_for_downsample(d)

    @property
    def planes(self) -> tuple[int, int]:
        """``(depth, frames)``: the z planes and time points of a stack (``(1, 1)`` for an
        ordinary slide). Every method reads plane ``z=1, frame=1`` unless told otherwise."""
        depth, frames = self._n().planes
        return (int(depth), int(frames))

    @property
    def channels(self) -> tuple[dict, ...]:
        """The fluorescence channels composited to RGB for display: dicts with ``name``,
        ``color`` (``"#rrggbb"``) and ``bits``; empty when the slide stores RGB."""
        return tuple({"name": n, "color": c, "bits": b} for n, c, b in self._n().channels)

    def plane(self, z: int = 1, frame: int = 1) -> OpenSlide:
        """The plane at ``z``, ``frame`` (1-based, as EXACT's URLs) as a slide with the same
        openslide-python API, sharing the open file. A plane beyond the stack raises
        :class:`NotFoundError`."""
        native = self._plane(z, frame)
        return OpenSlide._of_native(native, self._filename)

    @property
    def series_count(self) -> int:
        """Image series in the file: an OME-TIFF's ``Image`` count (1 for other slides)."""
        return int(self._n().series_count)

    @property
    def series_names(self) -> tuple[str | None, ...]:
        """The name of each series (OME ``Image/@Name``), ``None`` where the file gives none."""
        return tuple(self._n().series_names)

    def series(self, n: int) -> OpenSlide:
        """Series ``n`` (from 0, as tifffile and Bio-Formats count) as a slide with the same
        openslide-python API and its own planes and channels, sharing the open file. Series 0
        is this slide; a series beyond the file raises :class:`NotFoundError`."""
        n = _as_int("series", n)
        return OpenSlide._of_native(self._n().series(n), self._filename)

    def _plane(self, z: Any, frame: Any) -> Any:
        z, frame = _as_int("z", z), _as_int("frame", frame)
        n = self._n()
        return n if (z, frame) == (1, 1) else n.plane(z, frame)

    def read_region(self, location: Any, level: int, size: Any, *, as_array: bool = False,
                    z: int = 1, frame: int = 1) -> Any:
        """The region of ``level`` whose top-left corner is ``location`` (level-0 coordinates),
        as a PIL RGBA image, or a numpy ``(h, w, 4)`` uint8 array with ``as_array=True``.
        ``z`` and ``frame`` (1-based) pick a plane of a stack."""
        x, y = _pair("location", location)
        level = _as_int("level", level)
        w, h = _pair("size", size)
        n = self._plane(z, frame)
        if w < 0 or h < 0:
            raise InvalidInputError(f"negative width ({w}) or height ({h})")
        if not 0 <= level < self.level_count:
            raise InvalidInputError(f"level {level} out of range (0..{self.level_count})")
        if w == 0 or h == 0:
            empty = (w, h, 4, bytearray())
            return _to_array(empty) if as_array else _to_pil(empty)
        px = n.read_region(x, y, level, w, h)
        return _to_array(px) if as_array else _to_pil(px)

    def read_region_array(self, location: Any, level: int, size: Any) -> Any:
        """``read_region(..., as_array=True)``."""
        return self.read_region(location, level, size, as_array=True)

    def get_thumbnail(self, size: Any, *, z: int = 1, frame: int = 1) -> Any:
        """An RGB thumbnail fitting in ``size``, as openslide-python makes it (of plane ``z``,
        ``frame``)."""
        w, h = _pair("size", size)
        return _to_pil(self._plane(z, frame).thumbnail(w, h))

    def read_native_tile(self, level: int, col: int, row: int) -> bytes:
        """The stored bytes of a native tile (a complete JPEG for JPEG slides), undecoded."""
        return self._n().native_tile(_as_int("level", level), _as_int("col", col), _as_int("row", row))

    def set_cache(self, cache: Any) -> None:
        """Accepted for openslide-python compatibility; exact_wsi caches per slide."""


def open_slide(filename: Any) -> OpenSlide:
    """Open a slide (path or URL) — openslide-python's ``open_slide``."""
    return OpenSlide(filename)


from . import deepzoom  # noqa: E402  (needs OpenSlide defined)
from .deepzoom import DeepZoomGenerator  # noqa: E402
from .remote import RemoteStore, connect  # noqa: E402
from .store import Server, Store, serve  # noqa: E402

__all__ += ["deepzoom", "DeepZoomGenerator", "Store", "Server", "serve", "RemoteStore", "connect"]
