"""One model-server replica of the rehearsal: ``python -m loadtest.scaleout.replica --host 127.0.0.2``.

The project's TF-Serving-compatible model server (``service.modelserver``) with a server interceptor that
counts Predict calls. On stdout: ``ready`` once every model is AVAILABLE and the port is open (what a
Kubernetes readiness probe would wait for), then ``traffic T N`` every ``REPORT_S`` in which N > 0 calls
arrived, T being ``time.monotonic()`` (one clock for every process of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from service.backends.base import VersionState
from service.metrics import Metrics
from service.modelserver.server import ModelServer, model_server_settings
from service.settings import Settings

#: How often the traffic counter is reported.
REPORT_S = 0.05


class PredictCounter(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts the Predict calls a replica receives."""

    def __init__(self) -> None:
        self.count = 0

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Count, then hand the call on unchanged."""
        if handler_call_details.method.endswith("/Predict"):
            self.count += 1
        return await continuation(handler_call_details)


async def _report(counter: PredictCounter) -> None:
    while True:
        await asyncio.sleep(REPORT_S)
        if counter.count:
            count, counter.count = counter.count, 0
            print(f"traffic {time.monotonic():.4f} {count}", flush=True)


async def _wait_available(backend: Any) -> None:
    while True:
        statuses = await backend.list_models()
        if statuses and all(any(v.state is VersionState.AVAILABLE for v in s.versions) for s in statuses):
            return
        await asyncio.sleep(0.1)


async def run(models_dir: Path, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully like the model server does."""
    from service.backends.embedded import EmbeddedBackend

    settings = model_server_settings(Settings(models_dir=models_dir, backend="embedded"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    backend = EmbeddedBackend(settings, Metrics())
    await backend.start()
    counter = PredictCounter()
    server = ModelServer(settings, backend, host=host, port=port, interceptors=[counter])
    reporter = asyncio.create_task(_report(counter))
    try:
        await _wait_available(backend)
        await server.start()
        print("ready", flush=True)
        await stop.wait()
    finally:
        await server.stop(settings.request_timeout_s)
        reporter.cancel()
        await backend.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=8500)
    args = parser.parse_args(argv)
    asyncio.run(run(args.models_dir, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
