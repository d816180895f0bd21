"""The rollout endpoints' refusals and access: clean problem+json 4xx for bad requests, the last good policy
kept over a corrupt state file (and said in /readyz), admin keys, and loopback-only without keys."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollout_support import BROKEN, MODEL, SAME, STABLE, classify, report, report_when, start

from service.auth import cli as keys_cli
from service.core.classifier import Classifier
from service.gateway import Gateway
from service.metrics import Metrics
from service.rest.app import create_app
from service.rest.server import RestServer
from service.settings import AuthSettings, RolloutSettings

PROBLEM = "application/problem+json"
START = f"/v1/models/{MODEL}/rollout:start"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:classifier:problem:{slug}" and body["status"] == status, body
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"candidate": 99}, 404, "version-not-found"),
        ({"candidate": BROKEN}, 409, "conflict"),
        ({"candidate": STABLE}, 409, "conflict"),
        ({"candidate": SAME, "canary_weight": 1.5}, 422, "schema-violation"),
        ({"candidate": SAME, "canary_weight": -0.1}, 422, "schema-violation"),
        ({"candidate": SAME, "shadow_rate": 2}, 422, "schema-violation"),
        ({"candidate": "2"}, 422, "schema-violation"),
        ({"candidate": SAME, "auto": {"min_agreement": 7}}, 422, "schema-violation"),
        ({"candidate": SAME, "surprise": 1}, 422, "schema-violation"),
        ({}, 422, "schema-violation"),
    ],
    ids=["unknown", "not-available", "is-stable", "weight>1", "weight<0", "rate>1", "string", "rule", "extra", "empty"],
)
async def test_bad_start_is_a_clean_4xx_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, slug: str
) -> None:
    assert_problem(await client.post(START, json=body), status, slug)

    assert (await report(client))["policy"]["candidate"] is None
    assert await classify(client, "rain") == STABLE


async def test_unknown_model_and_bad_names_are_4xx(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/models/nope/rollout"), 404, "model-not-found")
    assert_problem(await client.post("/v1/models/nope/rollout:start", json={"candidate": 1}), 404, "model-not-found")
    assert_problem(await client.get("/v1/models/bad%20name/rollout"), 422, "schema-violation")
    broken = await client.post(START, content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(broken, 422, "schema-violation")


async def test_promote_or_rollback_without_a_rollout_is_409(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"/v1/models/{MODEL}/rollout:promote"), 409, "conflict")
    assert_problem(await client.post(f"/v1/models/{MODEL}/rollout:rollback"), 409, "conflict")


async def test_corrupt_state_file_keeps_the_last_good_policy(client: httpx.AsyncClient, state_path: Path) -> None:
    await start(client, SAME, canary_weight=1.0)
    good = state_path.read_text()

    state_path.write_text('{"models": {"tiny-text": {"canary_weight": 7')
    ready = await _readyz_when(client, lambda body: "rollout" in body.get("notes", {}))
    body = await report(client)
    still = [await classify(client, "rain") for _ in range(5)]
    state_path.write_text(good.replace('"canary_weight": 1.0', '"canary_weight": 0.0'))
    fixed = await _readyz_when(client, lambda body: "notes" not in body)

    assert ready["ready"] is True  # serving goes on with the last good policy
    assert "last good" in ready["notes"]["rollout"]
    assert body["policy"]["candidate"] == SAME and body["state_error"]
    assert still == [SAME] * 5
    assert fixed["ready"] is True
    assert await classify(client, "rain") == STABLE


async def _readyz_when(client: httpx.AsyncClient, condition: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get("/readyz")).json()
        return body if condition(body) else None

    for _ in range(200):
        body = await check()
        if body is not None:
            return body
        await _pause()
    raise AssertionError("/readyz never met the condition")


async def _pause() -> None:
    await asyncio.sleep(0.05)


@asynccontextmanager
async def second_server(gateway: Gateway, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another REST server on loopback over the same backend, with changed settings."""
    settings = gateway.settings.model_copy(update=changes)
    metrics = Metrics()
    classifier = Classifier(settings, gateway.backend, metrics)
    server = RestServer(
        create_app(settings, classifier, metrics), "127.0.0.1", 0, graceful_timeout_s=5, access_log=False
    )
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        await server.stop()
        classifier.close()


async def test_without_keys_a_non_loopback_gateway_refuses_rollout_control(gateway: Gateway) -> None:
    async with second_server(gateway, host="0.0.0.0") as http:
        body = assert_problem(await http.get(f"/v1/models/{MODEL}/rollout"), 403, "permission-denied")
        assert_problem(await http.post(START, json={"candidate": SAME}), 403, "permission-denied")
        assert "keys" in body["detail"]


async def test_without_a_state_path_rollouts_are_404(gateway: Gateway) -> None:
    async with second_server(gateway, rollout=RolloutSettings()) as http:
        assert_problem(await http.get(f"/v1/models/{MODEL}/rollout"), 404, "not-found")


def _add_key(keys_file: Path, name: str, scope: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert keys_cli.main(["add", "--file", str(keys_file), "--name", name, "--scope", scope]) == 0
    return out.getvalue().strip().splitlines()[-1]


async def test_with_keys_rollout_control_needs_the_admin_scope(
    gateway: Gateway, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    keys_file = tmp_path / "keys.json"
    reader, operator = _add_key(keys_file, "reader", "classify"), _add_key(keys_file, "operator", "admin")
    async with second_server(gateway, host="0.0.0.0", auth=AuthSettings(keys_file=keys_file)) as http:
        anonymous = await http.get(f"/v1/models/{MODEL}/rollout")
        as_reader = await http.post(START, json={"candidate": SAME}, headers={"Authorization": f"Bearer {reader}"})
        as_operator = await http.get(f"/v1/models/{MODEL}/rollout", headers={"Authorization": f"Bearer {operator}"})

    assert_problem(anonymous, 401, "unauthenticated")
    assert_problem(as_reader, 403, "permission-denied")
    assert as_operator.status_code == 200, as_operator.text
    assert as_operator.json()["policy"]["stable"] == STABLE
    assert reader not in as_reader.text
    await report_when(client, lambda r: r["policy"]["candidate"] is None)
