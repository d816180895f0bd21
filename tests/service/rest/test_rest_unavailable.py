"""429 when the batch queue is full, and 503 (with readiness saying why) for a model that failed to load.

A gateway of its own: a one-row queue per version, tiny-text, and a ``broken`` model whose only
version is not a SavedModel.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_support import assert_problem, gateway_settings, running_gateway

from service.settings import BatchingSettings


@pytest.fixture(scope="module")
async def strained_client(
    tiny_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    repository = tmp_path_factory.mktemp("strained-models")
    shutil.copytree(tiny_models / "tiny-text", repository / "tiny-text")
    (repository / "broken" / "1").mkdir(parents=True)
    (repository / "broken" / "1" / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    settings = gateway_settings(
        repository, batching=BatchingSettings(max_batch_size=1, max_queued_rows=1, batch_timeout_ms=0)
    )
    async with (
        running_gateway(settings, ready=False) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        await _wait_for(client, "tiny-text", lambda v: v["state"] == "AVAILABLE")
        await _wait_for(client, "broken", lambda v: v["error"] is not None)
        yield client


async def test_request_over_the_queue_bound_is_429_with_retry_after(strained_client: httpx.AsyncClient) -> None:
    one = await strained_client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": "rain"}]})
    two = await strained_client.post(
        "/v1/models/tiny-text:classify", json={"instances": [{"text": "rain"}, {"text": "goal"}]}
    )

    assert one.status_code == 200, one.text
    assert_problem(two, 429, "overloaded")
    assert two.headers["retry-after"] == "1"


async def test_model_without_available_version_is_503(strained_client: httpx.AsyncClient) -> None:
    response = await strained_client.post("/v1/models/broken:classify", json={"instances": [{"text": "rain"}]})
    assert_problem(response, 503, "model-not-ready", detail_has="broken")
    assert response.headers["retry-after"] == "1"


async def test_readyz_is_503_naming_the_model_that_is_not_ready(strained_client: httpx.AsyncClient) -> None:
    response = await strained_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "models": {"broken": "no AVAILABLE version", "tiny-text": "ready"},
    }


async def _wait_for(client: httpx.AsyncClient, model: str, condition: Any, timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        response = await client.get(f"/v1/models/{model}")
        if response.status_code == 200 and any(condition(v) for v in response.json()["versions"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{model} did not reach the expected state: {response.status_code} {response.text}")
