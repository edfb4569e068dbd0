"""The embedded store: the data directory ``exact serve`` uses, opened in-process.

::

    import exact_wsi
    store = exact_wsi.Store.open("./exact-data")             # or Store.memory() for tests
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team=team["id"])
    product = store.create_product("cells", team=team["id"], imagesets=[iset["id"]])
    mitosis = store.create_annotation_type("mitosis", product=product["id"], vector_type="bbox")
    image = store.add_image(iset["id"], "case1.svs", 100_000, 80_000)
    ids = store.add_boxes(image["id"], mitosis["id"], boxes)  # numpy (N, 4): x0, y0, x1, y1
    cols = store.annotations(image["id"], viewport=(0, 0, 5000, 5000), as_columns=True)

Records are dicts with EXACT's JSON field names (as the REST API and EXACT-Sync see them).
Errors derive from :class:`exact_wsi.ExactError`: unknown ids raise ``NotFoundError`` (a
``KeyError`` and ``FileNotFoundError``), bad input ``InvalidInputError`` (a ``ValueError``), and
a directory held by another process ``StoreInUseError``.

Annotations as columns (``as_columns=True``) are a dict of numpy arrays, one entry per
annotation except ``offsets``/``coords``:

=====================  ================  ==================================================
key                    dtype             meaning
=====================  ================  ==================================================
id, annotation_type    int64
user, last_editor      int64             0 = none
frame                  int64             0 = none
time, last_edit_time   datetime64[us]    UTC
deleted, concealed,    bool
blurred
x_min, y_min,          float64           bounding box of the nodes; NaN without geometry
x_max, y_max
offsets                int64, N + 1      nodes of annotation i: ``coords[offsets[i]:offsets[i+1]]``
coords                 float64, (M, 2)   every node as (x, y), annotation after annotation
unique_identifier      S36               the client UUID as ASCII
=====================  ================  ==================================================

``description`` and ``meta_data`` are only in the dict rows. The arrays are read-only views
of memory the extension owns (no copy is made); ``.copy()`` one to change it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from . import _native
from ._errors import InvalidInputError

__all__ = ["Store", "Server", "serve"]

_JSON_KEYS_BOX = ("x_min", "y_min", "x_max", "y_max")


def _id(name: str, v: Any) -> int:
    import numbers

    if isinstance(v, dict) and "id" in v:
        v = v["id"]
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 0:
        raise InvalidInputError(f"{name} must be an id (int >= 0) or a record with one, got {v!r}")
    return int(v)


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise InvalidInputError(f"{name} must be a str, got {type(v).__name__}")
    return v


def _dumps(obj: Any) -> str:
    import numpy as np

    def default(o: Any) -> Any:
        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if hasattr(o, "hex") and type(o).__name__ == "UUID":
            return str(o)
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    try:
        return json.dumps(obj, default=default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(str(e)) from None


class Store:
    """An open data directory (or in-memory store), acting as one user.

    Open with :meth:`open` or :meth:`memory`. The acting user is ``user`` (a username), or the
    store's first superuser; in a store without users, the user is created as a superuser
    (named ``exact`` by default, as ``exact serve`` does on first start — without a password:
    set one with :meth:`set_password` to log in over HTTP).
    """

    def __init__(self, native: Any, user_id: int) -> None:
        self._native = native
        self._user = user_id

    @classmethod
    def open(cls, path: Any = "./exact-data", *, user: str | None = None,
             meta: str | None = None, blobs: str | None = None) -> Store:
        """Open (creating if needed) the data directory ``path``: metadata in
        ``sled://<path>/db``, blobs in ``<path>/blobs`` — or the explicit ``meta``/``blobs``
        URLs. Raises :class:`StoreInUseError` if another process holds the directory."""
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"path must be a str or path, got {type(path).__name__}")
        native = _native.NativeStore(os.fspath(path), meta, blobs)
        return cls._as(native, user)

    @classmethod
    def memory(cls, *, user: str | None = None) -> Store:
        """A throw-away store in memory (tests)."""
        return cls._as(_native.NativeStore(None, None, None), user)

    @classmethod
    def _as(cls, native: Any, user: str | None) -> Store:
        if user is not None and not isinstance(user, str):
            raise InvalidInputError(f"user must be a username (str), got {type(user).__name__}")
        return cls(native, native.resolve_user(user))

    def as_user(self, username: str) -> Store:
        """The same store, acting as ``username`` (which must exist)."""
        return Store._as(self._native, username)

    @property
    def _n(self) -> Any:
        if self._native is None:
            from ._errors import ClosedError

            raise ClosedError("the store is closed")
        return self._native

    def import_file(self, path: Any, image_set: Any, *, format: str | None = None,
                    create_missing: bool = False, dry_run: bool = False,
                    image: str | None = None, verify: bool = False) -> dict:
        """Import an annotation file into ``image_set``: ``format`` is ``geojson`` (QuPath),
        ``coco``, ``csv`` or ``exact-labels``, detected from the content when ``None``.
        All or nothing: a file with any refused item writes nothing and raises
        :class:`InvalidInputError` naming the feature/row/line (``err.report`` holds the whole
        report); importing the same file twice creates nothing the second time. Returns the
        report: ``created``, ``skipped_duplicates``, ``created_types``, ``created_images``…"""
        if self._native is None:
            from ._errors import ClosedError

            raise ClosedError("the store is closed")
        report = json.loads(_native.store_import(
            self._native, self._user, _id("image_set", image_set), os.fspath(path), format,
            create_missing, dry_run, image, verify))
        if report["refused_count"]:
            first = report["refused"][0]
            err = InvalidInputError(
                f"{report['refused_count']} item(s) refused, nothing written; "
                f"first: {first['place']}: {first['reason']}")
            err.report = report  # type: ignore[attr-defined]
            raise err
        return dict(report)

    def export(self, image_set: Any, path: Any, *, format: str | None = None,
               skip_deleted: bool = False) -> dict:
        """Write every annotation of ``image_set`` to ``path`` (replaced whole, never half
        written) as ``geojson``, ``coco``, ``csv`` or ``exact-labels`` (from the file's
        extension when ``format`` is ``None``), or through one of the store's EXACT export
        formats with ``format="exact:<name>"``. Coordinates are level-0 pixels."""
        if self._native is None:
            from ._errors import ClosedError

            raise ClosedError("the store is closed")
        p = os.fspath(path)
        if format is None:
            ext = os.path.splitext(p)[1].lower()
            format = {".geojson": "geojson", ".csv": "csv", ".txt": "exact-labels",
                      ".json": "coco"}.get(ext)
            if format is None:
                raise InvalidInputError(f"cannot tell the format from {p!r}; pass format=")
        return dict(json.loads(_native.store_export(
            self._native, self._user, _id("image_set", image_set), p, format, skip_deleted)))

    def close(self) -> None:
        """Forget this handle; the directory is released when no handle (or server) uses it."""
        self._native = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._native is None:
            return "Store(closed)"
        return f"Store({self._native.meta_url!r}, user={self.user['username']!r})"

    # ---- users and teams -------------------------------------------------------------

    @property
    def meta_url(self) -> str:
        return self._native.meta_url

    @property
    def user(self) -> dict:
        """The acting user."""
        return json.loads(self._n.whoami(self._user))

    def users(self) -> list[dict]:
        return json.loads(self._n.users_list(self._user))

    def add_user(self, username: str, *, password: str | None = None, email: str = "",
                 superuser: bool = False) -> dict:
        """Create a user (the acting user must be a superuser)."""
        return json.loads(self._n.users_create(self._user, _str("username", username),
                                               _str("email", email), bool(superuser),
                                               None if password is None
                                               else _str("password", password)))

    def set_password(self, username: str, password: str, *,
                     old_password: str | None = None) -> None:
        """Set a password (for HTTP Basic auth against :func:`serve` / ``exact serve``).

        Superusers set anyone's; other users set their own with ``old_password``. Passwords
        shorter than 8 characters (or equal to the username) raise :class:`InvalidInput`."""
        self._n.users_set_password(self._user, _str("username", username),
                                   _str("password", password),
                                   None if old_password is None
                                   else _str("old_password", old_password))

    def create_token(self, name: str = "exact_wsi") -> str:
        """A new personal access token of the acting user (``Authorization: Token …``).

        The name ``session`` is reserved for browser sessions and raises :class:`InvalidInput`."""
        return json.loads(self._n.tokens_create(self._user, _str("name", name)))["token"]

    def create_team(self, name: str, *, website: str = "") -> dict:
        return json.loads(self._n.teams_create(self._user, _str("name", name),
                                               _str("website", website)))

    def teams(self) -> list[dict]:
        return json.loads(self._n.teams_list(self._user))

    def add_member(self, team: Any, username: str, *, admin: bool = False) -> dict:
        return json.loads(self._n.teams_add_member(self._user, _id("team", team),
                                                   _str("username", username), bool(admin)))

    def members(self, team: Any) -> list[dict]:
        return json.loads(self._n.teams_members(self._user, _id("team", team)))

    # ---- image sets, products, annotation types, images ------------------------------

    def create_image_set(self, name: str, team: Any, **fields: Any) -> dict:
        """Fields as EXACT's: ``description``, ``collaboration_type`` (0 collaborative,
        1 competitive, 2 second opinion), ``priority``, ``public`` …"""
        return json.loads(self._n.image_sets_create(
            self._user, _dumps({"name": name, "team": _id("team", team), **fields})))

    def image_sets(self) -> list[dict]:
        return json.loads(self._n.image_sets_list(self._user))

    def create_product(self, name: str, *, team: Any = None, imagesets: Sequence[Any] = (),
                       description: str = "") -> dict:
        return json.loads(self._n.products_create(self._user, _dumps({
            "name": name, "team": None if team is None else _id("team", team),
            "imagesets": [_id("imagesets", s) for s in imagesets],
            "description": description})))

    def products(self) -> list[dict]:
        return json.loads(self._n.products_list(self._user))

    def create_export_format(self, name: str, team: Any, annotations_types: Sequence[Any],
                             **fields: Any) -> dict:
        """An EXACT export format (templates ``base_format``, ``image_format``,
        ``annotation_format``, ``vector_format``, ``not_in_image_format``, ``name_format``;
        flags ``image_aggregation``, ``include_blurred``, ``include_concealed``, ``public``);
        EXACT's defaults fill what is not given. Use it with
        ``export(..., format="exact:<name>")``. A bad template raises ``InvalidInputError``
        naming the field and position."""
        return json.loads(self._n.export_formats_create(self._user, _dumps({
            "name": name, "team": _id("team", team),
            "annotations_types": [_id("annotations_types", t) for t in annotations_types],
            **fields})))

    def export_formats(self) -> list[dict]:
        return json.loads(self._n.export_formats_list(self._user))

    def create_annotation_type(self, name: str, product: Any, *, vector_type: Any = "bbox",
                               **fields: Any) -> dict:
        """``vector_type``: EXACT's code 1–7 or a name (``"bbox"``, ``"point"``, ``"line"``,
        ``"multi_line"``, ``"polygon"``, ``"fixed_size_bounding_box"``, ``"global"``)."""
        return json.loads(self._n.annotation_types_create(self._user, _dumps({
            "name": name, "product": _id("product", product), "vector_type": vector_type,
            **fields})))

    def annotation_types(self) -> list[dict]:
        return json.loads(self._n.annotation_types_list(self._user))

    def add_image(self, image_set: Any, name: str, width: int, height: int, **fields: Any) -> dict:
        """Register an image's metadata (``filename`` may be a path or an ``s3://`` URL)."""
        return json.loads(self._n.images_add(self._user, _dumps({
            "image_set": _id("image_set", image_set), "name": name, "width": width,
            "height": height, **fields})))

    def images(self, image_set: Any = None) -> list[dict]:
        return json.loads(self._n.images_list(
            self._user, None if image_set is None else _id("image_set", image_set)))

    def image(self, image: Any) -> dict:
        return json.loads(self._n.images_get(self._user, _id("image", image)))

    def update_image(self, image: Any, **fields: Any) -> dict:
        """Change an image's metadata (EXACT's field names; edit rights on its set).

        ``FrameDescriptions=[{"frame_id": 0, "frame_type": 1, "description": "..."}]``
        names frames; ``channel_display=[{"channel": 0, "color": "#ff0000", "min": 0,
        "max": 4000}]`` sets how composited channels are shown (``[]`` restores them).
        """
        return json.loads(self._n.images_update(self._user, _id("image", image),
                                                json.dumps(fields)))

    def frame_descriptions(self, image: Any) -> list[dict]:
        """The names of an image's frames (EXACT's FrameDescriptions): dicts with
        ``frame_id`` (from 0), ``frame_type`` (0 z plane, 1 time point, 255 undefined)
        and ``description``."""
        return list(self.image(image).get("FrameDescriptions", []))

    # ---- annotations -----------------------------------------------------------------

    def annotations(self, image: Any, *, viewport: Sequence[float] | None = None,
                    annotation_types: Iterable[Any] | None = None,
                    deleted: bool | None = False, user: Any = None,
                    as_columns: bool = False, **filters: Any) -> Any:
        """Annotations of ``image`` whose bbox intersects ``viewport`` ``(x0, y0, x1, y1)``
        (level-0 pixels, edges touching count; all when ``None``), by id. ``deleted``: False
        live ones, True deleted ones, None both. Rows (dicts with EXACT's fields), or with
        ``as_columns=True`` a dict of numpy arrays (see the module documentation).

        ``filters`` are the REST API's other list filters by EXACT's names, read by the same
        code: ``id__in``, ``vector_type``, ``verified_by``, ``verified_by__range``,
        ``last_edit_time__gte``, and ``limit``/``offset`` (a window in id order, paged in the
        store)."""
        image_id = _id("image", image)
        # EXACT's filter names, read by the same code as the REST API's query parameters.
        query: dict = {"deleted": None if deleted is None else bool(deleted)}
        if viewport is not None:
            try:
                x0, y0, x1, y1 = (float(v) for v in viewport)
            except (TypeError, ValueError):
                raise InvalidInputError(f"viewport must be (x0, y0, x1, y1), got {viewport!r}") from None
            if x1 < x0 or y1 < y0:
                raise InvalidInputError(f"viewport: x1 < x0 or y1 < y0 in {tuple(viewport)!r}")
            query.update(vector_x_min=x0, vector_y_min=y0, vector_x_max=x1, vector_y_max=y1)
        if annotation_types is not None:
            query["annotation_type__in"] = [_id("annotation_types", t) for t in annotation_types]
        if user is not None:
            query["user"] = _id("user", user)
        query.update(filters)
        if not as_columns:
            query["image"] = image_id
            return json.loads(self._n.annotations_list(self._user, _dumps(query)))["results"]
        return _columns(self._n.annotation_columns(self._user, image_id, _dumps(query)))

    def annotation(self, id: Any) -> dict:
        return json.loads(self._n.annotations_get(self._user, _id("id", id)))

    def add_annotations(self, rows: Any, *, image: Any = None, generated: bool = False,
                        scores: Sequence[float] | None = None, model: str | None = None,
                        version: str | None = None) -> Any:
        """Create annotations in one atomic batch (all or none).

        ``rows`` is a list of dicts with EXACT's fields (``annotation_type``, ``image`` —
        defaulting to ``image`` —, ``vector`` as ``{"x1": …, "y1": …}``, ``description``,
        ``meta_data``, ``unique_identifier`` …): returns the created rows. Or columns like
        :meth:`annotations` gives (``annotation_type`` and either ``x_min…y_max`` boxes or
        ``offsets``/``coords``) with ``image`` given: returns the new ids as an int64 array."""
        if generated or scores is not None or model is not None or version is not None:
            # A model's proposals (``generated=True``, ``scores=`` one per row, ``model=``,
            # ``version=``): provenance in each row's meta_data; rows only.
            from .proposals import with_provenance

            if not isinstance(rows, (list, tuple)):
                raise InvalidInputError("generated=/scores=/model= need rows as a list of dicts")
            rows = with_provenance(rows, generated=generated or scores is not None,
                                   scores=scores, model=model, version=version)
        if isinstance(rows, dict):
            if image is None:
                raise InvalidInputError("columns need image=")
            return self._add_columns(_id("image", image), rows)
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError(f"rows must be a list of dicts or a dict of columns, got {type(rows).__name__}")
        return json.loads(self._n.annotations_create(
            self._user, _dumps(list(rows)), None if image is None else _id("image", image)))

    def propose(self, image: Any, model: Any, *, classes: dict, tile_size: int = 512,
                level: int = 0, region: Sequence[int] | None = None, name: str = "python",
                version: str = "", max_objects: int = 10_000) -> dict:
        """Run ``model(tile, x, y)`` over ``image``'s tiles and write its proposals, one atomic
        batch per tile (see :func:`exact_wsi.proposals.propose`)."""
        from .proposals import propose

        return propose(self, image, model, classes=classes, tile_size=tile_size, level=level,
                       region=region, name=name, version=version, max_objects=max_objects)

    def add_boxes(self, image: Any, annotation_type: Any, boxes: Any) -> Any:
        """Create one box annotation per row of ``boxes`` (array-like ``(N, 4)``:
        ``x_min, y_min, x_max, y_max``) in one atomic batch; returns the ids (int64 array)."""
        import numpy as np

        b = np.asarray(boxes, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != 4:
            raise InvalidInputError(f"boxes must have shape (N, 4), got {b.shape}")
        n = b.shape[0]
        return self._add_columns(_id("image", image), {
            "annotation_type": np.full(n, _id("annotation_type", annotation_type), dtype=np.int64),
            "offsets": np.arange(0, 2 * n + 1, 2, dtype=np.int64),
            "coords": b.reshape(n * 2, 2),
        })

    def _add_columns(self, image: int, cols: dict) -> Any:
        import numpy as np

        if self._native is None:
            return self._n
        try:
            types = cols["annotation_type"]
        except KeyError:
            raise InvalidInputError("columns need annotation_type") from None
        if "coords" in cols:
            coords = np.asarray(cols["coords"], dtype=np.float64).reshape(-1, 2)
            offsets = np.asarray(cols["offsets"], dtype=np.int64)
            n = len(offsets) - 1
        elif all(k in cols for k in _JSON_KEYS_BOX):
            b = np.stack([np.asarray(cols[k], dtype=np.float64) for k in _JSON_KEYS_BOX], axis=1)
            n = b.shape[0]
            coords = b.reshape(n * 2, 2)
            offsets = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
        else:
            raise InvalidInputError("columns need x_min, y_min, x_max, y_max or offsets and coords")
        types = np.asarray(types, dtype=np.int64)
        if types.ndim == 0:
            types = np.full(max(n, 0), int(types), dtype=np.int64)
        if not np.isfinite(coords).all():
            raise InvalidInputError("coordinates must be finite")
        ids = self._native.add_columns(
            self._user, image, np.ascontiguousarray(types, dtype="<i8").tobytes(),
            np.ascontiguousarray(offsets, dtype="<i8").tobytes(),
            np.ascontiguousarray(coords, dtype="<f8").tobytes())
        return np.frombuffer(ids, dtype="<i8")

    def update_annotations(self, rows: Sequence[dict]) -> list[dict]:
        """Change annotations: each row has ``id`` and the fields to change (EXACT's names);
        each change is appended to the annotation's history. Returns the updated rows."""
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError("rows must be a list of dicts with an id")
        return json.loads(self._n.annotations_update(self._user, _dumps(list(rows))))

    def delete_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """Soft-delete (kept, restorable with :meth:`restore_annotation`)."""
        return json.loads(self._n.annotations_delete(self._user, [_id("ids", i) for i in ids]))

    def trash_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """EXACT's DELETE: the annotations are gone from every read (as after ``DELETE
        /api/v1/annotations/annotations/<id>/``) but kept in the trash with their history.
        All or none: the acting user must be able to edit every one."""
        return json.loads(self._n.annotations_trash(self._user, [_id("ids", i) for i in ids]))

    def restore_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """Put trashed annotations back, live, in one atomic batch (a new history entry each).
        An id not in the trash raises :class:`NotFoundError`."""
        return json.loads(self._n.annotations_restore_trashed(self._user,
                                                              [_id("ids", i) for i in ids]))

    def history(self, annotation: Any) -> list[dict]:
        """Revisions, oldest first: ``number``, ``action`` (1 created, 2 updated, 3 deleted,
        4 restored), ``user``, ``time``, ``before``, ``after``."""
        return json.loads(self._n.annotations_history(self._user, _id("annotation", annotation)))

    def restore_annotation(self, annotation: Any, revision: int) -> dict:
        return json.loads(self._n.annotations_restore(self._user, _id("annotation", annotation),
                                                      _id("revision", revision)))

    def verify(self, annotation: Any, verified: bool = True) -> dict:
        """The acting user's verdict on an annotation (one per user, replaced on repeat)."""
        return json.loads(self._n.verifications_verify(
            self._user, _id("annotation", annotation), bool(verified)))

    def verifications(self, annotation: Any) -> list[dict]:
        return json.loads(self._n.verifications_list(self._user, _id("annotation", annotation)))

    def statistics(self, image: Any) -> list[dict]:
        """EXACT's statistics panel of an image: per active type ``id``, ``name``,
        ``vector_type``, ``count``, ``in_image_count``, ``not_in_image_count``,
        ``verified_count``, ``unverified_count``."""
        return json.loads(self._n.images_statistics(self._user, _id("image", image)))

    def verify_image(self, image: Any, verified: bool = True) -> int:
        """The acting user's verdict on every annotation of ``image``, all or nothing;
        returns how many were judged."""
        return json.loads(self._n.verifications_verify_image(
            self._user, _id("image", image), bool(verified)))

    def copy_image(self, image: Any, image_set: Any, *, annotations: bool = False,
                   name: str | None = None) -> dict:
        """Copy ``image`` into ``image_set`` (a new record sharing the stored files), with its
        annotations matched by type name when ``annotations``."""
        return json.loads(self._n.images_copy(
            self._user, _id("image", image), _id("image_set", image_set), bool(annotations),
            name))

    def make_annotation_maps(self, image_set: Any,
                             annotation_type: Any = None) -> list[dict]:
        """EXACT's annotation maps of ``image_set``: per type with live annotations (or only
        ``annotation_type``), a server-generated image ``<product>_<type>.tiff`` collaging
        every annotation (the type's default size + 15 % context) whose annotations keep their
        originals' UUIDs. Returns ``[{"name", "image", "annotations"}]``."""
        t = None if annotation_type is None else _id("annotation_type", annotation_type)
        return json.loads(self._n.annotation_maps_create(
            self._user, _id("image_set", image_set), t))

    def sync_annotation_maps(self, image_set: Any) -> dict[int, str]:
        """Give every original the type its copy has on ``image_set``'s maps (with history);
        returns ``{annotation id: change}`` for those that changed."""
        got = json.loads(self._n.annotation_maps_sync(self._user, _id("image_set", image_set)))
        return {int(k): v for k, v in got.items()}

    def register_images(self, source: Any, target: Any, *, inverse: bool = False) -> dict:
        """Estimate the registration of ``source`` onto ``target`` (two slides of one tissue)
        from their pixels and store it: the registration with its ``transformation_matrix``,
        ``registration_error`` (px) and ``runtime`` (s), and ``created`` (False when the
        pair's existing registration was recomputed). ``inverse`` stores target → source too."""
        return json.loads(self._n.images_register(
            self._user, _id("source", source), _id("target", target), bool(inverse)))

    def registrations(self) -> list[dict]:
        """The image registrations the acting user can read."""
        return json.loads(self._n.registrations_list(self._user))

    def convert_coordinates(self, registration: Any, vector: dict) -> dict:
        """``vector`` (``{"x1": …, "y1": …}``) in the target image's coordinates."""
        return json.loads(self._n.registrations_convert(
            self._user, _id("registration", registration), json.dumps(vector)))

    def create_version(self, name: str, imagesets: Sequence[Any]) -> dict:
        """Snapshot the annotations of ``imagesets``."""
        return json.loads(self._n.versions_create(self._user, _str("name", name),
                                                  [_id("imagesets", s) for s in imagesets]))

    def versions(self) -> list[dict]:
        return json.loads(self._n.versions_list(self._user))

    # Files and pixels (the library's upload, pixel, download and media use cases).

    def _live(self) -> Any:
        if self._native is None:
            from ._errors import ClosedError

            raise ClosedError("the store is closed")
        return self._native

    def upload(self, image_set: Any, path_or_bytes: Any, name: str | None = None, *,
               wait: bool = True) -> dict:
        """Upload a slide, a picture or a zip archive of them into ``image_set`` and return the
        image row (for an archive, its first image; for an OME-TIFF of several image series,
        series 0's, the others being images of the set too, one per series, each with its
        ``series``), as EXACT's upload does: the acting user
        needs upload rights on the set; a file the set holds under the same name with the same
        bytes answers that image; a different file under that name raises
        ``AlreadyExistsError``; a file that is no image raises ``InvalidInputError``. Pictures
        are converted into a pyramid before this returns (``state`` then says ``ready`` or
        ``failed``); with ``wait=False`` they are left ``converting`` for a running server's
        worker (:func:`serve`). ``name`` defaults to the file's name (required for bytes)."""
        import os

        native = self._live()
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data: Any = bytes(path_or_bytes)
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            data = os.fspath(path_or_bytes)
        else:
            raise InvalidInputError(
                f"path_or_bytes must be a path or bytes, got {type(path_or_bytes).__name__}")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"name must be a str, got {type(name).__name__}")
        row = _native.store_upload(native, self._user, _id("image_set", image_set), data, name,
                                   bool(wait))
        return json.loads(row)

    def slide(self, image: Any) -> Any:
        """The pixels of ``image`` (an id or row) as an OpenSlide-compatible slide
        (``exact_wsi.OpenSlide``), opened with the acting user's rights: another team's image
        raises ``NotFoundError``, one still being converted ``NotReadyError``, one whose
        conversion failed ``UnservableError``."""
        from . import OpenSlide

        native, name = _native.store_slide(self._live(), self._user, _id("image", image))
        return OpenSlide._of_native(native, name)

    def download(self, image: Any, dest: Any, *, original: bool = True) -> int:
        """Write ``image``'s file to the path ``dest``: as uploaded (``original``), or as
        served (the converted pyramid). Returns the number of bytes written."""
        import os

        if not isinstance(dest, (str, os.PathLike)):
            raise InvalidInputError(f"dest must be a path, got {type(dest).__name__}")
        return _native.store_download(self._live(), self._user, _id("image", image),
                                      os.fspath(dest), bool(original))

    def attach_media(self, annotation: Any, name: str, data: bytes, *,
                     media_file_type: int = 1) -> dict:
        """Attach ``data`` to ``annotation`` as a media file (EXACT's types: 1 undefined,
        2 image, 3 video, 4 audio); needs edit rights on the annotation."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError(f"data must be bytes, got {type(data).__name__}")
        row = _native.store_attach_media(self._live(), self._user, _id("annotation", annotation),
                                         name, int(media_file_type), bytes(data))
        return json.loads(row)

    def media(self, media_file: Any) -> tuple[dict, bytes]:
        """A media file's row and bytes."""
        row, data = _native.store_media(self._live(), self._user, _id("media_file", media_file))
        return json.loads(row), data


