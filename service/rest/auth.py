"""The REST side of access control: ``AuthMiddleware`` (pure ASGI) and the ``require_scope`` dependency.

The middleware runs before routing, so an unauthenticated request costs no route matching, body
reading or parsing. The scope a path needs comes from ``ROLLOUT_PATH`` and ``SCOPE_BY_PREFIX`` (first
match): ``/v1/models/NAME/rollout[:action]`` and ``/v1/admin/`` (reserved) need ``admin``, the rest of
``/v1/`` needs ``classify``; the page, its assets and the OpenAPI document are open (they carry no data,
and the page must load to ask for a key); probes and metrics are open unless settings close them; any
other path needs a valid key. Refusals are the usual problem+json: 401 with ``WWW-Authenticate: Bearer``,
403, or 429 with ``Retry-After``. The caller's ``Principal`` is left in ``request.state.principal`` for
routes (``require_scope("admin")``) and logs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.auth.access import ADMIN, ANONYMOUS, CLASSIFY, AccessControl, Principal, require
from service.errors import QuotaExceeded, ServiceError, Unauthenticated
from service.rest.problems import service_error_response

#: Always open: the page and its assets, the API description.
ALWAYS_OPEN = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/openapi.json"})
ASSETS_PREFIX = "/ui/"
#: The scope each API path needs, first matching prefix wins; other paths need any valid key.
SCOPE_BY_PREFIX = (("/v1/admin/", ADMIN), ("/v1/", CLASSIFY))
#: The rollout control paths (``service.rest.routes_rollout``) need ``admin`` although they are under /v1/models/.
ROLLOUT_PATH = re.compile(r"/v1/models/[^/]+/rollout(:[a-z]+)?")


def scope_for(path: str) -> str | None:
    """The scope a request path needs (None: any valid key)."""
    if ROLLOUT_PATH.fullmatch(path):
        return ADMIN
    for prefix, scope in SCOPE_BY_PREFIX:
        if path.startswith(prefix):
            return scope
    return None


class AuthMiddleware:
    """Refuses requests without a valid key (401), without the route's scope (403) or over the key's rate (429)."""

    def __init__(self, app: ASGIApp, *, access: AccessControl, open_paths: Iterable[str]) -> None:
        self.app = app
        self.access = access
        self.open_paths = ALWAYS_OPEN | frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in self.open_paths or path.startswith(ASSETS_PREFIX):
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            principal = self.access.check(authorization, scope_for(path))
        except ServiceError as exc:
            response = service_error_response(exc, path)
            if isinstance(exc, Unauthenticated):
                response.headers["WWW-Authenticate"] = 'Bearer realm="classifier"'
            elif isinstance(exc, QuotaExceeded):
                response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def principal_of(request: Request) -> Principal:
    """The authenticated caller of a request; ``ANONYMOUS`` (every scope) when authentication is off."""
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return principal


def require_scope(scope: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency for routes that need ``scope`` (e.g. ``Depends(require_scope("admin"))``)."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        require(principal, scope)
        return principal

    return dependency
