"""``PromptAcceptLoop``: asyncio's selector event loop, reading a new connection's first request one turn
after accepting it instead of three.

asyncio accepts a connection in one turn of the loop, starts a task for it that makes the transport in the
next, calls the protocol's ``connection_made`` and registers the socket for reading in the one after, and
reads its bytes (already waiting: a client sends its request as soon as the handshake is done) in a
fourth. That costs nothing on an idle loop; under an overload each turn lasts tens of milliseconds, and
every client that opens a connection then waits three of them before its request is even seen. Measured
with the overload scenario's generator at 5x (tiny-audio; ten runs with each accept, alternating, the
same accept patched into asyncio for the comparison): in the first 100 ms, when the clients open ~160
connections, refusals took 18-134 ms at the median with asyncio's accept and 9-60 ms with this one; the
first second's 429 p99 went from 39-143 ms to 14-81 ms.

This loop makes the transport in the accepting turn (its ``connection_made`` and the registration run at
the start of the next, as asyncio schedules them) and reads the socket in that same next turn. TLS
listeners, and any accept that fails for a reason other than "nothing left to accept", take asyncio's
own path, which handles them (a handshake; pausing when out of file descriptors). The override uses
private methods of asyncio's selector loop (``_accept_connection``, ``_make_socket_transport``, the
transport's ``_read_ready``): ``loop_factory`` falls back to the plain loop when a Python lacks them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_NOTHING_TO_ACCEPT = (BlockingIOError, InterruptedError, ConnectionAbortedError)


class PromptAcceptLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose plain-TCP servers hand a new connection to its protocol at once."""

    def _accept_connection(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
    ) -> None:
        if sslcontext is not None:
            super()._accept_connection(protocol_factory, sock, sslcontext, server, backlog, *args)  # type: ignore[misc]
            return
        # Called once per turn in which the listening socket is readable: take every waiting connection.
        for _ in range(backlog):
            try:
                conn, address = sock.accept()
            except _NOTHING_TO_ACCEPT:
                return
            except OSError:
                # Out of descriptors or memory: asyncio's path reports it and pauses accepting.
                super()._accept_connection(protocol_factory, sock, sslcontext, server, backlog, *args)  # type: ignore[misc]
                return
            conn.setblocking(False)
            self._hand_over(protocol_factory, conn, address, server)

    def _hand_over(
        self, protocol_factory: Callable[[], asyncio.Protocol], conn: socket.socket, address: Any, server: Any
    ) -> None:
        try:
            protocol = protocol_factory()
            transport = self._make_socket_transport(conn, protocol, extra={"peername": address}, server=server)  # type: ignore[attr-defined]
        except Exception as exc:  # a protocol that cannot be made: this connection only
            conn.close()
            self.call_exception_handler({"message": "could not set up an accepted connection", "exception": exc})
            return
        # Scheduled after the transport's own connection_made and reader registration, in the same turn.
        self.call_soon(transport._read_ready)


def _supported() -> bool:
    from asyncio import selector_events

    base = selector_events.BaseSelectorEventLoop
    transport = getattr(selector_events, "_SelectorSocketTransport", None)
    return all(hasattr(base, name) for name in ("_accept_connection", "_make_socket_transport")) and hasattr(
        transport, "_read_ready"
    )


def loop_factory() -> asyncio.AbstractEventLoop:
    """The gateway's asyncio event loop: ``PromptAcceptLoop`` where this Python's asyncio has the methods it
    overrides, else asyncio's own."""
    if _supported():
        return PromptAcceptLoop()
    log.warning("this Python's asyncio lacks what the prompt accept overrides: asyncio's own accept is used")
    return asyncio.SelectorEventLoop()
