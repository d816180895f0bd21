"""Request ids: taken from the caller's ``X-Request-ID`` (REST) or ``x-request-id`` metadata (gRPC) when sane,
otherwise generated, and kept in a context variable for the life of the request.

Sane means 1 to 128 characters from ``A-Z a-z 0-9 . _ : / + = -``: enough for UUIDs, ULIDs, trace ids and
the ids proxies add, and nothing that could split a log line or a header. Anything else is replaced by a
fresh id, never refused: a bad id must not cost the caller its answer.

The context variable is read by the log filter (``RequestIdLogFilter``), by problem+json bodies and by
the per-prediction records, so nothing passes the id around by hand. Tasks and ``asyncio.to_thread``
copy it; plain ``run_in_executor`` threads do not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from contextvars import ContextVar, Token

#: Header (REST) and metadata key (gRPC, lower case as gRPC requires) that carry the id both ways.
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_METADATA = "x-request-id"
MAX_REQUEST_ID_CHARS = 128
_SANE = re.compile(rf"[A-Za-z0-9._:/+=-]{{1,{MAX_REQUEST_ID_CHARS}}}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 128 random bits from the OS as 32 hex digits (a UUID4 without building the object)."""
    return os.urandom(16).hex()


def accept_request_id(offered: str | bytes | None) -> str:
    """``offered`` when it is a sane id, else a new one."""
    if isinstance(offered, bytes):
        try:
            offered = offered.decode("ascii")
        except UnicodeDecodeError:
            return new_request_id()
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return new_request_id()


def current_request_id() -> str | None:
    """The id of the request being handled in this context, None outside a request."""
    return _current.get()


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` current; returns the token ``unbind_request_id`` takes."""
    return _current.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    """Restore what was current before the matching ``bind_request_id``."""
    # An async generator closed from another context (a cancelled stream) cannot reset; that context ends anyway.
    with contextlib.suppress(ValueError):
        _current.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Stamps ``record.request_id`` (``-`` outside a request) on every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
