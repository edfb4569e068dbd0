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

    def _call(self, op: str, **args: Any) -> Any:
        if self._native is None:
            from ._errors import ClosedError

            raise ClosedError("the store is closed")
        return json.loads(self._native.call(self._user, op, _dumps(args)))

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
        extension when ``format`` is ``None``). Coordinates are level-0 pixels."""
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
        return self._call("whoami")

    def users(self) -> list[dict]:
        return self._call("users.list")

    def add_user(self, username: str, *, password: str | None = None, email: str = "",
                 superuser: bool = False) -> dict:
        """Create a user (the acting user must be a superuser)."""
        return self._call("users.create", username=username, password=password, email=email,
                          is_superuser=superuser)

    def set_password(self, username: str, password: str) -> None:
        """Set a password (for HTTP Basic auth against :func:`serve` / ``exact serve``)."""
        self._call("users.set_password", username=username, password=password)

    def create_token(self, name: str = "exact_wsi") -> str:
        """A new personal access token of the acting user (``Authorization: Token …``)."""
        return self._call("tokens.create", name=name)["token"]

    def create_team(self, name: str, *, website: str = "") -> dict:
        return self._call("teams.create", name=name, website=website)

    def teams(self) -> list[dict]:
        return self._call("teams.list")

    def add_member(self, team: Any, username: str, *, admin: bool = False) -> dict:
        return self._call("teams.add_member", team=_id("team", team), username=username,
                          is_admin=admin)

    def members(self, team: Any) -> list[dict]:
        return self._call("teams.members", team=_id("team", team))

    # ---- image sets, products, annotation types, images ------------------------------

    def create_image_set(self, name: str, team: Any, **fields: Any) -> dict:
        """Fields as EXACT's: ``description``, ``collaboration_type`` (0 collaborative,
        1 competitive, 2 second opinion), ``priority``, ``public`` …"""
        return self._call("image_sets.create", name=name, team=_id("team", team), **fields)

    def image_sets(self) -> list[dict]:
        return self._call("image_sets.list")

    def create_product(self, name: str, *, team: Any = None, imagesets: Sequence[Any] = (),
                       description: str = "") -> dict:
        return self._call("products.create", name=name,
                          team=None if team is None else _id("team", team),
                          imagesets=[_id("imagesets", s) for s in imagesets],
                          description=description)

    def products(self) -> list[dict]:
        return self._call("products.list")

    def create_annotation_type(self, name: str, product: Any, *, vector_type: Any = "bbox",
                               **fields: Any) -> dict:
        """``vector_type``: EXACT's code 1–7 or a name (``"bbox"``, ``"point"``, ``"line"``,
        ``"multi_line"``, ``"polygon"``, ``"fixed_size_bounding_box"``, ``"global"``)."""
        return self._call("annotation_types.create", name=name, product=_id("product", product),
                          vector_type=vector_type, **fields)

    def annotation_types(self) -> list[dict]:
        return self._call("annotation_types.list")

    def add_image(self, image_set: Any, name: str, width: int, height: int, **fields: Any) -> dict:
        """Register an image's metadata (``filename`` may be a path or an ``s3://`` URL)."""
        return self._call("images.add", image_set=_id("image_set", image_set), name=name,
                          width=width, height=height, **fields)

    def images(self, image_set: Any = None) -> list[dict]:
        return self._call("images.list",
                          image_set=None if image_set is None else _id("image_set", image_set))

    def image(self, image: Any) -> dict:
        return self._call("images.get", id=_id("image", image))

    # ---- annotations -----------------------------------------------------------------

    def annotations(self, image: Any, *, viewport: Sequence[float] | None = None,
                    annotation_types: Iterable[Any] | None = None,
                    deleted: bool | None = False, user: Any = None,
                    as_columns: bool = False) -> Any:
        """Annotations of ``image`` whose bbox intersects ``viewport`` ``(x0, y0, x1, y1)``
        (level-0 pixels, edges touching count; all when ``None``), by id. ``deleted``: False
        live ones, True deleted ones, None both. Rows (dicts with EXACT's fields), or with
        ``as_columns=True`` a dict of numpy arrays (see the module documentation)."""
        query: dict = {"deleted": deleted}
        if viewport is not None:
            try:
                query["viewport"] = [float(v) for v in viewport]
            except (TypeError, ValueError):
                raise InvalidInputError(f"viewport must be (x0, y0, x1, y1), got {viewport!r}") from None
        if annotation_types is not None:
            query["annotation_types"] = [_id("annotation_types", t) for t in annotation_types]
        if user is not None:
            query["user"] = _id("user", user)
        image_id = _id("image", image)
        if not as_columns:
            return self._call("annotations.query", image=image_id, query=query)
        if self._native is None:
            return self._call("closed")
        return _columns(self._native.annotation_columns(self._user, image_id, _dumps(query)))

    def annotation(self, id: Any) -> dict:
        return self._call("annotations.get", id=_id("id", id))

    def add_annotations(self, rows: Any, *, image: Any = None) -> Any:
        """Create annotations in one atomic batch (all or none).

        ``rows`` is a list of dicts with EXACT's fields (``annotation_type``, ``image`` —
        defaulting to ``image`` —, ``vector`` as ``{"x1": …, "y1": …}``, ``description``,
        ``meta_data``, ``unique_identifier`` …): returns the created rows. Or columns like
        :meth:`annotations` gives (``annotation_type`` and either ``x_min…y_max`` boxes or
        ``offsets``/``coords``) with ``image`` given: returns the new ids as an int64 array."""
        if isinstance(rows, dict):
            if image is None:
                raise InvalidInputError("columns need image=")
            return self._add_columns(_id("image", image), rows)
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError(f"rows must be a list of dicts or a dict of columns, got {type(rows).__name__}")
        return self._call("annotations.create", rows=list(rows),
                          image=None if image is None else _id("image", image))

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
            return self._call("closed")
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
        return self._call("annotations.update", rows=list(rows))

    def delete_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """Soft-delete (kept, restorable with :meth:`restore_annotation`)."""
        return self._call("annotations.delete", ids=[_id("ids", i) for i in ids])

    def history(self, annotation: Any) -> list[dict]:
        """Revisions, oldest first: ``number``, ``action`` (1 created, 2 updated, 3 deleted,
        4 restored), ``user``, ``time``, ``before``, ``after``."""
        return self._call("annotations.history", id=_id("annotation", annotation))

    def restore_annotation(self, annotation: Any, revision: int) -> dict:
        return self._call("annotations.restore", id=_id("annotation", annotation),
                          revision=_id("revision", revision))

    def verify(self, annotation: Any, verified: bool = True) -> dict:
        """The acting user's verdict on an annotation (one per user, replaced on repeat)."""
        return self._call("verifications.verify", annotation=_id("annotation", annotation),
                          verified=bool(verified))

    def verifications(self, annotation: Any) -> list[dict]:
        return self._call("verifications.list", annotation=_id("annotation", annotation))

    def create_version(self, name: str, imagesets: Sequence[Any]) -> dict:
        """Snapshot the annotations of ``imagesets``."""
        return self._call("versions.create", name=name,
                          imagesets=[_id("imagesets", s) for s in imagesets])

    def versions(self) -> list[dict]:
        return self._call("versions.list")


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
