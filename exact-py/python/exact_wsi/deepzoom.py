"""Deep Zoom tiles with openslide-python's ``openslide.deepzoom`` API and geometry (of a local
slide, or the server's grid of a :class:`exact_wsi.remote_slide.RemoteSlide`)."""

from __future__ import annotations

from typing import Any

from . import (
    InvalidInputError,
    OpenSlide,
    UnsupportedError,
    _as_int,
    _native,
    _pair,
    _to_array,
    _to_pil,
)

__all__ = ["DeepZoomGenerator"]


class DeepZoomGenerator:
    """Deep Zoom tiles of an :class:`exact_wsi.OpenSlide`."""

    BOUNDS_OFFSET_PROPS = ("openslide.bounds-x", "openslide.bounds-y")
    BOUNDS_SIZE_PROPS = ("openslide.bounds-width", "openslide.bounds-height")

    def __new__(cls, osr: Any, tile_size: int = 254, overlap: int = 1,
                limit_bounds: bool = False, *, quality: int = 75) -> Any:
        from .remote_slide import RemoteDeepZoom, RemoteSlide

        if isinstance(osr, RemoteSlide):
            # A slide on a server: its Deep Zoom grid is the server's (EXACT's 254/1, q90).
            grid = (_as_int("tile_size", tile_size), _as_int("overlap", overlap),
                    bool(limit_bounds))
            if grid != (254, 1, False):
                raise UnsupportedError(
                    f"a remote slide's Deep Zoom grid is the server's (tile_size=254, "
                    f"overlap=1, limit_bounds=False), not {grid}; use "
                    "slide.native_deepzoom() for the native grid")
            return RemoteDeepZoom(osr)
        return super().__new__(cls)

    def __init__(self, osr: Any, tile_size: int = 254, overlap: int = 1,
                 limit_bounds: bool = False, *, quality: int = 75) -> None:
        if not isinstance(osr, OpenSlide):
            raise InvalidInputError(f"expected an exact_wsi.OpenSlide, got {type(osr).__name__}")
        self._osr = osr
        self._args = (_as_int("tile_size", tile_size), _as_int("overlap", overlap), bool(limit_bounds))
        self._dz = _native.NativeDeepZoom(osr._n(), self._args[0], self._args[1],
                                          self._args[2], _as_int("quality", quality))

    def __repr__(self) -> str:
        t, o, lb = self._args
        return f"DeepZoomGenerator({self._osr!r}, tile_size={t}, overlap={o}, limit_bounds={lb})"

    @property
    def level_count(self) -> int:
        return self._dz.level_count

    @property
    def level_tiles(self) -> tuple[tuple[int, int], ...]:
        return tuple((c, r) for c, r in self._dz.level_tiles)

    @property
    def level_dimensions(self) -> tuple[tuple[int, int], ...]:
        return tuple((w, h) for w, h in self._dz.level_dimensions)

    @property
    def tile_count(self) -> int:
        return self._dz.tile_count

    def _addr(self, level: int, address: Any) -> tuple[int, int, int]:
        col, row = _pair("address", address)
        return _as_int("level", level), col, row

    def get_tile(self, level: int, address: Any, *, as_array: bool = False) -> Any:
        """The tile at ``address`` = ``(col, row)`` of ``level`` as a PIL RGB image (or a numpy
        ``(h, w, 3)`` array with ``as_array=True``)."""
        self._osr._n()
        px = self._dz.render(*self._addr(level, address))
        return _to_array(px) if as_array else _to_pil(px)

    def get_tile_jpeg(self, level: int, address: Any) -> bytes:
        """The tile as JPEG bytes; native tiles pass through without decoding."""
        self._osr._n()
        return self._dz.tile(*self._addr(level, address))

    def get_tile_coordinates(self, level: int, address: Any) -> tuple:
        """``((x, y), slide_level, (w, h))``: the ``read_region`` arguments of the tile."""
        loc, slide_level, l_size, _ = self._dz.tile_info(*self._addr(level, address))
        return tuple(loc), slide_level, tuple(l_size)

    def get_tile_dimensions(self, level: int, address: Any) -> tuple[int, int]:
        w, h = self._dz.tile_info(*self._addr(level, address))[3]
        return (w, h)

    def get_dzi(self, format: str) -> str:
        if not isinstance(format, str):
            raise InvalidInputError("format must be a str such as 'jpeg' or 'png'")
        return self._dz.dzi(format)
