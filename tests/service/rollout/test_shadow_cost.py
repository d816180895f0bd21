"""What shadowing costs the primary path: one gateway process, the same concurrent load with the shadow off
and at 100%; prints each run's p50/p99 and the rollout report. No timed assertion (figures are printed);
it asserts that no request failed and that the 100% run compared what it did not shed."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from rollout_support import MODEL, SAME, STABLE, report, rollout_gateway, start, texts

REQUESTS = 600
CONCURRENCY = 8


async def load(client: httpx.AsyncClient, inputs: list[str]) -> list[float]:
    """``REQUESTS`` unpinned requests from ``CONCURRENCY`` closed-loop users; each one's seconds."""
    seconds: list[float] = []

    async def user(offset: int) -> None:
        for i in range(offset, REQUESTS, CONCURRENCY):
            began = time.perf_counter()
            response = await client.post(
                f"/v1/models/{MODEL}:classify", json={"instances": [{"text": inputs[i % len(inputs)]}]}
            )
            seconds.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text

    await asyncio.gather(*(user(offset) for offset in range(CONCURRENCY)))
    return seconds


@pytest.mark.scenario
async def test_primary_latency_with_shadow_off_and_at_full_rate(tmp_path: Path, tiny_models_template: Path) -> None:
    models = tmp_path / "models"
    for version in (STABLE, SAME):
        shutil.copytree(tiny_models_template / MODEL / "1", models / MODEL / str(version))
    inputs = texts(40, seed=10)
    figures = {}
    # The default shadow bound (2 per process): what an operator gets; the rest is shed and counted.
    async with rollout_gateway(
        models, tmp_path / "rollout.json", CLASSIFIER_ROLLOUT__SHADOW_MAX_CONCURRENT="2"
    ) as client:
        await load(client, inputs)  # warm-up
        for rate in (0.0, 1.0):
            await start(client, SAME, shadow_rate=rate)
            seconds = np.array(await load(client, inputs))
            figures[rate] = (float(np.percentile(seconds, 50)), float(np.percentile(seconds, 99)))
            await asyncio.sleep(1.0)  # the last shadow runs finish
        final = await report(client)

    for rate, (p50, p99) in figures.items():
        print(f"shadow_rate {rate:.0%}: primary p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
              f"({REQUESTS} requests, {CONCURRENCY} concurrent)")  # fmt: skip
    print("rollout report after the 100% run:", json.dumps(final, indent=1))
    assert final["primary"]["requests"] == REQUESTS
    assert final["compared"] + final["shadow_shed"] == REQUESTS
    assert final["compared"] > 0 and final["agreement"] == 1.0
