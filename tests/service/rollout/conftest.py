"""Fixtures of the rollout tests: a repository of tiny-text versions made for rollouts, and one real gateway
(REST and gRPC on loopback, embedded backend) with rollouts on, its state reset before each test.

rollout_models -> gateway (ready) -> client / grpc_channel
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from gateway_support import running_gateway
from rollout_support import BROKEN, FAILING, MODEL, OTHER, SAME, STABLE, ready, report_when, rollout_settings

from service.gateway import Gateway
from service.rollout.policy import ModelRollout, RolloutState
from service.rollout.store import RolloutStore
from training.testing import build_tiny_models


@pytest.fixture(scope="session")
def rollout_models(tmp_path_factory: pytest.TempPathFactory, tiny_models_template: Path) -> Path:
    """tiny-text versions 1 (stable), 2 (a copy of 1), 3 (trained apart, one epoch), 4 (the tiny image
    model: every text input fails) and 5 (a broken folder that never loads)."""
    root = tmp_path_factory.mktemp("rollout-models")
    text = tiny_models_template / MODEL / "1"
    shutil.copytree(text, root / MODEL / str(STABLE))
    shutil.copytree(text, root / MODEL / str(SAME))
    apart = tmp_path_factory.mktemp("retrained")
    build_tiny_models(apart, names=(MODEL,), epochs=1)
    shutil.copytree(apart / MODEL / "1", root / MODEL / str(OTHER))
    shutil.copytree(tiny_models_template / "tiny-image" / "1", root / MODEL / str(FAILING))
    broken = root / MODEL / str(BROKEN)
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    return root


@pytest.fixture(scope="session")
def state_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rollout state file the gateway shares (a writable folder apart from the models)."""
    return tmp_path_factory.mktemp("rollout-state") / "rollout.json"


@pytest.fixture(scope="session")
async def gateway(rollout_models: Path, state_path: Path) -> AsyncIterator[Gateway]:
    """A ready gateway over every tiny-text version, REST and gRPC on free loopback ports."""
    settings = rollout_settings(rollout_models, state_path, grpc_enabled=True)
    async with running_gateway(settings, ready=False) as started:
        await ready(started.rest.url)
        yield started


@pytest.fixture
async def client(gateway: Gateway, state_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A REST client of the gateway, after the rollout state was reset to "version 1 is stable, no candidate"
    (written to the file, as an operator or a ConfigMap would)."""
    fresh = RolloutState(models={MODEL: ModelRollout(stable=STABLE)})
    RolloutStore(state_path).update(lambda _state: fresh)
    async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as http:
        await report_when(http, lambda body: body["policy"] == fresh.models[MODEL].model_dump())
        yield http


@pytest.fixture
async def grpc_channel(gateway: Gateway) -> AsyncIterator[grpc.aio.Channel]:
    """A plain channel to the gateway's gRPC port."""
    async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
        yield channel
