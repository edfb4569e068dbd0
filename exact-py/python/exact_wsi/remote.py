"""A :class:`~exact_wsi.Store` over the REST API of a running ``exact serve`` (or EXACT's paths
on any compatible server): the same methods, return types and exceptions as the embedded
store, so a notebook switches between a data directory and a server by changing one line::

    store = exact_wsi.Store.open("./exact-data")                      # in-process
    store = exact_wsi.connect("http://host:8000", token="…")          # over HTTP

Standard library only (``urllib``). Lists are read page by page (the server pages in its
store). HTTP statuses become the typed exceptions of :mod:`exact_wsi._errors` by status, the
server's JSON reason as the message: 404 → ``NotFoundError``, 400 → ``InvalidInputError``,
401/403 → ``PermissionDeniedError``, 409 → ``AlreadyExistsError``, 412 → ``ConflictError``,
422 → ``UnsupportedError``, 5xx and connection failures → ``BackendError``.

Pixels: ``slide(image)`` is an OpenSlide-compatible :class:`~exact_wsi.remote_slide.RemoteSlide`
over the server's slide API (an image being converted raises ``NotReadyError``, one whose
conversion failed ``UnservableError``). Bulk updates and deletes are one atomic request each
(``multiple_update/`` with a list of patches, ``multiple_delete/``, ``multiple_restore/``):
refused whole, nothing written, when any item is refused.

What the REST API does not offer raises ``UnsupportedError`` naming it (setting another user's
password).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from typing import Any

from ._errors import (
    AlreadyExistsError,
    BackendError,
    ClosedError,
    ConflictError,
    ExactError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PermissionDeniedError,
    TooLargeError,
    UnservableError,
    UnsupportedError,
)

__all__ = ["ImportJob", "RemoteStore", "connect"]

# Fields the REST API derives per annotation for the requester, which the embedded store's
# records do not carry.
_DERIVED = ("verified_by_user", "uploaded_media_files", "annotationversion_set")
# Relations the REST API renders beside a record (EXACT's serializers), which the embedded
# store's records leave out: dropped so both stores answer with the same dicts.
_RELATIONS = {
    "api/v1/users/users/": ("team_set",),
    "api/v1/users/teams/": ("image_sets", "members", "memberships", "product_set"),
    # `pinned`: whether the requester pinned the set (the record keeps `pinned_by`).
    "api/v1/images/image_sets/": ("images", "product_set", "set_tags", "pinned"),
    "api/v1/administration/products/": ("annotationtype_set",),
    "api/v1/images/images/": ("annotations",),
    "api/v1/annotations/annotations/": _DERIVED,
}
_PAGE = 10_000
_VECTOR_TYPES = {"bbox": 1, "bounding_box": 1, "point": 2, "line": 3, "multi_line": 4,
                 "polygon": 5, "fixed_size_bounding_box": 6, "global": 7}


def _id(name: str, v: Any) -> int:
    from .store import _id as local_id

    return local_id(name, v)


def _error(status: int, detail: str, pixels: bool = False) -> ExactError:
    if pixels and status == 422:
        # A slide the server cannot serve (its conversion failed, its file is damaged).
        return UnservableError(detail)
    if status == 413:
        return TooLargeError(detail)
    if status == 404:
        return NotFoundError(detail)
    if status == 400:
        return InvalidInputError(detail)
    if status in (401, 403):
        return PermissionDeniedError(detail)
    if status == 409:
        return AlreadyExistsError(detail)
    if status == 412:
        return ConflictError(detail)
    if status in (405, 422, 501):
        return UnsupportedError(detail)
    return BackendError(detail)


def _reason(body: bytes) -> str:
    try:
        v = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500]
    if isinstance(v, dict):
        if "detail" in v and len(v) == 1:
            return str(v["detail"])
        return "; ".join(f"{k}: {' '.join(x) if isinstance(x, list) else x}" for k, x in v.items())
    return str(v)


class RemoteStore:
    """A store reached over HTTP, acting as the user its credentials name."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 60.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"url must be http(s)://host:port, got {url!r}")
        self._base = url.rstrip("/") + "/"
        if token is not None:
            self._auth: str | None = f"Token {token}"
        elif username is not None and password is not None:
            pair = f"{username}:{password}".encode()
            self._auth = "Basic " + base64.b64encode(pair).decode()
        else:
            raise InvalidInputError("give token= or username= and password=")
        self._timeout = timeout
        self._closed = False

    # ---- transport -------------------------------------------------------------------

    def _request(self, method: str, path: str, params: dict | None = None,
                 body: Any = None, raw: bool = False, pixels: bool = False) -> Any:
        if self._closed:
            raise ClosedError("the store is closed")
        url = self._base + path.lstrip("/")
        if params:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in params.items() if v is not None})
        data = None
        headers = {"Authorization": self._auth or "", "Accept": "application/json"}
        if body is not None:
            from .store import _dumps

            data = _dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as r:
                payload = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raise _error(e.code, _reason(e.read()), pixels) from None
        except (urllib.error.URLError, OSError) as e:
            raise BackendError(f"{method} {url}: {e}") from None
        if pixels and status == 202:
            # The image exists but is still being converted.
            raise NotReadyError(_reason(payload))
        if raw:
            return payload
        v = json.loads(payload) if payload.strip() else None
        drop = next((d for p, d in _RELATIONS.items() if path.startswith(p)), ())
        for row in (v["results"] if isinstance(v, dict) and "results" in v
                    else v if isinstance(v, list) else [v]):
            if isinstance(row, dict):
                for k in drop:
                    row.pop(k, None)
        return v

    def _list(self, path: str, params: dict | None = None) -> list[dict]:
        out: list[dict] = []
        p = dict(params or {})
        p["limit"], p["offset"] = _PAGE, 0
        while True:
            page = self._request("GET", path, p)
            out.extend(page["results"])
            if not page.get("next") or not page["results"]:
                return out
            p["offset"] += len(page["results"])

    def close(self) -> None:
        """Forget the connection (no further calls)."""
        self._closed = True

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteStore({self._base!r})"

    # ---- users and teams -------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._base

    @property
    def user(self) -> dict:
        """The acting user."""
        return self._request("GET", "api/v1/auth/me/")

    def users(self) -> list[dict]:
        return self._list("api/v1/users/users/")

    def add_user(self, username: str, *, password: str | None = None, email: str = "",
                 superuser: bool = False) -> dict:
        """Create a user (the acting user must be a superuser)."""
        body: dict = {"username": username, "email": email, "is_superuser": superuser}
        if password is not None:
            body["password"] = password
        return self._request("POST", "api/v1/users/users/", body=body)

    def set_password(self, username: str, password: str) -> None:
        raise UnsupportedError("setting a password over HTTP has no REST endpoint; use "
                               "`exact user password` on the server or Store.open")

    def create_token(self, name: str = "exact_wsi") -> str:
        """A new personal access token of the acting user."""
        return self._request("POST", "users/api/tokens/", body={"name": name})["token"]

    def create_team(self, name: str, *, website: str = "") -> dict:
        return self._request("POST", "api/v1/users/teams/",
                             body={"name": name, "website": website})

    def teams(self) -> list[dict]:
        return self._list("api/v1/users/teams/")

    def add_member(self, team: Any, username: str, *, admin: bool = False) -> dict:
        users = [u for u in self._list("api/v1/users/users/", {"username": username})
                 if u["username"] == username]
        if not users:
            raise NotFoundError(f"no user {username!r}")
        return self._request("POST", "api/v1/users/team_membership/", body={
            "team": _id("team", team), "user": users[0]["id"], "is_admin": admin})

    def members(self, team: Any) -> list[dict]:
        return self._list("api/v1/users/team_membership/", {"team": _id("team", team)})

    # ---- image sets, products, annotation types, images ------------------------------

    def create_image_set(self, name: str, team: Any, **fields: Any) -> dict:
        return self._request("POST", "api/v1/images/image_sets/",
                             body={"name": name, "team": _id("team", team), **fields})

    def image_sets(self) -> list[dict]:
        return self._list("api/v1/images/image_sets/")

    def create_product(self, name: str, *, team: Any = None, imagesets: Sequence[Any] = (),
                       description: str = "") -> dict:
        return self._request("POST", "api/v1/administration/products/", body={
            "name": name, "team": None if team is None else _id("team", team),
            "imagesets": [_id("imagesets", s) for s in imagesets], "description": description})

    def products(self) -> list[dict]:
        return self._list("api/v1/administration/products/")

    def create_annotation_type(self, name: str, product: Any, *, vector_type: Any = "bbox",
                               **fields: Any) -> dict:
        code = _VECTOR_TYPES.get(vector_type, vector_type) if isinstance(vector_type, str) \
            else vector_type
        if isinstance(code, str):
            raise InvalidInputError(f"vector_type: unknown name {vector_type!r}")
        return self._request("POST", "api/v1/annotations/annotation_types/", body={
            "name": name, "product": _id("product", product), "vector_type": code, **fields})

    def annotation_types(self) -> list[dict]:
        return self._list("api/v1/annotations/annotation_types/")

    def add_image(self, image_set: Any, name: str, width: int, height: int, **fields: Any) -> dict:
        """Register an image's metadata."""
        v = self._request("POST", "api/v1/images/images/", {"omit": "annotations"}, body={
            "image_set": _id("image_set", image_set), "name": name, "width": width,
            "height": height, **fields})
        v.pop("annotations", None)
        return v

    def images(self, image_set: Any = None) -> list[dict]:
        params: dict = {"omit": "annotations"}
        if image_set is not None:
            params["image_set"] = _id("image_set", image_set)
        return self._list("api/v1/images/images/", params)

    def image(self, image: Any) -> dict:
        v = self._request("GET", f"api/v1/images/images/{_id('image', image)}/",
                          {"omit": "annotations"})
        v.pop("annotations", None)
        return v

    def upload(self, image_set: Any, path_or_bytes: Any, name: str | None = None) -> list[dict]:
        """Upload an image file (a path, or bytes with ``name``) into ``image_set`` through
        ``/images/image/upload/<set>/``; returns the images it registered."""
        import os
        import uuid

        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            if not name:
                raise InvalidInputError("bytes need name=")
            data = bytes(path_or_bytes)
        elif isinstance(path_or_bytes, (str, os.PathLike)):
            with open(os.fspath(path_or_bytes), "rb") as f:
                data = f.read()
            name = name or os.path.basename(os.fspath(path_or_bytes))
        else:
            raise InvalidInputError("path_or_bytes must be a path or bytes")
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; "
                f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        url = f"{self._base}images/image/upload/{_id('image_set', image_set)}/"
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": self._auth or "", "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as r:
                v = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise _error(e.code, _reason(e.read())) from None
        except (urllib.error.URLError, OSError) as e:
            raise BackendError(f"POST {url}: {e}") from None
        files = v.get("files", v) if isinstance(v, dict) else v
        return files if isinstance(files, list) else [files]

    def import_file(self, path: Any, image_set: Any, *, format: str | None = None,
                    create_missing: bool = False, dry_run: bool = False,
                    image: str | None = None, verify: bool = False,
                    wait: bool = True, timeout: float | None = None) -> Any:
        """Import an annotation file (``geojson``, ``coco``, ``csv``, ``sliderunner``,
        ``asap``, ``imagescope``, ``exact-labels``; detected when ``format`` is ``None``) into
        ``image_set`` as a server-side job (``POST …/import/?async=1``); the file is streamed,
        never read whole. With ``wait`` (the default) returns the report once the job ends
        (:meth:`ImportJob.wait`); otherwise the :class:`ImportJob` at once, to follow with
        :meth:`ImportJob.refresh` / :meth:`ImportJob.wait`. A refused file raises
        :class:`InvalidInputError` naming the feature/row/line, with ``.report``."""
        import os
        import uuid

        fspath = os.fspath(path)
        size = os.path.getsize(fspath)
        boundary = uuid.uuid4().hex
        fields = {"format": format, "image": image,
                  "create_missing": "1" if create_missing else None,
                  "dry_run": "1" if dry_run else None, "verify": "1" if verify else None}
        head = b"".join(
            (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
             f"{v}\r\n").encode() for k, v in fields.items() if v is not None)
        name = os.path.basename(fspath).replace('"', "_")
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterable[bytes]:
            yield head
            with open(fspath, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk
            yield tail

        url = (f"{self._base}api/v1/images/image_sets/{_id('image_set', image_set)}"
               f"/import/?async=1")
        req = urllib.request.Request(url, data=body(), method="POST", headers={
            "Authorization": self._auth or "", "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail))})
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as r:
                v = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise _error(e.code, _reason(e.read())) from None
        except (urllib.error.URLError, OSError) as e:
            raise BackendError(f"POST {url}: {e}") from None
        job = ImportJob(self, v)
        return job.wait(timeout) if wait else job

    def import_jobs(self, image_set: Any) -> list[ImportJob]:
        """Your import jobs on ``image_set``, oldest first."""
        v = self._request(
            "GET", f"api/v1/images/image_sets/{_id('image_set', image_set)}/import/jobs/")
        return [ImportJob(self, j) for j in v["results"]]

    def slide(self, image: Any) -> Any:
        """The pixels of ``image`` (an id or row) as an OpenSlide-compatible slide read over
        HTTP, with the connected user's rights: another team's image raises
        ``NotFoundError``, one still being converted ``NotReadyError``, one whose conversion
        failed ``UnservableError`` (as :meth:`exact_wsi.Store.slide`)."""
        from .remote_slide import RemoteSlide

        image_id = _id("image", image)
        return RemoteSlide(self, image_id, self.image(image_id)["name"])

    # ---- annotations -----------------------------------------------------------------

    def annotations(self, image: Any, *, viewport: Sequence[float] | None = None,
                    annotation_types: Iterable[Any] | None = None,
                    deleted: bool | None = False, user: Any = None,
                    as_columns: bool = False, **filters: Any) -> Any:
        """As :meth:`exact_wsi.Store.annotations` (rows by id, or columns); ``filters`` go
        to the server as the query parameters they are named after (``limit``/``offset``
        give one page, as the embedded store)."""
        params: dict = {"image": _id("image", image), "omit": ",".join(_DERIVED)}
        if deleted is not None:
            params["deleted"] = "true" if deleted else "false"
        if viewport is not None:
            try:
                x0, y0, x1, y1 = (float(v) for v in viewport)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"viewport must be (x0, y0, x1, y1), got {viewport!r}") from None
            params.update(vector_x_min=x0, vector_y_min=y0, vector_x_max=x1, vector_y_max=y1)
        if annotation_types is not None:
            params["annotation_type__in"] = ",".join(
                str(_id("annotation_types", t)) for t in annotation_types)
        if user is not None:
            params["user"] = _id("user", user)
        for k, v in filters.items():
            params[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        if "limit" in filters:
            page = self._request("GET", "api/v1/annotations/annotations/", params)
            rows = [_strip(r) for r in page["results"]]
        else:
            rows = [_strip(r) for r in self._list("api/v1/annotations/annotations/", params)]
        return _as_columns(rows) if as_columns else rows

    def annotation(self, id: Any) -> dict:
        return _strip(self._request("GET", f"api/v1/annotations/annotations/{_id('id', id)}/"))

    def add_annotations(self, rows: Any, *, image: Any = None, generated: bool = False,
                        scores: Sequence[float] | None = None, model: str | None = None,
                        version: str | None = None) -> Any:
        """Create annotations in one atomic batch (all or none): rows, or columns with
        ``image`` (then the new ids as an int64 array), as the embedded store."""
        if generated or scores is not None or model is not None or version is not None:
            # A model's proposals (``generated=True``, ``scores=`` one per row, ``model=``,
            # ``version=``): provenance in each row's meta_data; rows only.
            from .proposals import with_provenance

            if not isinstance(rows, (list, tuple)):
                raise InvalidInputError("generated=/scores=/model= need rows as a list of dicts")
            rows = with_provenance(rows, generated=generated or scores is not None,
                                   scores=scores, model=model, version=version)
        import numpy as np

        if isinstance(rows, dict):
            if image is None:
                raise InvalidInputError("columns need image=")
            created = self._create(_rows_of_columns(rows, _id("image", image)))
            return np.array([r["id"] for r in created], dtype=np.int64)
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError(
                f"rows must be a list of dicts or a dict of columns, got {type(rows).__name__}")
        out = []
        for r in rows:
            if not isinstance(r, dict):
                raise InvalidInputError("each row must be a dict")
            out.append({"image": _id("image", image), **r} if image is not None else r)
        return self._create(out)

    def propose(self, image: Any, model: Any, *, classes: dict, tile_size: int = 512,
                level: int = 0, region: Sequence[int] | None = None, name: str = "python",
                version: str = "", max_objects: int = 10_000) -> dict:
        """Run ``model(tile, x, y)`` over ``image``'s tiles and write its proposals, one atomic
        batch per tile (see :func:`exact_wsi.proposals.propose`)."""
        from .proposals import propose

        return propose(self, image, model, classes=classes, tile_size=tile_size, level=level,
                       region=region, name=name, version=version, max_objects=max_objects)

    def _create(self, rows: list[dict]) -> list[dict]:
        created = self._request("POST", "api/v1/annotations/annotations/", body=rows)
        return [_strip(r) for r in created]

    def add_boxes(self, image: Any, annotation_type: Any, boxes: Any) -> Any:
        """One box annotation per row of ``boxes`` (``(N, 4)``), in one atomic batch."""
        import numpy as np

        b = np.asarray(boxes, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != 4:
            raise InvalidInputError(f"boxes must have shape (N, 4), got {b.shape}")
        if not np.isfinite(b).all():
            raise InvalidInputError("coordinates must be finite")
        t, i = _id("annotation_type", annotation_type), _id("image", image)
        rows = [{"annotation_type": t, "image": i,
                 "vector": {"x1": _num(x0), "y1": _num(y0), "x2": _num(x1), "y2": _num(y1)}}
                for x0, y0, x1, y1 in b.tolist()]
        return np.array([r["id"] for r in self._create(rows)], dtype=np.int64)

    def update_annotations(self, rows: Sequence[dict]) -> list[dict]:
        """Change annotations (each row: ``id`` and the fields to change) in one atomic request
        (``multiple_update/`` with a list of patches): every row is checked first — the user
        must be able to edit each — and nothing is written unless all pass. Returns the
        updated rows."""
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError("rows must be a list of dicts with an id")
        for r in rows:
            if not isinstance(r, dict) or "id" not in r:
                raise InvalidInputError("each row needs an id")
        if not rows:
            return []
        return self._bulk_update([{**r, "id": _id("id", r["id"])} for r in rows])

    def _bulk_update(self, patches: list[dict]) -> list[dict]:
        out = self._request("POST", "api/v1/annotations/annotations/multiple_update/",
                            body=patches)
        return [_strip(r) for r in out]

    def delete_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """Soft-delete (``deleted`` true, kept, restorable with :meth:`restore_annotation`) in
        one atomic request, all or none; returns the rows as they are now."""
        ids = list(dict.fromkeys(_id("ids", i) for i in ids))
        if not ids:
            return []
        return self._bulk_update([{"id": i, "deleted": True} for i in ids])

    def trash_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """EXACT's DELETE (``multiple_delete/``): gone from every read, kept in the trash with
        their history; all or none. Returns the trashed rows."""
        ids = list(dict.fromkeys(_id("ids", i) for i in ids))
        if not ids:
            return []
        images = sorted({self.annotation(i)["image"] for i in ids})
        self._request("DELETE", "api/v1/annotations/annotations/multiple_delete/",
                      {"id__in": ",".join(map(str, ids))})
        trashed: dict[int, dict] = {}
        for image in images:
            for r in self._list("api/v1/annotations/annotations/trash/", {"image": image}):
                trashed[r["id"]] = r
        return [_strip(trashed[i]) for i in ids if i in trashed]

    def restore_annotations(self, ids: Iterable[Any]) -> list[dict]:
        """Put trashed annotations back, live, in one atomic request (``multiple_restore/``).
        An id not in the trash raises :class:`NotFoundError`."""
        ids = list(dict.fromkeys(_id("ids", i) for i in ids))
        if not ids:
            return []
        out = self._request("POST", "api/v1/annotations/annotations/multiple_restore/",
                            body={"ids": ids})
        return [_strip(r) for r in out]

    def history(self, annotation: Any) -> list[dict]:
        """Revisions, oldest first (as :meth:`exact_wsi.Store.history`)."""
        return self._request(
            "GET", f"api/v1/annotations/annotations/{_id('annotation', annotation)}/history/")

    def restore_annotation(self, annotation: Any, revision: int) -> dict:
        """Back to the state after ``revision`` (itself a new revision)."""
        a, n = _id("annotation", annotation), _id("revision", revision)
        return _strip(self._request(
            "POST", f"api/v1/annotations/annotations/{a}/history/{n}/restore/"))

    def verify(self, annotation: Any, verified: bool = True) -> dict:
        """The acting user's verdict on an annotation."""
        return self._request("POST", "api/v1/annotations/verifications/", body={
            "annotation": _id("annotation", annotation), "verified": bool(verified)})

    def verifications(self, annotation: Any) -> list[dict]:
        return self._list("api/v1/annotations/verifications/",
                          {"annotation": _id("annotation", annotation)})

    def statistics(self, image: Any) -> list[dict]:
        """See :meth:`exact_wsi.Store.statistics`."""
        return self._request("GET", "images/api/image/statistics/",
                             {"image_id": _id("image", image)})["statistics"]

    def verify_image(self, image: Any, verified: bool = True) -> int:
        """See :meth:`exact_wsi.Store.verify_image`."""
        return self._request("POST", "images/api/image/verify/", body={
            "image_id": _id("image", image),
            "state": "accept" if verified else "reject"})["count"]

    def copy_image(self, image: Any, image_set: Any, *, annotations: bool = False,
                   name: str | None = None) -> dict:
        """See :meth:`exact_wsi.Store.copy_image`."""
        body: dict = {"image_set": _id("image_set", image_set),
                      "copy_annotations": bool(annotations)}
        if name is not None:
            body["name"] = name
        return self._request("POST", f"api/v1/images/images/{_id('image', image)}/copy/",
                             body=body)

    def make_annotation_maps(self, image_set: Any,
                             annotation_type: Any = None) -> list[dict]:
        """See :meth:`exact_wsi.Store.make_annotation_maps`."""
        params = None if annotation_type is None else {
            "annotation_type": _id("annotation_type", annotation_type)}
        got = self._request(
            "POST", f"images/imageset/{_id('image_set', image_set)}/annotation_map/create/",
            params=params)
        return [{"name": n, "image": got["Images"][n], "annotations": c}
                for n, c in got["Names"].items()]

    def sync_annotation_maps(self, image_set: Any) -> dict[int, str]:
        """See :meth:`exact_wsi.Store.sync_annotation_maps`."""
        got = self._request(
            "POST", f"images/imageset/{_id('image_set', image_set)}/annotation_map/sync/")
        return {int(k): v for k, v in got["Updates"].items()}

    def register_images(self, source: Any, target: Any, *, inverse: bool = False) -> dict:
        """See :meth:`exact_wsi.Store.register_images`."""
        s, t = _id("source", source), _id("target", target)
        known = any(r["source_image"] == s and r["target_image"] == t
                    for r in self.registrations())
        out = self._request("POST", f"api/v1/images/images/{s}/register_images/",
                            body={"target_image": t, "create_inverse_registration": bool(inverse)})
        out["created"] = not known
        return out

    def registrations(self) -> list[dict]:
        """See :meth:`exact_wsi.Store.registrations`."""
        return self._list("api/v1/images/registration/")

    def convert_coordinates(self, registration: Any, vector: dict) -> dict:
        """See :meth:`exact_wsi.Store.convert_coordinates`."""
        return self._request(
            "GET",
            f"api/v1/images/registration/{_id('registration', registration)}/convert_coodinates/",
            params={"vector": json.dumps(vector)})

    def create_version(self, name: str, imagesets: Sequence[Any]) -> dict:
        return self._request("POST", "api/v1/images/set_versions/", body={
            "name": name, "imagesets": [_id("imagesets", s) for s in imagesets]})

    def versions(self) -> list[dict]:
        return self._list("api/v1/images/set_versions/")


class ImportJob:
    """An import running on the server (:meth:`RemoteStore.import_file` with ``wait=False``).
    ``state`` is ``queued``, ``running``, ``done``, ``refused``, ``failed`` or
    ``interrupted``; ``progress`` a fraction (reading the file is the first half, writing the
    second); ``info`` the whole job as the server last reported it."""

    def __init__(self, store: RemoteStore, info: dict) -> None:
        self._store = store
        self.info = info

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def state(self) -> str:
        return str(self.info["state"])

    @property
    def finished(self) -> bool:
        return bool(self.info["finished"])

    @property
    def progress(self) -> float:
        return float(self.info["progress"])

    def __repr__(self) -> str:
        return f"ImportJob({self.id}, {self.state!r}, progress={self.progress:.0%})"

    def refresh(self) -> ImportJob:
        """Ask the server how far the job has come."""
        self.info = self._store._request("GET", f"api/v1/images/import_jobs/{self.id}/")
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.25) -> dict:
        """Poll until the job ends; return its report. Raises :class:`InvalidInputError`
        (with ``.report``) when items were refused (nothing written), :class:`BackendError`
        when it failed or was interrupted, ``TimeoutError`` after ``timeout`` seconds."""
        import time

        start = time.monotonic()
        while not self.finished:
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"import job {self.id} still {self.state} after {timeout} s")
            time.sleep(poll)
            poll = min(poll * 1.5, 2.0)
            self.refresh()
        if self.state == "refused":
            err = InvalidInputError(self.info.get("error") or "items refused")
            err.report = self.info.get("report")  # type: ignore[attr-defined]
            raise err
        if self.state != "done":
            kind = {"InvalidInput": InvalidInputError, "TooLarge": TooLargeError,
                    "NotFound": NotFoundError, "PermissionDenied": PermissionDeniedError,
                    "Unsupported": UnsupportedError}.get(str(self.info.get("error_kind")),
                                                         BackendError)
            raise kind(f"import job {self.id} {self.state}: {self.info.get('error')}")
        return dict(self.info["report"])


def _num(v: float) -> Any:
    return int(v) if float(v).is_integer() else v


def _strip(row: dict) -> dict:
    for k in _DERIVED:
        row.pop(k, None)
    return row


def _rows_of_columns(cols: dict, image: int) -> list[dict]:
    import numpy as np

    try:
        types = np.asarray(cols["annotation_type"], dtype=np.int64)
    except KeyError:
        raise InvalidInputError("columns need annotation_type") from None
    if "coords" in cols:
        coords = np.asarray(cols["coords"], dtype=np.float64).reshape(-1, 2)
        offsets = np.asarray(cols["offsets"], dtype=np.int64)
    elif all(k in cols for k in ("x_min", "y_min", "x_max", "y_max")):
        b = np.stack([np.asarray(cols[k], dtype=np.float64)
                      for k in ("x_min", "y_min", "x_max", "y_max")], axis=1)
        coords = b.reshape(-1, 2)
        offsets = np.arange(0, len(coords) + 1, 2, dtype=np.int64)
    else:
        raise InvalidInputError("columns need x_min, y_min, x_max, y_max or offsets and coords")
    n = len(offsets) - 1
    if types.ndim == 0:
        types = np.full(max(n, 0), int(types), dtype=np.int64)
    if not np.isfinite(coords).all():
        raise InvalidInputError("coordinates must be finite")
    rows = []
    for i in range(n):
        nodes = coords[offsets[i]:offsets[i + 1]].tolist()
        vector = {f"{a}{j + 1}": _num(c) for j, (x, y) in enumerate(nodes)
                  for a, c in (("x", x), ("y", y))}
        rows.append({"annotation_type": int(types[i]), "image": image, "vector": vector})
    return rows


def _as_columns(rows: list[dict]) -> dict:
    """The embedded store's column layout, built from rows (see :mod:`exact_wsi.store`)."""
    import numpy as np

    def ts(v: Any) -> Any:
        return np.datetime64(v, "us") if v else np.datetime64("NaT")

    n = len(rows)
    cols: dict = {
        "id": np.array([r["id"] for r in rows], dtype=np.int64),
        "annotation_type": np.array([r["annotation_type"] for r in rows], dtype=np.int64),
        "user": np.array([r.get("user") or 0 for r in rows], dtype=np.int64),
        "last_editor": np.array([r.get("last_editor") or 0 for r in rows], dtype=np.int64),
        "time": np.array([ts(r.get("time")) for r in rows], dtype="datetime64[us]"),
        "last_edit_time": np.array([ts(r.get("last_edit_time")) for r in rows],
                                   dtype="datetime64[us]"),
        "deleted": np.array([bool(r.get("deleted")) for r in rows], dtype=bool),
        "concealed": np.array([bool(r.get("concealed")) for r in rows], dtype=bool),
        "blurred": np.array([bool(r.get("blurred")) for r in rows], dtype=bool),
        "unique_identifier": np.array([str(r.get("unique_identifier") or "") for r in rows],
                                      dtype="S36"),
    }
    frames, offsets, coords, boxes = [], [0], [], []
    for r in rows:
        v = r.get("vector") or {}
        frames.append(int(v.get("frame") or 0))
        nodes = []
        j = 1
        while f"x{j}" in v and f"y{j}" in v:
            nodes.append((float(v[f"x{j}"]), float(v[f"y{j}"])))
            j += 1
        coords.extend(nodes)
        offsets.append(len(coords))
        if nodes:
            xs, ys = [p[0] for p in nodes], [p[1] for p in nodes]
            boxes.append((min(xs), min(ys), max(xs), max(ys)))
        else:
            boxes.append((np.nan,) * 4)
    b = np.array(boxes, dtype=np.float64).reshape(n, 4)
    cols["frame"] = np.array(frames, dtype=np.int64)
    cols["x_min"], cols["y_min"], cols["x_max"], cols["y_max"] = (b[:, k].copy() for k in range(4))
    cols["offsets"] = np.array(offsets, dtype=np.int64)
    cols["coords"] = np.array(coords, dtype=np.float64).reshape(-1, 2)
    return cols


def connect(url: str, *, token: str | None = None, username: str | None = None,
            password: str | None = None, timeout: float = 60.0) -> RemoteStore:
    """A store over the REST API at ``url`` (``http://host:8000``), authenticated by a
    personal access ``token`` (or ``username`` + ``password``), with the methods of
    :class:`exact_wsi.Store`. The server is checked at once: a wrong URL raises
    ``BackendError``, bad credentials ``PermissionDeniedError``."""
    store = RemoteStore(url, token=token, username=username, password=password,
                        timeout=timeout)
    store.user  # noqa: B018 (fail now, not at the first call)
    return store
