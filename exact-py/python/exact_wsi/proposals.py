"""Model proposals from Python (issue 16): provenance for annotations a model made, and a helper
that runs a Python callable over a slide's tiles and writes what it finds as proposals.

Proposals are ordinary annotations whose ``meta_data`` says where they came from
(``generated: true``, ``model``, ``version``, ``score``) — the same fields the server's model
jobs write — so the review queue and bulk accept/reject (``/api/v1/processing/review/``) treat
both alike."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._errors import InvalidInputError


def with_provenance(rows: Sequence[dict], *, generated: bool = True,
                    scores: Sequence[float] | None = None, model: str | None = None,
                    version: str | None = None) -> list[dict]:
    """Copies of ``rows`` whose ``meta_data`` carries the provenance of a model's proposals."""
    if scores is not None and len(scores) != len(rows):
        raise InvalidInputError(f"scores: {len(scores)} scores for {len(rows)} rows")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InvalidInputError(f"[{i}]: each row must be a dict")
        meta = dict(row.get("meta_data") or {})
        if not isinstance(row.get("meta_data") or {}, dict):
            raise InvalidInputError(f"[{i}].meta_data: must be an object to carry provenance")
        meta["generated"] = bool(generated)
        if scores is not None:
            score = float(scores[i])
            if score != score:
                raise InvalidInputError(f"scores[{i}]: not a number")
            meta["score"] = score
        if model is not None:
            meta["model"] = model
        if version is not None:
            meta["version"] = version
        out.append({**row, "meta_data": meta})
    return out


def propose(store: Any, image: Any, model: Callable[[Any, int, int], Iterable[dict]], *,
            classes: dict, tile_size: int = 512, level: int = 0, region: Sequence[int] | None = None,
            name: str = "python", version: str = "", max_objects: int = 10_000) -> dict:
    """Runs ``model(tile, x, y)`` over the tiles of ``image`` and writes its proposals.

    ``tile`` is a ``PIL.Image`` (RGB) of ``tile_size`` pixels of ``level`` whose top-left corner
    is level-0 ``(x, y)``; ``model`` returns objects ``{"points": [(px, py), …], "class": name,
    "score": s}`` in the tile's pixel coordinates (a box is its two corners, a point one
    point). ``classes`` maps class names to annotation type ids. Each tile's proposals are
    written in one atomic batch (``meta_data``: ``generated``, ``model``, ``version``,
    ``score``). ``region`` = ``(x, y, w, h)`` in level-0 pixels (default: the whole slide).
    Returns ``{"tiles": …, "proposals": …}``."""
    if tile_size < 16 or tile_size > 4096:
        raise InvalidInputError(f"tile_size must be 16 to 4096, got {tile_size}")
    slide = store.slide(image)
    image_id = image["id"] if isinstance(image, dict) else int(image)
    level = min(int(level), slide.level_count - 1)
    ds = slide.level_downsamples[level]
    rx, ry, rw, rh = region if region is not None else (0, 0, *slide.dimensions)
    step = max(1, round(tile_size * ds))
    tiles = proposals = 0
    for y0 in range(ry, ry + rh, step):
        for x0 in range(rx, rx + rw, step):
            w = max(1, math.ceil(min(step, rx + rw - x0) / ds))
            h = max(1, math.ceil(min(step, ry + rh - y0) / ds))
            tile = slide.read_region((x0, y0), level, (w, h)).convert("RGB")
            found = list(model(tile, x0, y0))
            if len(found) > max_objects:
                raise InvalidInputError(
                    f"tile ({x0}, {y0}): {len(found)} objects, more than max_objects={max_objects}")
            rows, scores = [], []
            for i, obj in enumerate(found):
                cls = obj.get("class")
                if cls not in classes:
                    raise InvalidInputError(f"tile ({x0}, {y0}) object {i}: class {cls!r} is not in classes")
                vector = {}
                for n, (px, py) in enumerate(obj["points"], start=1):
                    if not (0 <= px <= w and 0 <= py <= h):
                        raise InvalidInputError(
                            f"tile ({x0}, {y0}) object {i}: ({px}, {py}) is outside the {w} x {h} tile")
                    vector[f"x{n}"] = int(round(x0 + px * ds))
                    vector[f"y{n}"] = int(round(y0 + py * ds))
                rows.append({"annotation_type": classes[cls], "image": image_id, "vector": vector,
                             "meta_data": {"class": cls}})
                score = obj.get("score")
                scores.append(1.0 if score is None else float(score))
            if rows:
                store.add_annotations(with_provenance(rows, scores=scores, model=name,
                                                      version=version))
            tiles += 1
            proposals += len(rows)
    return {"tiles": tiles, "proposals": proposals}
