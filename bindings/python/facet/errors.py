"""facet's errors: one exception class per facet_status, all under facet.Error.

Every error carries the status code and the library's own message (what failed and why, e.g.
"/tmp/x.jpg: JPEG data truncated at byte 4096"); the HTTP client's errors carry the server's
HTTP status, its error code and its message too.
"""
from __future__ import annotations

import enum
from typing import Dict, Optional, Type


class Status(enum.IntEnum):
    """The facet_status codes of include/facet/base.h."""

    OK = 0
    INVALID_ARG = -1
    NO_MEMORY = -2
    IO = -3
    FORMAT = -4
    UNSUPPORTED = -5
    MODEL = -6
    NOT_FOUND = -7
    EXISTS = -8
    LIMIT = -9
    STORE = -10
    INTERNAL = -11


class Error(Exception):
    """A facet call failed. `status` is its Status (an int for codes this package does not know),
    `message` libfacet's (or the server's) explanation, which is also str(error)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        try:
            self.status: int = Status(status)
        except ValueError:
            self.status = status
        self.message = message

    def __repr__(self) -> str:
        return "%s(%s, %r)" % (type(self).__name__, getattr(self.status, "name", self.status), self.message)


class InvalidArgument(Error, ValueError):
    """An argument is missing, out of range or inconsistent (FACET_E_INVALID_ARG)."""


class NoMemory(Error, MemoryError):
    """An allocation failed; nothing was changed (FACET_E_NO_MEMORY)."""


class IOFailure(Error, OSError):
    """A file could not be opened, read or written (FACET_E_IO)."""


class FormatError(Error, ValueError):
    """Input data is corrupt, truncated or not the expected format (FACET_E_FORMAT)."""


class Unsupported(Error):
    """Valid input that this build cannot handle, e.g. a GIF (FACET_E_UNSUPPORTED)."""


class ModelError(Error):
    """A model is missing or faceprints come from different models (FACET_E_MODEL)."""


class NotFound(Error, LookupError):
    """A collection, identity, face or model does not exist (FACET_E_NOT_FOUND)."""


class Exists(Error):
    """The object to create exists already (FACET_E_EXISTS)."""


class LimitExceeded(Error):
    """A configured limit (pixels, sizes, counts, request rate) was exceeded (FACET_E_LIMIT)."""


class StoreError(Error):
    """The database failed or refused the operation (FACET_E_STORE)."""


class InternalError(Error):
    """A bug in facet: please report it with the message (FACET_E_INTERNAL)."""


_BY_STATUS: Dict[int, Type[Error]] = {
    Status.INVALID_ARG: InvalidArgument,
    Status.NO_MEMORY: NoMemory,
    Status.IO: IOFailure,
    Status.FORMAT: FormatError,
    Status.UNSUPPORTED: Unsupported,
    Status.MODEL: ModelError,
    Status.NOT_FOUND: NotFound,
    Status.EXISTS: Exists,
    Status.LIMIT: LimitExceeded,
    Status.STORE: StoreError,
    Status.INTERNAL: InternalError,
}


def _error_for(status: int) -> Type[Error]:
    return _BY_STATUS.get(status, Error)


def error(status: int, message: str) -> Error:
    """The exception for `status` (the matching subclass of Error) carrying `message`."""
    return _error_for(status)(status, message)


class ApiError(Error):
    """facetd answered with an HTTP error. `http_status` is the HTTP code (e.g. 404), `code` the
    server's error code (e.g. "not_found"), `message` its explanation; `status` maps the HTTP
    code to the nearest facet Status. The matching facet class (NotFound, ...) is a base too, so
    `except facet.NotFound` catches a 404 from the server as well as from the library."""

    def __init__(self, http_status: int, code: str, message: str, retry_after: Optional[float] = None):
        super().__init__(_HTTP_TO_STATUS.get(http_status, Status.INTERNAL if http_status >= 500
                                             else Status.INVALID_ARG), message)
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return "HTTP %d %s: %s" % (self.http_status, self.code, self.message)


_HTTP_TO_STATUS = {400: Status.INVALID_ARG, 401: Status.INVALID_ARG, 403: Status.INVALID_ARG,
                   404: Status.NOT_FOUND, 409: Status.EXISTS, 413: Status.LIMIT, 415: Status.UNSUPPORTED,
                   422: Status.FORMAT, 429: Status.LIMIT, 503: Status.STORE}
_API_CLASSES: Dict[int, Type[ApiError]] = {}


def api_error(http_status: int, code: str, message: str, retry_after: Optional[float] = None) -> ApiError:
    """An ApiError that is also an instance of the facet class its HTTP status maps to."""
    status = _HTTP_TO_STATUS.get(http_status)
    base = _BY_STATUS.get(status) if status is not None else None
    if base is None:
        return ApiError(http_status, code, message, retry_after)
    cls = _API_CLASSES.get(http_status)
    if cls is None:
        cls = type("Api" + base.__name__, (ApiError, base), {"__doc__": ApiError.__doc__})
        _API_CLASSES[http_status] = cls
    return cls(http_status, code, message, retry_after)
