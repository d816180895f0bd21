"""The request's routing key (``X-Routing-Key`` header, ``x-routing-key`` gRPC metadata), in a context variable.

Bound where the request id is bound (the REST middleware and the gRPC interceptor), so every surface
(REST, gRPC, both V2 protocols) carries it to the core without each one passing it by hand. Only a
sane key (the request id's alphabet, at most 128 characters) is kept; anything else counts as no key.
"""

from __future__ import annotations

import contextlib
import re
from contextvars import ContextVar, Token

ROUTING_KEY_HEADER = "X-Routing-Key"
ROUTING_KEY_METADATA = "x-routing-key"
_SANE = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

_current: ContextVar[str | None] = ContextVar("routing_key", default=None)


def accept_routing_key(offered: str | bytes | None) -> str | None:
    """``offered`` when it is a sane key, else None."""
    if isinstance(offered, bytes):
        try:
            offered = offered.decode("ascii")
        except UnicodeDecodeError:
            return None
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return None


def current_routing_key() -> str | None:
    """The routing key of the request handled in this context, if it sent one."""
    return _current.get()


def bind_routing_key(key: str | None) -> Token[str | None]:
    """Make ``key`` current; returns the token ``unbind_routing_key`` takes."""
    return _current.set(key)


def unbind_routing_key(token: Token[str | None]) -> None:
    """Restore what was current before the matching ``bind_routing_key``."""
    # Reset from another context (a cancelled stream) fails; that context ends anyway.
    with contextlib.suppress(ValueError):
        _current.reset(token)
