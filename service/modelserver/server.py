"""The local model server process: a TF-Serving-compatible gRPC server over the embedded backend.

``ModelServer`` binds the two services to a started backend (tests run it in-process on a free port);
``serve`` is the whole process: load the repository, serve, and on SIGTERM or SIGINT answer every call
already received, stop taking new ones, then unload (all within ``settings.request_timeout_s``).

A graceful stop first waits until the server has been quiet for ``QUIET_S``: gRPC's own stop refuses
(CANCELLED) calls that have arrived but not yet reached a handler, so stopping at once would drop calls
a client has already sent.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import grpc

from service.backends.base import ModelBackend
from service.heap import freeze_after_loads
from service.metrics import Metrics
from service.modelserver.dataplane import ModelServerDataPlane
from service.settings import Settings
from service.tfserving_config import SWAP_MARGIN_VERSIONS

if TYPE_CHECKING:
    from service.modelserver.servicers import ActiveCalls

log = logging.getLogger(__name__)

#: How long no call must be active before a graceful stop closes the server.
QUIET_S = 0.2


class ModelServer:
    """PredictionService and ModelService on ``host:port`` (port 0: a free one) over a started backend."""

    def __init__(
        self,
        settings: Settings,
        backend: ModelBackend,
        *,
        host: str = "127.0.0.1",
        port: int = 8500,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    ) -> None:
        self.settings = settings
        self.interceptors = list(interceptors)  # e.g. the scale-out rehearsal's per-replica traffic counter
        self.backend = backend
        self.host = host
        self.port = port
        self._server: grpc.aio.Server | None = None
        self._calls: ActiveCalls | None = None

    async def start(self) -> int:
        """Start serving; returns the bound port."""
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        from service.modelserver.servicers import ActiveCalls, ModelServicer, PredictionServicer

        limit = self.settings.grpc_max_message_bytes
        server = grpc.aio.server(
            interceptors=self.interceptors,
            options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)],
        )
        dataplane = ModelServerDataPlane(self.settings, self.backend)
        calls = self._calls = ActiveCalls()
        predictions, models = PredictionServicer(dataplane, calls), ModelServicer(dataplane, calls)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(predictions, server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, server)
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        self._server = server
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Answer the calls received, then stop, all within ``grace`` seconds (None: cancel calls now)."""
        if self._server is None:
            return
        server, self._server = self._server, None
        if grace is not None and self._calls is not None:
            started = time.monotonic()
            if not await self._calls.quiet(QUIET_S, grace):
                log.warning("model server: still busy after %.3gs; stopping anyway", grace)
            grace = max(0.0, grace - (time.monotonic() - started))
        await server.stop(grace)


def model_server_settings(settings: Settings) -> Settings:
    """Settings as TF Serving runs with the generated config: every batch waits the batch window (TF Serving's
    ``batch_timeout_micros``), and under policy 'latest' one version more is kept."""
    update: dict[str, object] = {"batching": settings.batching.model_copy(update={"eager_when_idle": False})}
    if settings.version_policy == "latest":
        update["latest_versions"] = settings.latest_versions + SWAP_MARGIN_VERSIONS
    return settings.model_copy(update=update)


async def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the model server until SIGTERM or SIGINT, then shut down gracefully."""
    from service.backends.embedded import EmbeddedBackend

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    backend = EmbeddedBackend(settings, Metrics())
    await backend.start()
    server = ModelServer(settings, backend, host=host, port=port)
    try:
        bound = await server.start()
        log.info("model server: TF Serving API on %s:%d, models from %s", host, bound, settings.models_dir)
        heap_keeper = asyncio.create_task(freeze_after_loads(backend))
        await stop.wait()
        heap_keeper.cancel()
        log.info("model server: stopping; calls in flight get %.3gs", settings.request_timeout_s)
    finally:
        await server.stop(settings.request_timeout_s)
        await backend.close()
    log.info("model server: stopped")
