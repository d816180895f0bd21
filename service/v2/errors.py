"""V2 errors: the same ``ServiceError`` table (status and gRPC code from the class), V2's body.

REST: every answer on a ``/v2`` path that would be ``application/problem+json`` (raised in a route, by the
body limit or any other middleware, FastAPI's validation, an unknown route, the 500 boundary) is rewritten
to V2's ``{"error": "<the problem's detail>"}`` with the same status and headers, so the V2 routes go
through the same middleware as our own and errors have one source. ``V2ErrorBodyMiddleware`` must be the
app's outermost middleware. gRPC: ``grpc_errors`` aborts with ``service.grpc.errors.status_of``.
"""

from __future__ import annotations

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.rest.problems import PROBLEM_MEDIA_TYPE

V2_PREFIX = "/v2"


def is_v2_path(path: str) -> bool:
    """Whether a request path belongs to the V2 surface."""
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


class V2ErrorBodyMiddleware:
    """Rewrites problem+json answers on ``/v2`` paths to ``{"error": detail}``; other answers pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_v2_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def rewriting_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if headers.get("content-type", "").startswith(PROBLEM_MEDIA_TYPE):
                    held = message  # a problem document: small, held until its body is complete
                    return
            elif message["type"] == "http.response.body" and held is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _send_v2_error(held, bytes(body), send)
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)


async def _send_v2_error(start: Message, problem: bytes, send: Send) -> None:
    try:
        detail = str(orjson.loads(problem).get("detail", ""))
    except (orjson.JSONDecodeError, AttributeError):
        detail = "the request failed"
    content = orjson.dumps({"error": detail})
    headers = MutableHeaders(raw=list(start["headers"]))
    headers["content-type"] = "application/json"
    headers["content-length"] = str(len(content))
    await send({**start, "headers": headers.raw})
    await send({"type": "http.response.body", "body": content})
