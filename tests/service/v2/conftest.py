"""Fixtures of the V2 (Open Inference Protocol) tests: one real gateway, REST and gRPC on free loopback
ports, over the tiny real models; Triton's own clients (``tritonclient``) and a plain HTTP client on it.

tiny_models -> gateway (ready) -> http_url / grpc_url -> tritonclient clients, ``rest`` (httpx)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcclient_aio
import tritonclient.http as httpclient
import tritonclient.http.aio as httpclient_aio
from gateway_support import running_gateway

from service.core.classifier import Classifier
from service.gateway import Gateway
from service.metrics import Metrics
from service.rest.app import create_app
from service.rest.server import RestServer
from service.settings import RequestLimits, Settings


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """tiny-image, tiny-text and tiny-audio version 1 (real SavedModels)."""
    return copy_tiny_models(tmp_path_factory.mktemp("v2-models"))


@pytest.fixture(scope="session")
async def gateway(tiny_models: Path) -> AsyncIterator[Gateway]:
    """A ready gateway with REST and gRPC; small body and instance limits so the 413s are cheap to reach."""
    settings = Settings(
        models_dir=tiny_models,
        host="127.0.0.1",
        port=0,
        grpc_enabled=True,
        grpc_host="127.0.0.1",
        grpc_port=0,
        poll_interval_s=0.2,
        preprocess_threads=2,
        inference_threads=1,
        limits=RequestLimits(max_body_bytes=256 * 1024, max_instances=8),
        grpc_max_message_bytes=1024 * 1024,
    )
    async with running_gateway(settings) as started:
        yield started


@pytest.fixture(scope="session")
def http_url(gateway: Gateway) -> str:
    """host:port of the REST surface, as tritonclient takes it."""
    return gateway.rest.url.removeprefix("http://")


@pytest.fixture(scope="session")
def grpc_url(gateway: Gateway) -> str:
    """host:port of the gRPC surface."""
    return gateway.grpc.address


@pytest.fixture
def http_sync(http_url: str) -> Iterator[httpclient.InferenceServerClient]:
    """Triton's blocking HTTP client; call it through ``asyncio.to_thread`` (the gateway runs on this loop)."""
    client = httpclient.InferenceServerClient(http_url, network_timeout=60)
    yield client
    client.close()


@pytest.fixture
def grpc_sync(grpc_url: str) -> Iterator[grpcclient.InferenceServerClient]:
    """Triton's blocking gRPC client; call it through ``asyncio.to_thread``."""
    client = grpcclient.InferenceServerClient(grpc_url)
    yield client
    client.close()


@pytest.fixture
async def http_aio(http_url: str) -> AsyncIterator[httpclient_aio.InferenceServerClient]:
    """Triton's asyncio HTTP client."""
    client = httpclient_aio.InferenceServerClient(http_url)
    yield client
    await client.close()


@pytest.fixture
async def grpc_aio(grpc_url: str) -> AsyncIterator[grpcclient_aio.InferenceServerClient]:
    """Triton's asyncio gRPC client."""
    client = grpcclient_aio.InferenceServerClient(grpc_url)
    yield client
    await client.close()


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client: our own API, and V2 requests tritonclient would refuse to build."""
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
async def tight_rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second REST server over the same backend with a 4 KiB body limit."""
    settings = gateway.settings.model_copy(update={"limits": RequestLimits(max_body_bytes=4096)})
    metrics = Metrics()
    classifier = Classifier(settings, gateway.backend, metrics)
    server = RestServer(
        create_app(settings, classifier, metrics), "127.0.0.1", 0, graceful_timeout_s=5, access_log=False
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        await server.stop()
        classifier.close()
