"""Fixtures of the access-control tests: one real gateway (REST and gRPC on loopback, embedded backend,
tiny real models) with authentication on, and keys made with the real CLI.

models_dir, keys_file -> gateway (ready) -> rest (no key) / grpc_target
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from auth_support import POLL_S, add_key
from gateway_support import running_gateway

from service.gateway import Gateway
from service.settings import AuthSettings, Settings


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio`` version 1."""
    return copy_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gateway's keys file; tests add their own keys (unique names) while the gateway runs."""
    return tmp_path_factory.mktemp("keys") / "keys.json"


@pytest.fixture(scope="session")
def classify_key(keys_file: Path) -> str:
    """A key with the classify scope and no rate limit, there before the gateway starts."""
    return add_key(keys_file, "reader", "classify")


@pytest.fixture(scope="session")
def admin_key(keys_file: Path, classify_key: str) -> str:
    """A key with the admin scope only."""
    return add_key(keys_file, "operator", "admin")


def auth_settings(models_dir: Path, keys_file: Path, **overrides: object) -> Settings:
    """A loopback gateway with REST and gRPC on free ports and authentication on."""
    values: dict[str, object] = {
        "models_dir": models_dir,
        "port": 0,
        "grpc_port": 0,
        "poll_interval_s": POLL_S,
        "preprocess_threads": 2,
        "inference_threads": 1,
        "version_labels": {"tiny-text": {"stable": 1}},
        "auth": AuthSettings(keys_file=keys_file),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def gateway(models_dir: Path, keys_file: Path, classify_key: str, admin_key: str) -> AsyncIterator[Gateway]:
    """A gateway with authentication on, ready."""
    async with running_gateway(auth_settings(models_dir, keys_file)) as started:
        yield started


@pytest.fixture
async def rest(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the gateway, sending no key unless a test adds one."""
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client:
        yield client
