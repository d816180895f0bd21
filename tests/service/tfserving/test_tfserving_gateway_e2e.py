"""The gateway in TF Serving mode, end to end over the local model server, answers what the embedded path answers."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from tfserving_support import CHUNK_ROWS

from service.core.schemas import ClassifyCall
from training.testing import TINY_LABELS, TINY_MODALITIES, tiny_input

MODELS = list(TINY_MODALITIES)


def _instances(name: str, count: int) -> list[bytes | str]:
    labels = TINY_LABELS[name]
    return [tiny_input(name, labels[i % len(labels)], seed=100 + i) for i in range(count)]


def _json_body(raws: list[bytes | str]) -> dict[str, Any]:
    return {
        "instances": [
            {"text": raw} if isinstance(raw, str) else {"b64": base64.b64encode(raw).decode()} for raw in raws
        ]
    }


def _probabilities(prediction: dict[str, Any], labels: tuple[str, ...]) -> list[float]:
    return [prediction["probabilities"][label] for label in labels]


@pytest.mark.parametrize("name", MODELS)
async def test_classify_equals_embedded_answers(client, embedded_classifier, name):
    raws = _instances(name, CHUNK_ROWS + 2)  # two TF Serving calls of at most CHUNK_ROWS rows

    response = await client.post(f"/v1/models/{name}:classify", json=_json_body(raws))

    assert response.status_code == 200, response.text
    body = response.json()
    reference = await embedded_classifier.classify(ClassifyCall(model=name, inputs=raws))
    assert body["model"] == name and body["version"] == reference.version == 1
    labels = TINY_LABELS[name]
    assert len(body["predictions"]) == len(raws)
    for got, want in zip(body["predictions"], reference.predictions, strict=True):
        assert got["label"] == want.label
        np.testing.assert_allclose(_probabilities(got, labels), [want.probabilities[x] for x in labels], atol=1e-6)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("tiny-image", "image/png"), ("tiny-audio", "audio/wav"), ("tiny-text", "text/plain; charset=utf-8")],
)
async def test_classify_raw_body_predicts_its_label(client, name, content_type):
    label = TINY_LABELS[name][1]
    raw = tiny_input(name, label, seed=7)
    data = raw.encode() if isinstance(raw, str) else raw

    response = await client.post(f"/v1/models/{name}:classify", content=data, headers={"content-type": content_type})

    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == label


async def test_model_list_and_readiness_come_from_tf_serving(client):
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"] == dict.fromkeys(MODELS, "ready")

    listed = await client.get("/v1/models")
    assert listed.status_code == 200
    models = {m["name"]: m for m in listed.json()["models"]}
    assert sorted(models) == sorted(MODELS)
    assert models["tiny-audio"]["modality"] == "audio"
    assert models["tiny-image"]["labels"] == list(TINY_LABELS["tiny-image"])
    assert [v["state"] for v in models["tiny-text"]["versions"]] == ["AVAILABLE"]


async def test_pinned_version_and_label_reach_version_1(client):
    raw = tiny_input("tiny-text", "food")
    pinned = await client.post("/v1/models/tiny-text/versions/1:classify", json=_json_body([raw]))
    labelled = await client.post("/v1/models/tiny-text/labels/stable:classify", json=_json_body([raw]))
    assert pinned.status_code == labelled.status_code == 200
    assert pinned.json()["version"] == labelled.json()["version"] == 1
    assert pinned.json()["predictions"] == labelled.json()["predictions"]


@pytest.mark.parametrize(
    ("path", "body", "status", "slug"),
    [
        ("/v1/models/no-such-model:classify", {"instances": [{"text": "x"}]}, 404, "model-not-found"),
        ("/v1/models/tiny-text/versions/9:classify", {"instances": [{"text": "x"}]}, 404, "version-not-found"),
        ("/v1/models/tiny-image:classify", {"instances": [{"b64": "bm90IGFuIGltYWdl"}]}, 400, "invalid-input"),
    ],
    ids=["unknown-model", "unknown-version", "undecodable-image"],
)
async def test_errors_keep_their_status(client, path, body, status, slug):
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(slug)


async def _batch_metric(client, suffix: str) -> float:
    exposition = (await client.get("/metrics")).text
    prefix = f'classifier_batch_size_{suffix}{{model="tiny-audio",version="1"}} '
    lines = [line for line in exposition.splitlines() if line.startswith(prefix)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


async def test_a_request_larger_than_a_batch_goes_in_chunks(client):
    calls, rows = await _batch_metric(client, "count"), await _batch_metric(client, "sum")

    response = await client.post("/v1/models/tiny-audio:classify", json=_json_body(_instances("tiny-audio", 5)))

    assert response.status_code == 200
    assert await _batch_metric(client, "count") - calls == 2  # 5 rows, at most CHUNK_ROWS (4) per call
    assert await _batch_metric(client, "sum") - rows == 5
