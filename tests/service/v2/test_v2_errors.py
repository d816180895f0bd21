"""Bad V2 requests: the V2 error body with our table's status, the gRPC code of the same table; never a 500."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import grpc
import httpx
import pytest
import tritonclient.grpc.aio as grpcclient_aio
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException
from v2_support import as_elements, samples

INFER = "/v2/models/tiny-text/infer"


def _bytes_input(elements: list[bytes]) -> dict[str, Any]:
    return {"name": "input", "shape": [len(elements)], "datatype": "BYTES", "data": [e.decode() for e in elements]}


def assert_v2_error(response: httpx.Response, status: int, detail_has: str) -> None:
    """V2's ``{"error": ...}`` body (not problem+json), the status of our table, a message that says why."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"], body
    assert detail_has in body["error"], body
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "detail_has"),
    [
        ({"inputs": []}, "exactly one input"),
        ({}, "inputs"),
        ({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hi"]}]}, "unknown input 'text'"),
        ({"inputs": [{"name": "input", "shape": [1], "datatype": "FP32", "data": [1.0]}]}, "datatype FP32"),
        ({"inputs": [{"name": "input", "shape": [1, 1], "datatype": "BYTES", "data": ["hi"]}]}, "shape [1, 1]"),
        ({"inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": ["hi"]}]}, "1 elements"),
        ({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [3]}]}, "strings"),
        ({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES"}]}, "neither 'data'"),
        ({"inputs": [_bytes_input([b"hi"])], "parameters": {"colour": "red"}}, "unknown parameter(s) on the request"),
        ({"inputs": [_bytes_input([b"hi"])], "outputs": [{"name": "logits"}]}, "unknown output 'logits'"),
        (
            {"inputs": [_bytes_input([b"hi"])], "outputs": [{"name": "probabilities", "parameters": {"top": 1}}]},
            "unknown parameter(s) on output",
        ),
        (
            {"inputs": [_bytes_input([b"hi"])], "outputs": [{"name": "probabilities"}, {"name": "probabilities"}]},
            "more than once",
        ),
        ({"inputs": [_bytes_input([b"hi"])], "extra": 1}, "extra"),
    ],
)
async def test_malformed_json_request_is_400(rest: httpx.AsyncClient, body: dict[str, Any], detail_has: str) -> None:
    assert_v2_error(await rest.post(INFER, json=body), 400, detail_has)


async def test_body_that_is_not_json_is_400(rest: httpx.AsyncClient) -> None:
    assert_v2_error(await rest.post(INFER, content=b"{not json"), 400, "not valid JSON")


def _binary_request(payload: bytes, declared: int, shape: int = 1) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": [shape], "datatype": "BYTES", "parameters": {"binary_data_size": declared}}
            ]
        }
    ).encode()
    return header + payload, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize(
    ("payload", "declared", "shape", "detail_has"),
    [
        (struct.pack("<I", 5) + b"hello", 12, 1, "binary_data_size 12"),
        (struct.pack("<I", 50) + b"hello", 9, 1, "declares 50 bytes"),
        (struct.pack("<I", 5) + b"hello" + b"!", 11, 1, "binary_data_size 11"),
        (struct.pack("<I", 5) + b"hello", 9, 2, "missing"),
        (struct.pack("<I", 3) + b"hello", 9, 1, "follow the last"),
    ],
)
async def test_mismatched_binary_sizes_are_400(
    rest: httpx.AsyncClient, payload: bytes, declared: int, shape: int, detail_has: str
) -> None:
    content, headers = _binary_request(payload, declared, shape)

    assert_v2_error(await rest.post(INFER, content=content, headers=headers), 400, detail_has)


async def test_header_length_past_the_body_is_400(rest: httpx.AsyncClient) -> None:
    response = await rest.post(INFER, content=b"{}", headers={"Inference-Header-Content-Length": "99"})

    assert_v2_error(response, 400, "Inference-Header-Content-Length")


