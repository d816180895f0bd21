"""V2 over gRPC, driven by Triton's own gRPC clients (blocking, asyncio, streaming) and its generated stub:
every modality, raw and typed tensor contents, with and without the classification extension; answers
equal our own API's."""

from __future__ import annotations

import asyncio
import queue

import grpc
import httpx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException
from v2_support import (
    MODELS,
    as_elements,
    assert_same_classification,
    assert_same_probabilities,
    our_answer,
    samples,
)


def _input(raws: list[bytes | str]) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("input", [len(raws)], "BYTES")
    tensor.set_data_from_numpy(as_elements(raws))  # raw_input_contents, length-prefixed elements
    return tensor


@pytest.mark.parametrize("model", MODELS)
async def test_infer_blocking_client_equals_our_api(
    grpc_sync: grpcclient.InferenceServerClient, rest: httpx.AsyncClient, model: str
) -> None:
    raws = samples(model, 3)

    result = await asyncio.to_thread(grpc_sync.infer, model, [_input(raws)])

    assert result.get_response().model_version == "1"
    assert_same_probabilities(result.as_numpy("probabilities"), await our_answer(rest, model, raws))


@pytest.mark.parametrize("model", MODELS)
async def test_classification_extension_asyncio_client_equals_our_top_k(
    grpc_aio: grpcclient_aio.InferenceServerClient, rest: httpx.AsyncClient, model: str
) -> None:
    raws = samples(model, 2)
    output = grpcclient_aio.InferRequestedOutput("probabilities", class_count=3)

    result = await grpc_aio.infer(model, [_input(raws)], outputs=[output], request_id="g-1")

    assert result.get_response().id == "g-1"
    assert_same_classification(result.as_numpy("probabilities"), await our_answer(rest, model, raws), 3)


async def test_bytes_contents_through_tritons_own_stub(grpc_url: str, rest: httpx.AsyncClient) -> None:
    raws = samples("tiny-image", 2)
    request = service_pb2.ModelInferRequest(model_name="tiny-image")
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[2])
    tensor.contents.bytes_contents.extend(as_elements(raws).tolist())

    async with grpc.aio.insecure_channel(grpc_url) as channel:
        response = await service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)

    result = grpcclient.InferResult(response)
    assert_same_probabilities(result.as_numpy("probabilities"), await our_answer(rest, "tiny-image", raws))


async def test_stream_answers_in_order_with_errors_per_request(
    grpc_sync: grpcclient.InferenceServerClient, rest: httpx.AsyncClient
) -> None:
    texts = samples("tiny-text", 3)
    answers: queue.Queue[tuple[object, object]] = queue.Queue()

    def run() -> list[tuple[object, object]]:
        grpc_sync.start_stream(callback=lambda result, error: answers.put((result, error)))
        grpc_sync.async_stream_infer("tiny-text", [_input(texts[:1])], request_id="a")
        grpc_sync.async_stream_infer("no-such-model", [_input(texts[:1])], request_id="b")
        grpc_sync.async_stream_infer("tiny-text", [_input(texts[1:])], request_id="c")
        got = [answers.get(timeout=60) for _ in range(3)]
        grpc_sync.stop_stream()
        return got

    (first, error1), (_, error2), (third, error3) = await asyncio.to_thread(run)

    assert error1 is None and error3 is None
    assert isinstance(error2, InferenceServerException) and "no-such-model" in error2.message()
    assert_same_probabilities(first.as_numpy("probabilities"), await our_answer(rest, "tiny-text", texts[:1]))  # type: ignore[union-attr]
    assert_same_probabilities(third.as_numpy("probabilities"), await our_answer(rest, "tiny-text", texts[1:]))  # type: ignore[union-attr]


async def test_health_and_metadata_through_the_asyncio_client(grpc_aio: grpcclient_aio.InferenceServerClient) -> None:
    assert await grpc_aio.is_server_live()
    assert await grpc_aio.is_server_ready()
    assert await grpc_aio.is_model_ready("tiny-audio")
    assert await grpc_aio.is_model_ready("tiny-audio", "1")
    server = await grpc_aio.get_server_metadata()
    model = await grpc_aio.get_model_metadata("tiny-audio")

    assert server.name == "classifier-gateway"
    assert set(server.extensions) == {"classification", "binary_tensor_data"}
    assert list(model.versions) == ["1"]
    assert model.platform == "tensorflow_savedmodel"
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("input", "BYTES", [-1])]
    assert [(t.name, t.datatype, list(t.shape)) for t in model.outputs] == [("probabilities", "FP32", [-1, 3])]
