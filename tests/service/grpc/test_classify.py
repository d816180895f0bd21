"""Classify over gRPC gives the REST answer, for every modality, pinned or not, unary or streamed."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import httpx
import pytest
from classifier_client import AsyncClassifierClient, ClassifyResult, InvalidArgument, NotFound, build_request
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

from training.testing import TINY_LABELS, TINY_MODALITIES, tiny_input


def samples(model: str) -> list[bytes | str]:
    """One fresh sample per label of ``model``."""
    return [tiny_input(model, label, seed=11) for label in TINY_LABELS[model]]


def grpc_inputs(model: str, raw: list[bytes | str]) -> list[pb.Input]:
    kind = TINY_MODALITIES[model]
    if kind == "text":
        return [pb.Input(text=str(item)) for item in raw]
    files = [item for item in raw if isinstance(item, bytes)]
    assert len(files) == len(raw)
    return [pb.Input(image=f) for f in files] if kind == "image" else [pb.Input(audio=f) for f in files]


def rest_instances(raw: list[bytes | str]) -> list[dict[str, str]]:
    return [
        {"text": item} if isinstance(item, str) else {"b64": base64.b64encode(item).decode("ascii")} for item in raw
    ]


def as_json(result: ClassifyResult) -> Any:
    """The client's dataclass in the REST body's shape (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(result)))


@pytest.mark.parametrize("model", sorted(TINY_MODALITIES))
async def test_classify_equals_rest_for_each_modality(
    client: AsyncClassifierClient, rest: httpx.AsyncClient, model: str
) -> None:
    raw = samples(model)

    result = await client.classify(model, grpc_inputs(model, raw), top_k=2)
    response = await rest.post(f"/v1/models/{model}:classify", json={"instances": rest_instances(raw), "top_k": 2})

    assert response.status_code == 200, response.text
    assert as_json(result) == response.json()
    assert len(result.predictions) == len(raw)
    assert all(len(p.top_k) == 2 for p in result.predictions)
    assert list(result.prediction.probabilities) == list(TINY_LABELS[model])


async def test_helpers_classify_each_modality_correctly(client: AsyncClassifierClient) -> None:
    # The tiny models separate their classes; each helper must reach the right one.
    image = await client.classify_image("tiny-image", tiny_input("tiny-image", "cross", seed=3))
    audio = await client.classify_audio("tiny-audio", tiny_input("tiny-audio", "high", seed=3))
    text = await client.classify_text("tiny-text", str(tiny_input("tiny-text", "weather", seed=3)))

    assert (image.prediction.label, audio.prediction.label, text.prediction.label) == ("cross", "high", "weather")
    assert image.model == "tiny-image"
    assert image.version == 1


async def test_pinned_version_and_label_equal_rest(client: AsyncClassifierClient, rest: httpx.AsyncClient) -> None:
    text = "pizza and bread"
    pinned = await client.classify_text("tiny-text", text, version=1)
    labelled = await client.classify_text("tiny-text", text, label="stable")
    response = await rest.post("/v1/models/tiny-text/labels/stable:classify", json={"instances": [{"text": text}]})

    assert pinned == labelled
    assert as_json(labelled) == response.json()


async def test_list_and_get_model_equal_rest(client: AsyncClassifierClient, rest: httpx.AsyncClient) -> None:
    listed = await client.list_models()
    described = await client.get_model("tiny-audio")
    rest_list = (await rest.get("/v1/models")).json()
    rest_model = (await rest.get("/v1/models/tiny-audio")).json()

    assert {"models": [json.loads(json.dumps(dataclasses.asdict(m))) for m in listed]} == rest_list
    assert json.loads(json.dumps(dataclasses.asdict(described))) == rest_model
    assert described.input_limits is not None
    assert described.modality == "audio"


async def test_stream_answers_in_order_like_unary_and_survives_a_bad_request(client: AsyncClassifierClient) -> None:
    texts = [str(tiny_input("tiny-text", label, seed=i)) for i in range(4) for label in TINY_LABELS["tiny-text"]]
    requests = [build_request("tiny-text", [pb.Input(text=t)], top_k=1) for t in texts]
    requests.insert(5, build_request("no-such-model", [pb.Input(text="x")]))
    requests.insert(9, build_request("tiny-image", [pb.Input(image=b"not an image")]))

    items = [item async for item in client.classify_stream(requests, timeout=60)]
    unary = [await client.classify_text("tiny-text", t, top_k=1) for t in texts]

    assert len(items) == len(requests)
    assert isinstance(items[5], NotFound)
    assert isinstance(items[9], InvalidArgument)
    assert "instance 0" in items[9].details
    answers = [item for i, item in enumerate(items) if i not in (5, 9)]
    # Equal up to float rounding: rows batched together run through kernels of another batch size.
    assert [(a.model, a.version, a.prediction.label) for a in answers] == [
        (u.model, u.version, u.prediction.label) for u in unary
    ]
    for answer, alone in zip(answers, unary, strict=True):
        assert answer.prediction.probabilities == pytest.approx(alone.prediction.probabilities, abs=1e-5)


async def test_stream_of_nothing_ends_cleanly(stub: pb_grpc.ClassifierStub) -> None:
    call = stub.ClassifyStream(iter(()), timeout=10)
    assert [message async for message in call] == []


async def test_min_confidence_field_marks_abstained_like_rest(
    stub: pb_grpc.ClassifierStub, rest: httpx.AsyncClient
) -> None:
    raw = samples("tiny-text")
    request = build_request("tiny-text", grpc_inputs("tiny-text", raw), min_confidence=1.0)

    answer = await stub.Classify(request, timeout=10)
    response = await rest.post(
        "/v1/models/tiny-text:classify", json={"instances": rest_instances(raw), "min_confidence": 1.0}
    )

    # Below 1.0 abstains; a score that rounds to exactly 1.0 in float32 does not.
    assert [p.abstained for p in answer.predictions] == [p.score < 1.0 for p in answer.predictions]
    assert any(p.abstained for p in answer.predictions)
    assert [p["abstained"] for p in response.json()["predictions"]] == [p.abstained for p in answer.predictions]
    unset = await stub.Classify(build_request("tiny-text", grpc_inputs("tiny-text", raw)), timeout=10)
    assert not any(p.abstained for p in unset.predictions)
