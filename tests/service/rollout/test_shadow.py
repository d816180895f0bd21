"""Shadow traffic on a real gateway: identical versions agree, a version trained apart shows exactly the
flips and divergence an offline run of both versions gives, and a failing candidate never touches the answer."""

from __future__ import annotations

from pathlib import Path

import httpx
from rollout_support import (
    FAILING,
    MODEL,
    OTHER,
    SAME,
    STABLE,
    metric_value,
    offline_figures,
    reference_probabilities,
    report_when,
    start,
    texts,
)

from features.contract import read_spec


async def send(client: httpx.AsyncClient, inputs: list[str], per_request: int) -> list[int]:
    """Classify ``inputs`` unpinned, ``per_request`` at a time; the versions that answered."""
    versions = []
    for i in range(0, len(inputs), per_request):
        body = {"instances": [{"text": text} for text in inputs[i : i + per_request]]}
        response = await client.post(f"/v1/models/{MODEL}:classify", json=body)
        assert response.status_code == 200, response.text
        versions.append(response.json()["version"])
    return versions


async def test_shadowing_an_identical_version_agrees_fully(client: httpx.AsyncClient) -> None:
    await start(client, SAME, shadow_rate=1.0)
    inputs = texts(30, seed=1)

    versions = await send(client, inputs, 3)
    body = await report_when(client, lambda r: r["compared"] + r["shadow_shed"] * 3 >= len(inputs))

    assert set(versions) == {STABLE}  # shadowing never changes who answers
    assert body["shadow_shed"] == 0 and body["compared"] == len(inputs)
    assert body["agreement"] == 1.0
    assert body["mean_js_divergence"] < 1e-6
    assert body["flips"] == []
    assert body["primary"]["version"] == STABLE and body["candidate"]["version"] == SAME
    assert body["candidate"]["requests"] == 10 and body["candidate"]["errors"] == 0
    assert body["primary"]["requests"] == 10 and body["primary"]["errors"] == 0
    assert body["processes"] == 1


async def test_shadowing_a_different_version_matches_the_offline_comparison(
    client: httpx.AsyncClient, rollout_models: Path
) -> None:
    await start(client, OTHER, shadow_rate=1.0)
    inputs = texts(48, seed=2)

    await send(client, inputs, 4)
    body = await report_when(client, lambda r: r["compared"] >= len(inputs))

    labels = read_spec(rollout_models / MODEL / str(STABLE)).labels
    primary = reference_probabilities(rollout_models / MODEL / str(STABLE), inputs)
    candidate = reference_probabilities(rollout_models / MODEL / str(OTHER), inputs)
    flips, agreement, divergence = offline_figures(primary, candidate, labels)
    print(f"v{STABLE} vs v{OTHER} on {len(inputs)} inputs: agreement {body['agreement']:.4f}"
          f" mean JS {body['mean_js_divergence']:.5f} flips {body['flips']}")  # fmt: skip
    assert flips, "the versions trained apart must disagree somewhere for this test to mean anything"
    served_flips: dict[str, dict[str, int]] = {}
    for flip in body["flips"]:
        served_flips.setdefault(flip["source"], {})[flip["target"]] = flip["count"]
    assert served_flips == flips
    assert body["agreement"] == agreement
    assert abs(body["mean_js_divergence"] - divergence) < 1e-5
    assert divergence > 1e-3


async def test_failing_candidate_never_touches_the_primary_answer(client: httpx.AsyncClient) -> None:
    await start(client, FAILING, shadow_rate=1.0)

    versions = await send(client, texts(8, seed=3), 1)
    body = await report_when(client, lambda r: r["candidate"] is not None and r["candidate"]["requests"] >= 8)

    assert versions == [STABLE] * 8
    assert body["candidate"]["errors"] == 8 and body["primary"]["errors"] == 0
    assert body["compared"] == 0


async def test_comparison_figures_are_prometheus_metrics(client: httpx.AsyncClient) -> None:
    await start(client, SAME, shadow_rate=1.0)
    await send(client, texts(4, seed=4), 2)
    body = await report_when(client, lambda r: r["compared"] >= 4)

    exposition = (await client.get("/metrics")).text

    pair = {"model": MODEL, "primary": str(STABLE), "candidate": str(SAME)}
    # Counters of the process: every rollout of this pair in this session adds to them.
    assert (metric_value(exposition, "classifier_rollout_compared_total", **pair) or 0) >= body["compared"]
    assert (metric_value(exposition, "classifier_rollout_agreed_total", **pair) or 0) >= body["compared"]
    assert metric_value(exposition, "classifier_rollout_js_divergence_bits_total", **pair) is not None
    side = {"model": MODEL, "version": str(SAME), "side": "candidate", "outcome": "ok"}
    assert (metric_value(exposition, "classifier_rollout_requests_total", **side) or 0) >= 2
