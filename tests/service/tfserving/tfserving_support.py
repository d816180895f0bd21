"""Helpers of the TF Serving mode tests: settings, a model server in-process or as a process, readiness polling."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from gateway_support import running_gateway, wait_ready  # noqa: F401  (re-exported to the suite)

from service.backends.base import ModelBackend, VersionState
from service.modelserver.dataplane import ModelServerDataPlane
from service.modelserver.server import ModelServer, model_server_settings
from service.modelserver.servicers import ModelServicer, PredictionServicer
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
#: Rows per TF Serving call in the session gateway: small, so a request of 6 inputs goes in two chunks.
CHUNK_ROWS = 4


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def model_server_config(models_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test model server: quick repository poll, one inference thread."""
    values: dict[str, Any] = {"models_dir": models_dir, "poll_interval_s": 0.2, "inference_threads": 1}
    values.update(overrides)
    return model_server_settings(Settings(**values))


def gateway_config(models_dir: Path, target: str, **overrides: Any) -> Settings:
    """Settings of a test gateway in TF Serving mode: loopback, free ports, a quick status poll."""
    values: dict[str, Any] = {
        "backend": "tfserving",
        "tfserving_target": target,
        "models_dir": models_dir,
        "host": "127.0.0.1",
        "port": 0,
        "grpc_enabled": False,
        "grpc_port": 0,
        "poll_interval_s": 0.2,
        "preprocess_threads": 2,
    }
    values.update(overrides)
    return Settings(**values)


async def wait_available(backend: ModelBackend, names: list[str], timeout_s: float = 120.0) -> None:
    """Until every model in ``names`` has an AVAILABLE version in ``backend``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            statuses = {s.name: s for s in await backend.list_models()}
        except Exception:
            statuses = {}
        if all(name in statuses and statuses[name].available() for name in names):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not AVAILABLE after {timeout_s}s: {statuses}")
        await asyncio.sleep(0.1)


async def wait_version(backend: ModelBackend, name: str, version: int, timeout_s: float = 120.0) -> None:
    """Until ``version`` of ``name`` is AVAILABLE in ``backend``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = await backend.model_status(name)
            if any(v.version == version and v.state is VersionState.AVAILABLE for v in status.versions):
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} version {version} not AVAILABLE after {timeout_s}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(backend: ModelBackend, settings: Settings, port: int = 0) -> AsyncIterator[ModelServer]:
    """A model server over a started backend on ``port`` (0: a free one), stopped on exit."""
    server = ModelServer(settings, backend, host="127.0.0.1", port=port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(None)


class ModelServerProcess:
    """``python -m service.modelserver`` as a child process on a free port."""

    def __init__(self, models_dir: Path, port: int, **env: str) -> None:
        self.models_dir = models_dir
        self.port = port
        self.env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CLASSIFIER_POLL_INTERVAL_S": "0.2", **env}
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Launch; the caller waits for it to answer."""
        command = [sys.executable, "-m", "service.modelserver", "--models-dir", str(self.models_dir)]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def terminate(self, timeout_s: float = 60.0) -> tuple[int, str]:
        """SIGTERM, wait; returns the exit code and the output."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, output

    def kill(self) -> None:
        """Stop it for good (test clean-up)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


class ScriptedPredictionServicer(PredictionServicer):
    """The model server's PredictionService, but first answering scripted errors, each call after a delay.

    A stand-in for a TF Serving that restarts, refuses or stalls: the calls it counts are the calls the
    gateway really made over the network.
    """

    def __init__(self, dataplane: ModelServerDataPlane, *, delay_s: float = 0.0) -> None:
        super().__init__(dataplane)
        self.failures: list[grpc.StatusCode] = []
        self.delay_s = delay_s
        self.calls = 0

    async def Predict(self, request: Any, context: Any) -> Any:
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            code = self.failures.pop(0)
            await context.abort(code, f"scripted {code.name}")
        return await super().Predict(request, context)


@asynccontextmanager
async def scripted_server(
    backend: ModelBackend, settings: Settings, *, delay_s: float = 0.0
) -> AsyncIterator[tuple[int, ScriptedPredictionServicer]]:
    """A TF-Serving-API server whose Predict is a ScriptedPredictionServicer; yields (port, servicer)."""
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    dataplane = ModelServerDataPlane(settings, backend)
    predictions = ScriptedPredictionServicer(dataplane, delay_s=delay_s)
    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(predictions, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(dataplane), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port, predictions
    finally:
        await server.stop(None)
