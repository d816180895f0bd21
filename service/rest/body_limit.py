"""The request body limit, enforced before the body is read.

A declared ``Content-Length`` over the limit is refused at once, without reading a byte; a chunked
body is counted as it streams in and refused as soon as it passes the limit. Either way the answer is
a 413 problem, and no oversized body is ever held in memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidInput, PayloadTooLarge


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with ``PayloadTooLarge``."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # Raised here, before the app runs: the error boundary around this middleware answers it.
            raise PayloadTooLarge(f"the request body has {declared} bytes; the limit is {limit}", limit=limit)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the request body passed the limit of {limit} bytes", limit=limit)
            return message

        await self.app(scope, counting_receive if declared is None else receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError as exc:
                raise InvalidInput("the Content-Length header is not a number") from exc
    return None
