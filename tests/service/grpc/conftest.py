"""Fixtures for the gRPC surface: one real gateway (embedded backend, REST and gRPC on free loopback ports)
over tiny real models, shared by the session; clients and stubs per test.

settings -> gateway (ready: gRPC health SERVING) -> client / stub / rest
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import httpx
import pytest
from classifier_client import AsyncClassifierClient, RetryPolicy
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_support import wait_until

from service.gateway import Gateway
from service.settings import Settings


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio`` version 1, trained and exported once."""
    root = tmp_path_factory.mktemp("models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def settings(models_dir: Path) -> Settings:
    """Loopback, free ports, REST and gRPC, a quick repository poll, a version label for tiny-text."""
    return Settings(
        models_dir=models_dir,
        host="127.0.0.1",
        port=0,
        grpc_enabled=True,
        grpc_host="127.0.0.1",
        grpc_port=0,
        poll_interval_s=0.2,
        preprocess_threads=2,
        inference_threads=1,
        version_labels={"tiny-text": {"stable": 1}},
    )


@pytest.fixture(scope="session")
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """A started gateway whose gRPC health says SERVING (every model passed its self-check)."""
    gateway = Gateway(settings)
    await gateway.start()
    try:
        await wait_until(lambda: gateway.grpc.health.serving, timeout_s=120)
        yield gateway
    finally:
        await gateway.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[AsyncClassifierClient]:
    """The Python client on the gateway's gRPC port, without retries so that errors show at once."""
    async with AsyncClassifierClient(gateway.grpc.address, retry=RetryPolicy(max_attempts=1)) as client:
        yield client


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    """A plain channel to the gateway's gRPC port."""
    async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> pb_grpc.ClassifierStub:
    """The generated stub, for requests the client's helpers would refuse to build."""
    return pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the same gateway's REST port."""
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client:
        yield client