async def test_invalid_base64_for_an_image_model_is_400(rest: httpx.AsyncClient) -> None:
    body = {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": ["not base64!"]}]}

    assert_v2_error(await rest.post("/v2/models/tiny-image/infer", json=body), 400, "base64")


async def test_non_utf8_text_is_400(rest: httpx.AsyncClient) -> None:
    content, headers = _binary_request(struct.pack("<I", 2) + b"\xff\xfe", 6)

    assert_v2_error(await rest.post(INFER, content=content, headers=headers), 400, "UTF-8")


async def test_undecodable_image_is_400(rest: httpx.AsyncClient) -> None:
    body = {
        "inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(b"no png").decode()]}]
    }

    assert_v2_error(await rest.post("/v2/models/tiny-image/infer", json=body), 400, "instance 0")


@pytest.mark.parametrize(
    ("path", "status", "detail_has"),
    [
        ("/v2/models/no-such-model/infer", 404, "no-such-model"),
        ("/v2/models/tiny-text/versions/9/infer", 404, "version 9"),
        ("/v2/models/tiny-text/versions/x/infer", 400, "not a positive integer"),
    ],
)
async def test_unknown_model_or_version_is_v2_error(
    rest: httpx.AsyncClient, path: str, status: int, detail_has: str
) -> None:
    assert_v2_error(await rest.post(path, json={"inputs": [_bytes_input([b"hi"])]}), status, detail_has)


async def test_unknown_v2_route_is_404_in_the_v2_body(rest: httpx.AsyncClient) -> None:
    assert_v2_error(await rest.get("/v2/repository/index"), 404, "no route")


async def test_too_many_instances_is_413(rest: httpx.AsyncClient) -> None:
    assert_v2_error(await rest.post(INFER, json={"inputs": [_bytes_input([b"hi"] * 9)]}), 413, "9 instances")


async def test_body_over_the_limit_is_413_before_it_is_read(tight_rest: httpx.AsyncClient) -> None:
    content, headers = _binary_request(bytes(5000), 5000)

    assert_v2_error(await tight_rest.post(INFER, content=content, headers=headers), 413, "limit")


async def test_our_own_routes_keep_problem_json(rest: httpx.AsyncClient) -> None:
    response = await rest.post("/v1/models/no-such-model:classify", json={"instances": [{"text": "hi"}]})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


# -- gRPC: the same table's codes ---------------------------------------------------------------------------


async def _infer(grpc_url: str, request: service_pb2.ModelInferRequest) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(grpc_url) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    return caught.value


def _request(model: str = "tiny-text", **tensor: Any) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    fields = {"name": "input", "datatype": "BYTES", "shape": [1], **tensor}
    contents = fields.pop("contents", [b"hello"])
    added = request.inputs.add(**fields)
    added.contents.bytes_contents.extend(contents)
    return request


@pytest.mark.parametrize(
    ("request_", "code", "detail_has"),
    [
        (_request(datatype="FP32"), grpc.StatusCode.INVALID_ARGUMENT, "datatype FP32"),
        (_request(shape=[2]), grpc.StatusCode.INVALID_ARGUMENT, "1 elements"),
        (_request(name="text"), grpc.StatusCode.INVALID_ARGUMENT, "unknown input"),
        (service_pb2.ModelInferRequest(model_name="tiny-text"), grpc.StatusCode.INVALID_ARGUMENT, "exactly one input"),
        (_request(model="no-such-model"), grpc.StatusCode.NOT_FOUND, "no-such-model"),
        (_request(contents=[b"x"] * 9, shape=[9]), grpc.StatusCode.INVALID_ARGUMENT, "9 instances"),
    ],
)
async def test_bad_grpc_request_has_the_tables_code(
    grpc_url: str, request_: service_pb2.ModelInferRequest, code: grpc.StatusCode, detail_has: str
) -> None:
    error = await _infer(grpc_url, request_)

    assert error.code() == code
    assert detail_has in (error.details() or "")


async def test_grpc_unknown_parameter_and_mismatched_raw_contents(grpc_url: str) -> None:
    with_parameter = _request()
    with_parameter.parameters["colour"].string_param = "red"
    raw = service_pb2.ModelInferRequest(model_name="tiny-text", raw_input_contents=[struct.pack("<I", 9) + b"hi"])
    raw.inputs.add(name="input", datatype="BYTES", shape=[1])

    assert (await _infer(grpc_url, with_parameter)).code() == grpc.StatusCode.INVALID_ARGUMENT
    error = await _infer(grpc_url, raw)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declares 9 bytes" in (error.details() or "")


async def test_grpc_message_over_the_limit_is_resource_exhausted(grpc_url: str, gateway: Any) -> None:
    big = bytes(gateway.settings.grpc_max_message_bytes + 1)

    error = await _infer(grpc_url, _request(contents=[big]))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_tritonclient_sees_the_error_message(grpc_aio: grpcclient_aio.InferenceServerClient) -> None:
    tensor = grpcclient_aio.InferInput("input", [1], "BYTES")
    tensor.set_data_from_numpy(as_elements(samples("tiny-image", 1)))

    with pytest.raises(InferenceServerException) as caught:
        await grpc_aio.infer("tiny-text", [tensor])

    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "UTF-8" in (caught.value.message() or "")
