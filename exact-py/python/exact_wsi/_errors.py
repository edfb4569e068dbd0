"""The exception hierarchy of exact_wsi, rooted at :class:`ExactError`.

The native module raises these by error *kind* (never by message text): not-found is also a
``FileNotFoundError`` and a ``KeyError``, invalid input also a ``ValueError``.
"""


class ExactError(Exception):
    """Root of every error exact_wsi raises."""


class NotFoundError(ExactError, FileNotFoundError, KeyError):
    """A slide, level, associated image or record does not exist."""

    # KeyError's str() would quote the message; keep it readable.
    __str__ = Exception.__str__


class InvalidInputError(ExactError, ValueError):
    """An argument is out of range or of the wrong shape."""


class UnsupportedError(ExactError):
    """The file is valid but uses a format or feature exact_wsi does not read."""


class CorruptError(ExactError):
    """The file is damaged or not what its name says."""


class BackendError(ExactError, OSError):
    """The storage (filesystem, S3) failed."""


class ClosedError(ExactError):
    """The slide was closed."""


class AlreadyExistsError(ExactError, ValueError):
    """A unique name or key is already taken (a team name, a global label …)."""


class PermissionDeniedError(ExactError, PermissionError):
    """The acting user may see the object but not do this to it."""


class ConflictError(ExactError):
    """Another writer changed the object first; retrying may succeed."""


class NotReadyError(ExactError):
    """The image exists but its pixels are not ready yet (being converted); retry later."""


class UnservableError(ExactError):
    """The image exists but its pixels cannot be served (its conversion failed, its file is
    damaged); retrying will not help."""


class TooLargeError(InvalidInputError):
    """The input is larger than a configured limit (an upload beyond the upload limit)."""


class StoreInUseError(BackendError):
    """The data directory is locked by another process (``exact serve``, another notebook).

    sled allows one process per directory: stop the other process, or talk to it over HTTP."""
