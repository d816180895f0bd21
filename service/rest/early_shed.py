"""Refusing classify requests under overload as soon as their headers are parsed, before any middleware.

A refusal that goes through the whole ASGI stack (request context, error boundary, auth, body guards,
FastAPI's routing) costs a good part of what serving costs. Under 5x overload the refusals then take
the CPU that admitted requests need, the process falls behind on accepting connections, and clients
wait in the kernel's accept queue, where no admission can see them (finding 5: admitted p50 ~30 s with
the loop itself on time). ``EarlyShed`` is asked by the HTTP protocol (``connection_limits``) when a
request's headers are complete: for a classify path (REST ``:classify``, V2 ``/infer``) it runs the
admission door (``Admission.enter``: loop lag, queue depth, expected wait against the request's
``X-Request-Timeout``). A request let through gets a ``DoorTicket``, which the protocol gives back when its
answer is written (admission counts it ahead of later requests until its slot, and adapts the open slots
to its latency from the door). When the door refuses, it returns the usual 429 problem document (with
``Retry-After`` and a request id) rendered by the one error table, as status, headers and body that the
protocol writes itself: no ASGI task, no middleware, no Starlette response object. A refusal then costs a
parse and a write, about a tenth of what the same 429 costs through the app, which is what keeps a 5x
overload from taking the CPU the admitted requests need. Everything else goes on to the app unchanged;
the route's own precheck still runs for what passes here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from http import HTTPStatus

from service.core.admission import Admission, DoorTicket
from service.errors import Overloaded
from service.observability.request_ids import (
    REQUEST_ID_HEADER,
    accept_request_id,
    bind_request_id,
    unbind_request_id,
)
from service.rest.problems import PROBLEM_MEDIA_TYPE, problem_document

# The model name of a classify path; the rest of the path is checked by the route as usual.
_CLASSIFY_PATH = re.compile(rb"^/v[12]/models/([^/:?]+)(?:/(?:versions|labels)/[^/:?]+)?(?::classify|/infer)(?:\?|$)")


_REQUEST_ID = REQUEST_ID_HEADER.lower().encode("ascii")  # uvicorn hands header names lower-cased
_PROBLEM_TYPE = PROBLEM_MEDIA_TYPE.encode("ascii")


@functools.cache
def _status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode("ascii"))


class EarlyShed:
    """Asked once per request with its raw target and headers: the refusal to write, the ticket of a
    classify request let through, or None for every other request."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission

    def __call__(self, target: bytes, headers: list[tuple[bytes, bytes]]) -> Refusal | DoorTicket | None:
        """The refusal of a classify request that admission refuses now, else its ticket (None: not a
        classify request, or one of a model without a lane yet)."""
        match = _CLASSIFY_PATH.match(target)
        if match is None:
            return None
        model = match.group(1).decode("latin-1")
        try:
            return self._admission.enter(model, _timeout(headers))
        except Overloaded as refused:
            return Refusal.of(refused, target, headers)


def _timeout(headers: list[tuple[bytes, bytes]]) -> float | None:
    for name, value in headers:
        if name == b"x-request-timeout":
            try:
                seconds = float(value)
            except ValueError:
                return None  # the route answers the malformed header with its 422
            return seconds if 0 < seconds <= 3600 else None
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused request's answer, ready for the wire: status line, headers and body."""

    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def of(cls, error: Overloaded, target: bytes, headers: list[tuple[bytes, bytes]]) -> Refusal:
        """The 429 of ``error`` as the error table renders it, with the caller's request id (or a new one).

        Written without a Starlette response: under overload this runs a thousand times a second."""
        request_id = accept_request_id(next((v for n, v in headers if n == _REQUEST_ID), None))
        token = bind_request_id(request_id)  # the problem body takes the id from the context
        try:
            body, retry_after = problem_document(
                status=error.http_status,
                title=error.title,
                slug=error.type_slug(),
                detail=error.detail,
                instance=target.split(b"?", 1)[0].decode("latin-1"),
                extensions=error.extra,
            )
        finally:
            unbind_request_id(token)
        answer_headers = [
            (b"content-type", _PROBLEM_TYPE),
            (b"content-length", b"%d" % len(body)),
            (_REQUEST_ID, request_id.encode("ascii")),
        ]
        if retry_after is not None:
            answer_headers.append((b"retry-after", retry_after.encode("ascii")))
        return cls(status_line=_status_line(error.http_status), headers=answer_headers, body=body)

    def encode(self, extra_headers: list[tuple[bytes, bytes]], *, keep_alive: bool) -> bytes:
        """The whole answer; ``extra_headers`` are the server's own (``date``), and ``connection: close``
        is added when the connection ends after it."""
        lines = [self.status_line]
        for name, value in (*extra_headers, *self.headers):
            lines.append(b"%s: %s\r\n" % (name, value))
        if not keep_alive:
            lines.append(b"connection: close\r\n")
        lines.append(b"\r\n")
        lines.append(self.body)
        return b"".join(lines)
