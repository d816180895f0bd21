"""Fixtures of the REST tests: tiny real models, and real gateways on loopback over the embedded backend.

Chained: ``tiny_models`` -> ``gateway`` (every tiny model, ready) -> ``client``; ``tight_client`` is a
second REST server over the same backend with tiny limits and a deadline that always passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from rest_support import TIGHT_LIMITS, gateway_settings, running_gateway

from service.core.classifier import Classifier
from service.gateway import Gateway
from service.metrics import Metrics
from service.rest.app import create_app
from service.rest.server import RestServer


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """A model repository with tiny-image, tiny-text and tiny-audio version 1 (real SavedModels)."""
    root = tmp_path_factory.mktemp("rest-models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
async def gateway(tiny_models: Path) -> AsyncIterator[Gateway]:
    """A gateway serving every tiny model on a free loopback port, ready."""
    settings = gateway_settings(tiny_models, version_labels={"tiny-text": {"stable": 1, "canary": 7}})
    async with running_gateway(settings) as started:
        yield started


@pytest.fixture(scope="session")
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway's REST server."""
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
async def tight_client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second REST server over the same backend: tiny limits, and an already passed deadline."""
    settings = gateway.settings.model_copy(update={"limits": TIGHT_LIMITS, "request_timeout_s": 1e-9})
    metrics = Metrics()
    classifier = Classifier(settings, gateway.backend, metrics)
    app = create_app(settings, classifier, metrics)
    server = RestServer(app, "127.0.0.1", 0, graceful_timeout_s=5, access_log=False)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield http
    finally:
        await server.stop()
        classifier.close()
