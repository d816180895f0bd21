"""Train/serve parity through REST, and dynamic batching under concurrent single-instance requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest
from rest_support import b64, metric_samples, probabilities_of, reference_probabilities

from training.testing import TINY_LABELS, tiny_input


def _instance(raw: bytes | str) -> dict[str, str]:
    return {"text": raw} if isinstance(raw, str) else {"b64": b64(raw)}


@pytest.mark.parametrize("name", ["tiny-image", "tiny-text", "tiny-audio"])
async def test_rest_answer_equals_the_savedmodel_in_process(
    client: httpx.AsyncClient, tiny_models: Path, name: str
) -> None:
    labels = TINY_LABELS[name]
    raws = [tiny_input(name, label, seed=100 + i) for i, label in enumerate(labels)]

    response = await client.post(f"/v1/models/{name}:classify", json={"instances": [_instance(r) for r in raws]})

    assert response.status_code == 200, response.text
    expected = reference_probabilities(tiny_models / name / "1", raws)
    served = np.stack([probabilities_of(p, labels) for p in response.json()["predictions"]])
    np.testing.assert_allclose(served, expected, atol=1e-5)


def _batch_counts(exposition: str, model: str) -> tuple[float, float]:
    """(model calls, model calls of one row) so far."""
    total = sum(v for s, v in metric_samples(exposition, "classifier_batch_size_count") if s["model"] == model)
    single = sum(
        v
        for s, v in metric_samples(exposition, "classifier_batch_size_bucket")
        if s["model"] == model and float(s["le"]) == 1.0
    )
    return total, single


async def test_concurrent_requests_are_batched_and_answered_in_kind(
    client: httpx.AsyncClient, tiny_models: Path
) -> None:
    name = "tiny-image"
    labels = TINY_LABELS[name]
    raws = [tiny_input(name, labels[i % len(labels)], seed=200 + i) for i in range(48)]
    expected = reference_probabilities(tiny_models / name / "1", raws)
    calls_before, singles_before = _batch_counts((await client.get("/metrics")).text, name)

    responses = await asyncio.gather(
        *(client.post(f"/v1/models/{name}:classify", json={"instances": [_instance(raw)]}) for raw in raws)
    )

    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        [prediction] = response.json()["predictions"]
        np.testing.assert_allclose(probabilities_of(prediction, labels), expected[i], atol=1e-5, err_msg=f"request {i}")
    calls, singles = _batch_counts((await client.get("/metrics")).text, name)
    merged_calls = (calls - calls_before) - (singles - singles_before)
    assert merged_calls >= 1, f"{calls - calls_before} model calls for 48 requests, none with more than one row"
    assert calls - calls_before < 48
