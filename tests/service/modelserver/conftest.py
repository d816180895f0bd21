"""Fixtures of the model server tests: tiny real models, the model server in-process, TF Serving's official stubs.

Chained: ``tiny_models`` -> ``embedded_backend`` -> ``model_server`` (free loopback port, version labels
for tiny-text) -> ``channel`` -> ``prediction_stub`` / ``model_stub`` (tensorflow_serving.apis, unmodified).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from service.backends.embedded import EmbeddedBackend
from service.metrics import Metrics
from service.modelserver.server import ModelServer, model_server_settings
from service.settings import Settings
from training.testing import TINY_MODALITIES

LABELS = {"tiny-text": {"stable": 1, "future": 9}}


def server_settings(models_dir: Path) -> Settings:
    """The model server's settings under test."""
    return model_server_settings(
        Settings(models_dir=models_dir, poll_interval_s=0.2, inference_threads=1, version_labels=LABELS)
    )


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """A model repository with tiny-image, tiny-text and tiny-audio version 1 (real SavedModels)."""
    root = tmp_path_factory.mktemp("modelserver-models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
async def embedded_backend(tiny_models: Path) -> AsyncIterator[EmbeddedBackend]:
    """The embedded runtime with every tiny model AVAILABLE."""
    backend = EmbeddedBackend(server_settings(tiny_models), Metrics())
    await backend.start()
    deadline = time.monotonic() + 120
    while True:
        statuses = {status.name: status for status in await backend.list_models()}
        if all(name in statuses and statuses[name].available() for name in TINY_MODALITIES):
            break
        assert time.monotonic() < deadline, f"tiny models did not load: {statuses}"
        await asyncio.sleep(0.1)
    yield backend
    await backend.close()


@pytest.fixture(scope="session")
async def model_server(embedded_backend: EmbeddedBackend, tiny_models: Path) -> AsyncIterator[ModelServer]:
    """The model server on a free loopback port."""
    server = ModelServer(server_settings(tiny_models), embedded_backend, host="127.0.0.1", port=0)
    await server.start()
    yield server
    await server.stop(None)


@pytest.fixture(scope="session")
async def channel(model_server: ModelServer) -> AsyncIterator[grpc.aio.Channel]:
    """A gRPC channel to the model server."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{model_server.port}") as opened:
        yield opened


@pytest.fixture(scope="session")
def prediction_stub(channel: grpc.aio.Channel) -> Any:
    """TF Serving's official PredictionServiceStub."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="session")
def model_stub(channel: grpc.aio.Channel) -> Any:
    """TF Serving's official ModelServiceStub."""
    from tensorflow_serving.apis import model_service_pb2_grpc

    return model_service_pb2_grpc.ModelServiceStub(channel)
