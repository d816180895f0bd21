"""Fixtures of the observability tests: tiny real models and a real gateway (REST and gRPC on loopback).

``models_dir`` -> ``gateway`` (ready) -> ``client`` (REST) / ``channel`` (gRPC).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import httpx
import pytest
from gateway_support import running_gateway
from observability_support import observed_settings

from service.gateway import Gateway


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio`` version 1 (real SavedModels)."""
    return copy_tiny_models(tmp_path_factory.mktemp("observed-models"))


@pytest.fixture(scope="session")
async def gateway(models_dir: Path) -> AsyncIterator[Gateway]:
    """A gateway with REST and gRPC on free loopback ports, every tiny model ready."""
    async with running_gateway(observed_settings(models_dir)) as started:
        yield started


@pytest.fixture(scope="session")
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway's REST server."""
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as http:
        yield http


@pytest.fixture
async def channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to the gateway's gRPC server."""
    async with grpc.aio.insecure_channel(gateway.grpc.address) as opened:
        yield opened
