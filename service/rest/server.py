"""``RestServer``: uvicorn run inside the gateway's own event loop, started and stopped on command.

The gateway owns the signals (uvicorn's own handlers would re-raise SIGTERM after shutting down), binds
the socket itself (so a busy port is an ordinary ``OSError`` and port 0 reports the port it got), and
asks uvicorn to stop: close the listener, finish every in-flight request, then return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from service.core.admission import DoorTicket
from service.rest.connection_limits import guarded_protocol
from service.rest.early_shed import Refusal
from service.settings import ConnectionLimits

log = logging.getLogger(__name__)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RestServer:
    """The REST surface as the gateway sees it: ``start()`` binds and serves, ``stop()`` drains."""

    name = "rest"

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        *,
        graceful_timeout_s: int,
        access_log: bool,
        ssl_context: ssl.SSLContext | None = None,
        limits: ConnectionLimits | None = None,
        # Asked per request before the app (service.rest.early_shed): a refusal to write, or None.
        shed: Callable[[bytes, list[tuple[bytes, bytes]]], Refusal | DoorTicket | None] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._host = host
        self._reuse_port = reuse_port
        self._ssl_context = ssl_context
        self._requested_port = port
        self._app = app
        limits = limits or ConnectionLimits()
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",  # the gateway starts and closes the backend around the server
            log_config=None,  # the gateway configures logging
            access_log=access_log,
            server_header=False,
            timeout_graceful_shutdown=graceful_timeout_s,
            # httptools with header size, count and time limits (uvicorn enforces none of them there).
            http=guarded_protocol(limits, shed),
            timeout_keep_alive=max(1, round(limits.keep_alive_s)),
            limit_concurrency=limits.max_connections,
        )
        if ssl_context is not None:
            # uvicorn builds its own context from file names, once; ours (service.tls) reloads in place.
            config.load()
            config.ssl = ssl_context
        self._server = _EmbeddedUvicorn(config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._socket is None:
            raise RuntimeError("the REST server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and begin serving; returns once connections are accepted."""
        self._socket = _listening_socket(self._host, self._requested_port, reuse_port=self._reuse_port)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="rest-server")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the REST server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("REST listening on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to the graceful timeout), close the socket."""
        if self._task is None:
            return
        # Requests still receiving their body would hold the drain for the whole grace period; they end
        # now with 503 (service.rest.body_guard). Requests whose body is in are finished normally.
        shutdown = getattr(self._app.state, "shutdown", None)
        if shutdown is not None:
            shutdown.begin_shutdown()
        self._server.should_exit = True
        await self._task
        self._task = None
        log.info("REST stopped")

    def force_stop(self) -> None:
        """Give up waiting for in-flight requests (a second Ctrl-C)."""
        self._server.force_exit = True


def _listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    # Protocol IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of such sockets, and
    # without it a response's body segment waits for the client's delayed ACK of the headers (~40 ms).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            # Worker processes each bind their own listener on the shared port; the kernel spreads new
            # connections over them (service.workers). Without it a second gateway on the port fails to start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
