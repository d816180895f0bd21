"""The gate on a real gateway: promotion and rollback by hand under load fail no request, the automatic
rule rolls an erroring candidate back at once and promotes an agreeing one, each transition logged."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from rollout_support import FAILING, MODEL, SAME, STABLE, classify, report, report_when, start, texts


async def test_promotion_under_concurrent_load_fails_no_request(client: httpx.AsyncClient) -> None:
    await start(client, SAME, canary_weight=0.5, shadow_rate=0.5)
    inputs = texts(10, seed=5)
    stop = asyncio.Event()
    statuses: list[int] = []
    answered_by: list[int] = []

    async def load() -> None:
        i = 0
        while not stop.is_set():
            response = await client.post(
                f"/v1/models/{MODEL}:classify", json={"instances": [{"text": inputs[i % len(inputs)]}]}
            )
            statuses.append(response.status_code)
            if response.status_code == 200:
                answered_by.append(response.json()["version"])
            i += 1

    workers = [asyncio.create_task(load()) for _ in range(8)]
    await asyncio.sleep(1.0)
    promoted = await client.post(f"/v1/models/{MODEL}/rollout:promote")
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)

    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["policy"]["stable"] == SAME and promoted.json()["policy"]["candidate"] is None
    print(f"{len(statuses)} requests around the promotion: {statuses.count(200)} answered 200")
    assert statuses and set(statuses) == {200}
    assert await classify(client, inputs[0]) == SAME


async def test_rollback_by_hand_returns_every_request_to_stable(client: httpx.AsyncClient) -> None:
    await start(client, SAME, canary_weight=1.0)
    assert await classify(client, "rain") == SAME

    response = await client.post(f"/v1/models/{MODEL}/rollout:rollback")

    assert response.status_code == 200, response.text
    assert response.json()["policy"]["candidate"] is None and response.json()["policy"]["stable"] == STABLE
    assert {await classify(client, "rain") for _ in range(10)} == {STABLE}


async def test_automatic_rule_rolls_an_erroring_candidate_back(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    rule = {"min_requests_for_rollback": 5, "rollback_error_rate": 0.2, "min_compared": 1000}
    await start(client, FAILING, shadow_rate=1.0, auto=rule)
    caplog.set_level(logging.INFO, logger="service.rollout")

    for text in texts(8, seed=6):
        assert await classify(client, text) == STABLE
    body = await report_when(client, lambda r: r["policy"]["candidate"] is None, timeout_s=10)

    assert body["policy"]["stable"] == STABLE
    lines = [r.getMessage() for r in caplog.records if "rollback by rule" in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    assert "candidate error rate" in lines[0] and "compared=" in lines[0] and f"candidate v{FAILING}" in lines[0]


async def test_automatic_rule_promotes_an_agreeing_candidate(client: httpx.AsyncClient) -> None:
    rule = {"min_compared": 12, "min_agreement": 0.99, "p99_margin": 100.0}
    await start(client, SAME, shadow_rate=1.0, auto=rule)

    for text in texts(16, seed=7):
        await classify(client, text)
    body = await report_when(client, lambda r: r["policy"]["candidate"] is None, timeout_s=10)

    assert body["policy"]["stable"] == SAME
    assert (await report(client))["policy"]["auto"] is None
