"""HTTP/1.1 connection limits that uvicorn does not enforce with httptools: header size, header count and
the time to send them (finding 8).

uvicorn's httptools protocol buffers headers without bound (a 64 MB header was accepted) and arms no
timer before a connection's first request (4,000 slowloris connections were all held).
``guarded_protocol(limits)`` returns its subclass that

- answers ``431 Request Header Fields Too Large`` and closes once a request's headers pass
  ``max_header_bytes``: counted as the parser completes each header, and as bytes arrive while the
  headers are incomplete (so the parser holds at most the limit plus one read);
- answers 431 for more than ``max_headers`` header lines;
- closes a connection whose request headers are not complete ``header_timeout_s`` after the
  connection opened or the request's first byte came (idleness between requests stays uvicorn's
  ``timeout_keep_alive``).

Body time limits live in ``service.rest.body_guard`` (ASGI), where the request is known; the protocol
tells it whether a request's body part has already arrived (``BODY_READY_EXTENSION``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from service.core.admission import DoorTicket, current_ticket
from service.rest.early_shed import Refusal
from service.settings import ConnectionLimits

log = logging.getLogger(__name__)

#: The ASGI extension (a key of ``scope["extensions"]``) this protocol adds to each request. Its ``"event"``
#: is an ``asyncio.Event`` set while the request's ``receive()`` would return at once (a part of the body,
#: or the disconnect, is there): the body guard arms no timer to read a body that has arrived.
BODY_READY_EXTENSION = "classifier.body_ready"

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"request header fields too large"
)


class _HeadersTooLarge(Exception):
    """Raised from the parser callback; httptools turns it into a parser error that ends the request."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size, count and time limits (set by ``guarded_protocol``)."""

    limits: ConnectionLimits = ConnectionLimits()
    #: Asked when a request's headers are complete: the answer refusing it now, or None (``early_shed``).
    shed: Callable[[bytes, list[tuple[bytes, bytes]]], Refusal | DoorTicket | None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_headers = True
        self._headers_completed = 0
        self._header_bytes = 0
        self._header_count = 0
        self._parsed_bytes = 0
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None
        #: The admission ticket of the request being answered (``early_shed``), given back when it ends.
        self._ticket: DoorTicket | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        self._give_back_ticket()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._give_back_ticket()
        super().on_response_complete()

    def _give_back_ticket(self) -> None:
        if self._ticket is not None:
            ticket, self._ticket = self._ticket, None
            ticket.done()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        awaiting, completed = self._awaiting_headers, self._headers_completed
        super().data_received(data)
        # Counted only when the read began and ended inside one request's headers (a read may also hold
        # a body, or finish a request).
        if awaiting and completed == self._headers_completed and not self._refused:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse("header bytes past %d", self.limits.max_header_bytes)

    def on_message_begin(self) -> None:
        # The first byte of a request starts its clock; before it, the keep-alive timeout (or, on a new
        # connection, the timer armed in connection_made) bounds the wait.
        super().on_message_begin()
        self._header_count = 0
        self._parsed_bytes = 0
        self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        if self._parsed_bytes > self.limits.max_header_bytes:
            raise _HeadersTooLarge
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Headers that arrived in one read are counted here, as the parser completes each of them.
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers or self._parsed_bytes > self.limits.max_header_bytes:
            raise _HeadersTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._headers_completed += 1
        self._header_bytes = 0
        self._disarm_header_timer()
        verdict = None
        if self.shed is not None and (self.cycle is None or self.cycle.response_complete):
            verdict = self.shed(self.url, self.headers)
        if isinstance(verdict, Refusal):
            self._answer_at_once(verdict)
            return
        if verdict is None:
            super().on_headers_complete()
        else:
            # The request's task is created (and copies this context) inside uvicorn's handler: it carries
            # the ticket to the request's admission slot.
            self._ticket = verdict
            token = current_ticket.set(verdict)
            try:
                super().on_headers_complete()
            finally:
                current_ticket.reset(token)
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not so after an upgrade
            # The request's task takes its first step on a later loop turn, so this is in its scope in time.
            self.scope.setdefault("extensions", {})[BODY_READY_EXTENSION] = {"event": cycle.message_event}

    def _answer_at_once(self, refusal: Refusal) -> None:
        """Write ``refusal`` now, from the parser's callback, and leave the connection as uvicorn leaves it
        after any answer: the rest of the body is parsed and dropped (the finished cycle tells the body
        callbacks so), and the connection stays open for the next request unless the client asked to close."""
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        self.cycle = RequestResponseCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=False,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=keep_alive,
            on_response=self.on_response_complete,
        )
        self.cycle.response_started = self.cycle.response_complete = True
        self.transport.write(refusal.encode(self.server_state.default_headers, keep_alive=keep_alive))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a parser error with 400; the parser error raised by our callbacks is a 431.
        if self._header_count > self.limits.max_headers:
            self._refuse("more than %d header lines", self.limits.max_headers)
        elif self._parsed_bytes > self.limits.max_header_bytes:
            self._refuse("header bytes past %d", self.limits.max_header_bytes)
        else:
            super().send_400_response(msg)

    def _refuse(self, why: str, limit: int) -> None:
        self._refused = True
        self._disarm_header_timer()
        log.info("431 to %s: " + why, self._peer(), limit)
        self.transport.write(_431)
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and not self.transport.is_closing():
            log.info("closing %s: request headers not complete in %.0fs", self._peer(), self.limits.header_timeout_s)
            self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"


def guarded_protocol(
    limits: ConnectionLimits,
    shed: Callable[[bytes, list[tuple[bytes, bytes]]], Refusal | DoorTicket | None] | None = None,
) -> type[GuardedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` that enforces ``limits`` and asks ``shed`` (if
    given) whether to refuse each request before the app sees it."""
    # staticmethod: a plain function as a class attribute would otherwise be bound to the protocol.
    hook = None if shed is None else staticmethod(shed)
    return type("GuardedHttpTools", (GuardedHttpToolsProtocol,), {"limits": limits, "shed": hook})
