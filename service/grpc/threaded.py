"""``ThreadPoolServer``: grpc's thread-pool server with the start/stop of a grpc.aio server, serving the same
asyncio handlers through ``service.grpc.bridge`` (``CLASSIFIER_GRPC_SERVER=threads``).

The pool has ``threads`` threads and the server takes at most that many calls at once
(``maximum_concurrent_rpcs``): a call past them gets RESOURCE_EXHAUSTED at once instead of waiting in an
unbounded queue. Streams hold their pool thread for their whole life, and one reader thread each.
The API-key check is the same rule as grpc.aio's interceptor (``AuthInterceptor.gate``), applied when the
handler is looked up, because a sync server's interceptors would have to return sync handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from service.auth.grpc import AuthInterceptor
from service.grpc.bridge import LoopBridge

#: A refused call that streams requests waits this long for the client to finish sending before its
#: status goes out (``LoopBridge.handler``); a client that keeps sending is refused after it anyway.
REFUSED_STREAM_SETTLE_S = 0.5


class BridgedHandlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    """The gateway's (observed, asyncio) handlers, gated by the key check, bridged once per method."""

    def __init__(self, observed: grpc.GenericRpcHandler, gate: AuthInterceptor | None) -> None:
        self._observed = observed
        self._gate = gate
        self._bridged: dict[str, grpc.RpcMethodHandler] = {}
        self.bridge: LoopBridge | None = None  # set at start, when the loop is known

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        bridge = self.bridge
        handler = self._observed.service(handler_call_details)
        if handler is None or bridge is None:
            return None
        if self._gate is not None:
            gated = self._gate.gate(handler, handler_call_details)
            if gated is not handler:  # a refusal: rare, not remembered
                return None if gated is None else bridge.handler(gated, settle_s=REFUSED_STREAM_SETTLE_S)
        method: str = handler_call_details.method
        try:
            return self._bridged[method]
        except KeyError:
            # Only served methods get here: unknown names cannot grow the dict.
            bridged = self._bridged[method] = bridge.handler(handler)
            return bridged


class ThreadPoolServer:
    """grpc's thread-pool server, started and stopped from the event loop whose handlers it serves."""

    def __init__(
        self,
        observed: grpc.GenericRpcHandler,
        *,
        threads: int,
        options: Sequence[tuple[str, Any]],
        gate: AuthInterceptor | None,
    ) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="grpc-call")
        self._readers = ThreadPoolExecutor(threads, thread_name_prefix="grpc-read")
        self._handlers = BridgedHandlers(observed, gate)
        self._server = grpc.server(self._pool, options=list(options), maximum_concurrent_rpcs=threads)
        self._server.add_generic_rpc_handlers((self._handlers,))

    def add_insecure_port(self, address: str) -> int:
        """Bind ``address`` in plaintext; the bound port."""
        return int(self._server.add_insecure_port(address))

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        """Bind ``address`` with TLS; the bound port."""
        return int(self._server.add_secure_port(address, credentials))

    async def start(self) -> None:
        """Accept calls, their behaviour running on this (the running) loop."""
        self._handlers.bridge = LoopBridge(asyncio.get_running_loop(), self._readers)
        self._server.start()

    async def stop(self, grace: float | None) -> None:
        """Refuse new calls, give running ones ``grace`` seconds, then cancel them; the loop keeps running
        meanwhile (the running calls need it)."""
        stopped = self._server.stop(grace)
        await asyncio.to_thread(stopped.wait)
        self._readers.shutdown(wait=False, cancel_futures=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
