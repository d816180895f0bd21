"""The V2 REST routes (``v2_router``): decode the request, call ``V2DataPlane``, encode the answer.

Paths as the Open Inference Protocol names them: ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}[/versions/{v}]``, ``…/ready`` and ``POST …/infer``. Each endpoint is registered once
under both paths (with and without a version). An inference body is JSON, or with the binary tensor data
extension JSON of ``Inference-Header-Content-Length`` bytes followed by the tensors' binary data.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError
from starlette.responses import Response

from service.errors import InvalidInput, ServiceError
from service.metrics import Metrics
from service.v2.dataplane import EXTENSIONS, SERVER_NAME, V2DataPlane
from service.v2.tensors import fp32_bytes, join_bytes_elements, split_bytes_elements
from service.v2.types import (
    InferRequest,
    InferResult,
    check_input_header,
    check_outputs,
    parse_version,
    request_options,
    requested_output,
)

HEADER_LENGTH = "Inference-Header-Content-Length"
JsonParameters = dict[str, StrictBool | StrictInt | StrictFloat | StrictStr]
RequestTimeout = Annotated[float | None, Header(alias="X-Request-Timeout", gt=0, le=3600)]
_INPUT_PARAMETERS = frozenset({"binary_data_size"})


class InputTensorBody(BaseModel):
    """An input tensor of the JSON request."""

    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[int]
    datatype: str
    parameters: JsonParameters = {}
    data: list[Any] | None = None


class RequestedOutputBody(BaseModel):
    """A requested output of the JSON request."""

    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: JsonParameters = {}


class InferRequestBody(BaseModel):
    """The JSON inference request."""

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    parameters: JsonParameters = {}
    inputs: list[InputTensorBody]
    outputs: list[RequestedOutputBody] | None = None


def v2_router(dataplane: V2DataPlane, metrics: Metrics) -> APIRouter:
    """Every V2 route over ``dataplane``."""
    router = APIRouter(tags=["open inference protocol (V2)"])

    def model_route(
        suffix: str, method: str, summary: str
    ) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
        def register(endpoint: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
                router.add_api_route(
                    path + suffix, endpoint, methods=[method], summary=summary, response_class=Response
                )
            return endpoint

        return register

    @router.get("/v2", summary="Server metadata", response_class=Response)
    async def server_metadata() -> Response:
        body = {"name": SERVER_NAME, "version": dataplane.server_version, "extensions": list(EXTENSIONS)}
        return _json(body)

    @router.get("/v2/health/live", summary="Liveness", response_class=Response)
    async def live() -> Response:
        return Response(status_code=200 if await dataplane.live() else 503)

    @router.get("/v2/health/ready", summary="Readiness: every model classified a real sample", response_class=Response)
    async def ready() -> Response:
        if await dataplane.server_ready():
            return Response(status_code=200)
        return _json({"error": "the server is not ready; GET /readyz says why"}, status=503)

    @model_route("", "GET", "Model metadata: versions, platform, input and output (with the label order)")
    async def model_metadata(name: str, version: str = "") -> Response:
        meta = await dataplane.model_metadata(name, parse_version(version))
        # The label order of the probabilities (the spec's tensor metadata allows parameters).
        output = [
            {"name": t.name, "datatype": t.datatype, "shape": t.shape, "parameters": {"labels": meta.labels}}
            for t in meta.outputs
        ]
        body = {
            "name": meta.name,
            "versions": meta.versions,
            "platform": meta.platform,
            "inputs": [{"name": t.name, "datatype": t.datatype, "shape": t.shape} for t in meta.inputs],
            "outputs": output,
            "parameters": {"modality": meta.modality},
        }
        return _json(body)

    @model_route("/ready", "GET", "Model readiness")
    async def model_ready(name: str, version: str = "") -> Response:
        if await dataplane.model_ready(name, parse_version(version)):
            return Response(status_code=200)
        return _json({"error": f"model '{name}' is not ready"}, status=503)

    @model_route("/infer", "POST", "Inference: BYTES input [N] -> FP32 probabilities [N, C] or classification")
    async def infer(
        request: Request, name: str, version: str = "", x_request_timeout: RequestTimeout = None
    ) -> Response:
        started = time.perf_counter()
        status = "ok"
        try:
            decoded = decode_infer_request(
                await request.body(), request.headers.get(HEADER_LENGTH), name, parse_version(version)
            )
        except ServiceError as exc:
            status = type(exc).__name__
            raise
        finally:
            metrics.observe_stage(
                "decode", time.perf_counter() - started, model=name, version=None, surface="v2-rest", status=status
            )
        if x_request_timeout is not None:
            decoded.timeout_s = min(x_request_timeout, decoded.timeout_s or x_request_timeout)
        return encode_infer_result(await dataplane.infer(decoded, "v2-rest"))

    return router


def decode_infer_request(body: bytes, header_length: str | None, model: str, version: int | None) -> InferRequest:
    """The HTTP body (JSON, or JSON + binary data) -> ``InferRequest``; every malformation is InvalidInput."""
    json_part, binary = _split_body(body, header_length)
    try:
        parsed = InferRequestBody.model_validate(orjson.loads(json_part))
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"the request does not match the V2 inference request ({where})") from exc
    binary_outputs, timeout_s = request_options(parsed.parameters)
    if len(parsed.inputs) != 1:
        raise InvalidInput(f"the model takes exactly one input; the request has {len(parsed.inputs)}")
    inputs = _decode_input(parsed.inputs[0], binary)
    if parsed.outputs is None:
        outputs = [requested_output("probabilities", {}, binary_default=binary_outputs)]
    else:
        outputs = [requested_output(o.name, o.parameters, binary_default=binary_outputs) for o in parsed.outputs]
        check_outputs(outputs)
    return InferRequest(model=model, version=version, inputs=inputs, outputs=outputs, id=parsed.id, timeout_s=timeout_s)


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes | memoryview, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    if not header_length.isdigit() or int(header_length) > len(body):
        raise InvalidInput(f"{HEADER_LENGTH} is {header_length!r}; the body has {len(body)} bytes")
    view = memoryview(body)
    return view[: int(header_length)], view[int(header_length) :]


def _decode_input(tensor: InputTensorBody, binary: memoryview) -> list[bytes | str]:
    unknown = sorted(set(tensor.parameters) - _INPUT_PARAMETERS)
    if unknown:
        raise InvalidInput(f"unknown parameter(s) on input '{tensor.name}': {', '.join(unknown)}")
    size = tensor.parameters.get("binary_data_size")
    if size is None:
        if len(binary):
            raise InvalidInput(f"{len(binary)} bytes of binary data follow the JSON, but no input declares them")
        if tensor.data is None:
            raise InvalidInput(f"input '{tensor.name}' has neither 'data' nor a 'binary_data_size' parameter")
        count = check_input_header(tensor.name, tensor.datatype, tensor.shape, len(tensor.data))
        if not all(isinstance(item, str) for item in tensor.data):
            raise InvalidInput(f"input '{tensor.name}': BYTES data in JSON is a flat list of {count} strings")
        return list(tensor.data)
    if tensor.data is not None:
        raise InvalidInput(f"input '{tensor.name}' has both 'data' and a 'binary_data_size' parameter")
    if isinstance(size, bool) or not isinstance(size, int) or size != len(binary):
        raise InvalidInput(f"input '{tensor.name}' declares binary_data_size {size}; {len(binary)} bytes follow")
    count = check_input_header(tensor.name, tensor.datatype, tensor.shape, None)
    return list(split_bytes_elements(binary, count, where=f"input '{tensor.name}'"))


def encode_infer_result(result: InferResult) -> Response:
    """The answer as JSON, or JSON followed by the binary outputs (``Inference-Header-Content-Length``)."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output in result.outputs:
        entry: dict[str, Any] = {"name": output.name, "datatype": output.datatype, "shape": output.shape}
        if output.binary:
            raw = join_bytes_elements(output.data) if isinstance(output.data, list) else fp32_bytes(output.data)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif isinstance(output.data, list):
            entry["data"] = [element.decode() for element in output.data]
        else:
            entry["data"] = output.data.ravel().tolist()
        outputs.append(entry)
    body: dict[str, Any] = {"model_name": result.model, "model_version": str(result.version), "outputs": outputs}
    if result.id:
        body["id"] = result.id
    header = orjson.dumps(body)
    if not chunks:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(chunks),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
