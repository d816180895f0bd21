"""Refusing classify requests under overload as soon as their headers are parsed, before any middleware.

A refusal that goes through the whole ASGI stack (request context, error boundary, auth, body guards,
FastAPI's routing) costs a good part of what serving costs. Under 5x overload the refusals then take
the CPU that admitted requests need, the process falls behind on accepting connections, and clients
wait in the kernel's accept queue, where no admission can see them (finding 5: admitted p50 ~30 s with
the loop itself on time). ``EarlyShed`` is asked by the HTTP protocol (``connection_limits``) when a
request's headers are complete: for a classify path (REST ``:classify``, V2 ``/infer``) it runs the same
admission precheck as the route (``Admission.precheck``: loop lag, queue depth, expected wait against the
request's ``X-Request-Timeout``) and, when that refuses, returns a tiny ASGI app that answers the usual
429 problem document (with ``Retry-After`` and a request id), so the request costs a parse and a write.
Everything else goes on to the app unchanged; the route's own precheck still runs for what passes here.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.admission import Admission
from service.errors import Overloaded
from service.observability.request_ids import REQUEST_ID_HEADER, accept_request_id, bind_request_id
from service.rest.problems import service_error_response

# The model name of a classify path; the rest of the path is checked by the route as usual.
_CLASSIFY_PATH = re.compile(rb"^/v[12]/models/([^/:?]+)(?:/(?:versions|labels)/[^/:?]+)?(?::classify|/infer)(?:\?|$)")


_REQUEST_ID = REQUEST_ID_HEADER.lower().encode("ascii")  # uvicorn hands header names lower-cased


class EarlyShed:
    """Asked once per request with its raw target and headers; an app answering 429, or None to go on."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission

    def __call__(self, target: bytes, headers: list[tuple[bytes, bytes]]) -> ASGIApp | None:
        """The refusal of a classify request that admission would refuse now, else None."""
        match = _CLASSIFY_PATH.match(target)
        if match is None:
            return None
        model = match.group(1).decode("latin-1")
        try:
            self._admission.precheck(model, _timeout(headers))
        except Overloaded as refused:
            return _Refusal(refused, headers)
        return None


def _timeout(headers: list[tuple[bytes, bytes]]) -> float | None:
    for name, value in headers:
        if name == b"x-request-timeout":
            try:
                seconds = float(value)
            except ValueError:
                return None  # the route answers the malformed header with its 422
            return seconds if 0 < seconds <= 3600 else None
    return None


class _Refusal:
    """The 429 of one refused request, as the error table renders it."""

    __slots__ = ("_error", "_offered_id")

    def __init__(self, error: Overloaded, headers: list[tuple[bytes, bytes]]) -> None:
        self._error = error
        self._offered_id = next((v for n, v in headers if n == _REQUEST_ID), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = accept_request_id(self._offered_id)
        bind_request_id(request_id)  # this task's own context: gone with it
        response = service_error_response(self._error, scope["path"])
        response.headers[REQUEST_ID_HEADER] = request_id
        await response(scope, receive, send)
