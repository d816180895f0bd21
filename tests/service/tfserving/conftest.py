"""Fixtures of the TF Serving mode tests: tiny real models, the local model server, gateways in TF Serving mode.

Chained: ``tiny_models`` -> ``embedded_backend`` (loads them) -> ``model_server`` (TF Serving's gRPC API
over it, in-process on a free port) -> ``tfs_gateway`` (a gateway with ``backend="tfserving"`` calling it,
ready) -> ``client``. ``embedded_classifier`` is the classify core over the embedded backend directly, the
reference the TF Serving path must agree with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tfserving_support import CHUNK_ROWS, gateway_config, model_server_config, running_gateway, serving, wait_available

from service.backends.embedded import EmbeddedBackend
from service.core.classifier import Classifier
from service.gateway import Gateway
from service.metrics import Metrics
from service.modelserver.server import ModelServer
from service.settings import BatchingSettings
from training.testing import TINY_MODALITIES


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """A model repository with tiny-image, tiny-text and tiny-audio version 1 (real SavedModels)."""
    root = tmp_path_factory.mktemp("tfserving-models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
async def embedded_backend(tiny_models: Path) -> AsyncIterator[EmbeddedBackend]:
    """The embedded runtime with every tiny model AVAILABLE."""
    backend = EmbeddedBackend(model_server_config(tiny_models), Metrics())
    await backend.start()
    try:
        await wait_available(backend, list(TINY_MODALITIES))
        yield backend
    finally:
        await backend.close()


@pytest.fixture(scope="session")
async def model_server(embedded_backend: EmbeddedBackend, tiny_models: Path) -> AsyncIterator[ModelServer]:
    """TF Serving's PredictionService and ModelService over the embedded backend, on a free loopback port."""
    async with serving(embedded_backend, model_server_config(tiny_models)) as server:
        yield server


@pytest.fixture(scope="session")
async def tfs_gateway(model_server: ModelServer, tiny_models: Path) -> AsyncIterator[Gateway]:
    """A ready gateway with backend='tfserving' calling the model server; small TF Serving batches."""
    settings = gateway_config(
        tiny_models,
        f"127.0.0.1:{model_server.port}",
        batching=BatchingSettings(max_batch_size=CHUNK_ROWS),
        version_labels={"tiny-text": {"stable": 1}},
    )
    async with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture(scope="session")
async def client(tfs_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the TF Serving mode gateway."""
    async with httpx.AsyncClient(base_url=tfs_gateway.rest.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def embedded_classifier(embedded_backend: EmbeddedBackend, tiny_models: Path) -> Iterator[Classifier]:
    """The classify core straight over the embedded backend: the answers TF Serving mode must equal."""
    classifier = Classifier(model_server_config(tiny_models), embedded_backend, Metrics())
    yield classifier
    classifier.close()
