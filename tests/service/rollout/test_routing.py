"""Weighted canary and sticky routing keys, over REST and gRPC of a real gateway."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import httpx
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from rollout_support import MODEL, SAME, STABLE, classify, start, texts

from service.rollout.policy import ModelRollout
from service.rollout.routing import Router, key_point


async def canary_share(client: httpx.AsyncClient, requests: int) -> tuple[float, Counter[int]]:
    """Send ``requests`` unpinned requests (16 at a time) under a 10% canary; the candidate's share."""
    await start(client, SAME, canary_weight=0.1)
    inputs = texts(20)
    versions: Counter[int] = Counter()

    async def worker(offset: int) -> None:
        for i in range(offset, requests, 16):
            versions[await classify(client, inputs[i % len(inputs)])] += 1

    await asyncio.gather(*(worker(offset) for offset in range(16)))
    share = versions[SAME] / requests
    print(f"canary share of {requests} unpinned requests at weight 0.10: {share:.4f} ({dict(versions)})")
    return share, versions


async def test_canary_of_ten_percent_gets_ten_percent_of_unpinned_requests(client: httpx.AsyncClient) -> None:
    # The draws come from the gateway's seeded generator (settings.rollout.seed), so the count is reproducible.
    share, versions = await canary_share(client, 500)

    assert set(versions) == {STABLE, SAME}
    assert abs(share - 0.10) <= 0.03


@pytest.mark.scenario
async def test_canary_of_ten_percent_gets_ten_percent_of_two_thousand_requests(client: httpx.AsyncClient) -> None:
    share, versions = await canary_share(client, 2000)

    assert set(versions) == {STABLE, SAME}
    assert abs(share - 0.10) <= 0.03


async def test_pinned_version_and_label_requests_are_not_rerouted(client: httpx.AsyncClient) -> None:
    await start(client, SAME, canary_weight=1.0)
    body = {"instances": [{"text": "pizza and bread"}]}

    pinned = await client.post(f"/v1/models/{MODEL}/versions/{STABLE}:classify", json=body)
    stable_label = await client.post(f"/v1/models/{MODEL}/labels/stable:classify", json=body)
    canary_label = await client.post(f"/v1/models/{MODEL}/labels/canary:classify", json=body)
    unpinned = await classify(client, "pizza and bread")

    assert pinned.status_code == 200, pinned.text
    assert stable_label.status_code == 200, stable_label.text
    assert canary_label.status_code == 200, canary_label.text
    assert pinned.json()["version"] == STABLE
    assert stable_label.json()["version"] == STABLE  # the policy's label
    assert canary_label.json()["version"] == SAME
    assert unpinned == SAME


async def test_sticky_keys_never_switch_while_the_weight_is_unchanged(client: httpx.AsyncClient) -> None:
    await start(client, SAME, canary_weight=0.3)
    keys = [f"user-{i}" for i in range(60)]
    first = {key: await classify(client, "rain and snow", key=key) for key in keys}
    for _ in range(2):
        for key in keys:
            assert await classify(client, "goal and match", key=key) == first[key], key
    # Restarting the rollout at the same weight keeps every key where it was.
    await start(client, SAME, canary_weight=0.3)
    again = {key: await classify(client, "rain and snow", key=key) for key in keys}

    assert again == first
    assert set(first.values()) == {STABLE, SAME}  # both sides got keys


async def test_grpc_metadata_key_routes_like_the_rest_header(
    client: httpx.AsyncClient, grpc_channel: grpc.aio.Channel
) -> None:
    await start(client, SAME, canary_weight=0.5)
    stub = pb_grpc.ClassifierStub(grpc_channel)  # type: ignore[no-untyped-call]
    request = pb.ClassifyRequest(model=MODEL, inputs=[pb.Input(text="sunny cloud")])
    for i in range(30):
        key = f"device-{i}"
        answer = await stub.Classify(request, metadata=(("x-routing-key", key),))
        assert answer.version == await classify(client, "sunny cloud", key=key), key


def test_key_point_depends_on_key_and_weight_only() -> None:
    assert key_point("a", 0.1) == key_point("a", 0.1)
    assert key_point("a", 0.1) != key_point("a", 0.2)
    assert 0.0 <= key_point("b", 0.5) < 1.0


def test_seeded_router_splits_two_thousand_draws_by_the_weight() -> None:
    router = Router(seed=3)
    policy = ModelRollout(stable=1, candidate=2, canary_weight=0.1)
    hits = sum(router.to_candidate(policy, None) for _ in range(2000))
    assert abs(hits / 2000 - 0.1) <= 0.03
    assert not any(
        Router(seed=3).to_candidate(policy.model_copy(update={"canary_weight": 0.0}), None) for _ in range(100)
    )
