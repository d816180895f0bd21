"""V2 over REST, driven by Triton's own HTTP clients (blocking and asyncio): every modality, JSON and
binary tensors, with and without the classification extension; answers equal our own API's."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as httpclient_aio
from v2_support import (
    MODELS,
    as_elements,
    as_json_elements,
    assert_same_classification,
    assert_same_probabilities,
    our_answer,
    samples,
)


def _input(raws: list[bytes | str], *, binary: bool) -> httpclient.InferInput:
    tensor = httpclient.InferInput("input", [len(raws)], "BYTES")
    tensor.set_data_from_numpy(as_elements(raws) if binary else as_json_elements(raws), binary_data=binary)
    return tensor


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_infer_blocking_client_equals_our_api(
    http_sync: httpclient.InferenceServerClient, rest: httpx.AsyncClient, model: str, binary: bool
) -> None:
    raws = samples(model, 3)
    output = httpclient.InferRequestedOutput("probabilities", binary_data=binary)

    result = await asyncio.to_thread(http_sync.infer, model, [_input(raws, binary=binary)], outputs=[output])

    assert result.get_response()["model_version"] == "1"
    assert_same_probabilities(result.as_numpy("probabilities"), await our_answer(rest, model, raws))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_classification_extension_asyncio_client_equals_our_top_k(
    http_aio: httpclient_aio.InferenceServerClient, rest: httpx.AsyncClient, model: str, binary: bool
) -> None:
    raws = samples(model, 2)
    output = httpclient_aio.InferRequestedOutput("probabilities", binary_data=binary, class_count=2)

    result = await http_aio.infer(model, [_input(raws, binary=binary)], outputs=[output], request_id="req-7")

    response = result.get_response()
    assert response["id"] == "req-7"
    assert response["outputs"][0]["datatype"] == "BYTES"
    assert_same_classification(result.as_numpy("probabilities"), await our_answer(rest, model, raws), 2)


async def test_no_requested_outputs_answers_binary_probabilities(
    http_aio: httpclient_aio.InferenceServerClient, rest: httpx.AsyncClient
) -> None:
    raws = samples("tiny-text", 2)

    result = await http_aio.infer("tiny-text", [_input(raws, binary=True)])

    assert "binary_data_size" in result.get_response()["outputs"][0]["parameters"]
    assert_same_probabilities(result.as_numpy("probabilities"), await our_answer(rest, "tiny-text", raws))


async def test_pinned_version_is_answered_by_that_version(http_aio: httpclient_aio.InferenceServerClient) -> None:
    result = await http_aio.infer("tiny-audio", [_input(samples("tiny-audio", 1), binary=True)], model_version="1")

    assert result.get_response()["model_version"] == "1"
    assert result.as_numpy("probabilities").shape == (1, 3)


async def test_health_and_metadata_through_the_blocking_client(http_sync: httpclient.InferenceServerClient) -> None:
    def ask() -> tuple[object, ...]:
        return (
            http_sync.is_server_live(),
            http_sync.is_server_ready(),
            http_sync.is_model_ready("tiny-image"),
            http_sync.is_model_ready("tiny-image", "1"),
            http_sync.get_server_metadata(),
            http_sync.get_model_metadata("tiny-image"),
        )

    live, ready, model_ready, version_ready, server, model = await asyncio.to_thread(ask)

    assert (live, ready, model_ready, version_ready) == (True, True, True, True)
    assert server["name"] == "classifier-gateway"
    assert set(server["extensions"]) == {"classification", "binary_tensor_data"}
    assert model["versions"] == ["1"]
    assert model["platform"] == "tensorflow_savedmodel"
    assert model["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    assert model["outputs"][0]["name"] == "probabilities"
    assert model["outputs"][0]["shape"] == [-1, 3]
    assert model["outputs"][0]["parameters"]["labels"] == ["circle", "cross", "square"]
    assert model["parameters"]["modality"] == "image"


async def test_metadata_labels_give_the_probability_order(
    http_aio: httpclient_aio.InferenceServerClient, rest: httpx.AsyncClient
) -> None:
    raws = samples("tiny-text", 3)
    labels = (await http_aio.get_model_metadata("tiny-text"))["outputs"][0]["parameters"]["labels"]

    result = await http_aio.infer("tiny-text", [_input(raws, binary=True)])

    best = [labels[i] for i in np.argmax(result.as_numpy("probabilities"), axis=1)]
    assert best == [p["label"] for p in (await our_answer(rest, "tiny-text", raws))["predictions"]]


async def test_unknown_model_is_not_ready(http_aio: httpclient_aio.InferenceServerClient) -> None:
    assert await http_aio.is_model_ready("no-such-model") is False
