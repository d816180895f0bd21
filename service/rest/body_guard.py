"""Request bodies under a process-wide byte budget and time limits, and released at once on shutdown.

For every HTTP request with a body, ``BodyGuardMiddleware``

- reserves its declared ``Content-Length`` (or, for a chunked body, each part as it arrives) from the
  classify core's ``ByteBudget`` and releases it when the answer is sent: past the budget the request
  gets 429 with Retry-After before its bytes are held (finding 4);
- gives the body ``body_timeout_s`` in all and ``body_idle_timeout_s`` between two parts; past either,
  408 (finding 8: a body shorter than its Content-Length, or a chunked body without its last chunk,
  held a connection 45-60 s);
- on shutdown (``begin_shutdown``) gives every body still being read ``shutdown_body_grace_s`` more,
  then ends it with 503, so a slow-body client cannot stretch SIGTERM to the whole grace period
  (it stretched it to 35 s) while an upload that is merely in progress still completes;
- marks its own 408 and 503, sent before the body was fully read, ``Connection: close``, so a slow
  client's connection cannot linger. Other early answers (a 413 from the body limit, say) keep the
  connection: the server reads and drops the rest of the body, and the client, still sending, can read
  the answer instead of a reset connection.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.budgets import ByteBudget
from service.errors import RequestTimeout, Unavailable
from service.rest.connection_limits import BODY_READY_EXTENSION
from service.settings import ConnectionLimits

#: Early answers after which the connection is closed: the body was too slow, or the server is stopping.
_CLOSING = frozenset({408, 503})


class ShutdownSignal:
    """Set once when the server begins to stop; from then on a body has ``grace_s`` to finish arriving.

    Bodies being read register their ``asyncio.Timeout`` in ``waiting``; ``begin_shutdown`` brings each
    one's deadline forward to the end of the grace, so no reader needs a second task to watch for it.
    """

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        #: Event-loop time at which the grace ends; None until ``begin_shutdown``.
        self.ends_at: float | None = None
        self.waiting: set[asyncio.Timeout] = set()

    def begin_shutdown(self) -> None:
        """Start the bodies' last grace period."""
        if self.ends_at is None:
            self.ends_at = ends_at = asyncio.get_running_loop().time() + self.grace_s
            for timeout in self.waiting:
                when = timeout.when()
                if when is None or when > ends_at:
                    timeout.reschedule(ends_at)


class BodyGuardMiddleware:
    """Budget, time limits and shutdown for request bodies (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, budget: ByteBudget, limits: ConnectionLimits, shutdown: ShutdownSignal) -> None:
        self.app = app
        self.budget = budget
        self.limits = limits
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        held = 0
        if declared:
            self.budget.reserve(declared)  # Overloaded propagates to the error boundary: 429
            held = declared
        complete = declared == 0
        started = time.monotonic()
        limits = self.limits
        # Set while a part of the body is there to read (our HTTP protocol's extension; absent elsewhere).
        ready: asyncio.Event | None = scope.get("extensions", {}).get(BODY_READY_EXTENSION, {}).get("event")

        async def guarded_receive() -> Message:
            nonlocal held, complete
            if complete:
                return await receive()
            left = min(limits.body_idle_timeout_s, limits.body_timeout_s - (time.monotonic() - started))
            if ready is not None and ready.is_set() and left > 0:
                message = await receive()  # the part has arrived: no timer to arm and cancel
            else:
                message = await self._next(receive, left)
            if message["type"] == "http.request":
                if declared is None:
                    size = len(message.get("body", b""))
                    self.budget.reserve(size)
                    held += size
                complete = not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete and message["status"] in _CLOSING:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, closing_send)
        finally:
            self.budget.release(held)

    async def _next(self, receive: Receive, timeout_s: float) -> Message:
        if timeout_s <= 0:
            raise RequestTimeout(f"the request body did not arrive within {self.limits.body_timeout_s:g}s")
        shutdown = self.shutdown
        # One timer, not a task per read: a body that has already arrived costs a timer set and cancelled.
        stalls_at = asyncio.get_running_loop().time() + timeout_s
        ends_at = shutdown.ends_at
        timeout = asyncio.timeout_at(stalls_at if ends_at is None else min(stalls_at, ends_at))
        shutdown.waiting.add(timeout)
        try:
            async with timeout:
                return await receive()
        except TimeoutError:
            ends_at = shutdown.ends_at
            if ends_at is not None and ends_at < stalls_at:
                raise Unavailable("the server is shutting down and the request body did not arrive in time") from None
            raise self._stalled(timeout_s) from None
        finally:
            shutdown.waiting.discard(timeout)

    def _stalled(self, waited_s: float) -> RequestTimeout:
        limits = self.limits
        return RequestTimeout(
            f"the request body stalled: no part arrived within {waited_s:.3g}s"
            f" (limits: {limits.body_idle_timeout_s:g}s between parts, {limits.body_timeout_s:g}s in all)"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the body limit, which runs first, answers a malformed one
    return None