def _columns(raw: list) -> dict:
    import numpy as np

    out = {}
    for name, buf in raw:
        # Zero-copy: the array's base is the Rust-owned buffer (read-only; copy to modify).
        a = np.asarray(buf)
        if name in ("time", "last_edit_time"):
            a = a.view("datetime64[us]")
        out[name] = a
    return out


class Server:
    """A running in-process HTTP server (EXACT's REST API at ``url + "api/v1/"``)."""

    def __init__(self, native: Any, store: Store) -> None:
        self._native = native
        self._store = store  # keeps the data directory open while serving

    @property
    def host(self) -> str:
        return self._native.host

    @property
    def port(self) -> int:
        return self._native.port

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        return f"http://{self.host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._native.running

    def stop(self) -> None:
        """Stop accepting, finish open requests (up to 10 s), return. Idempotent."""
        self._native.stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Server({self.url!r}, {'running' if self.running else 'stopped'})"


def serve(data: Any = "./exact-data", bind: str = "127.0.0.1:0") -> Server:
    """Run the HTTP server of ``exact serve`` in this process, on a background thread, over a
    data directory (or an open :class:`Store`, shared with it). ``bind`` port 0 picks a free
    port; see ``.url``. Stop with ``.stop()`` or use it as a context manager."""
    store = data if isinstance(data, Store) else Store.open(data)
    if store._native is None:
        raise InvalidInputError("the store is closed")
    if not isinstance(bind, str):
        raise InvalidInputError(f"bind must be 'host:port', got {bind!r}")
    return Server(_native.NativeServer(store._native, bind), store)
