"""``POST /v1/models/{name}[/versions/{version} | /labels/{label}]:classify``: decode the body, call the core.

The ``:classify`` verb follows TF Serving's REST style (``/v1/models/NAME/versions/N:predict``).
The caller's deadline is the ``X-Request-Timeout`` header, in seconds, like a gRPC deadline travels
with its call; without it the request gets ``settings.request_timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.responses import Response

from service.core.classifier import Classifier
from service.core.names import NAME_PATTERN, VERSION_PATTERN, check_model_name, check_version_label, parse_version
from service.core.schemas import ClassifyCall, ClassifyResponse
from service.errors import ServiceError
from service.metrics import Metrics
from service.rest.openapi import CLASSIFY_REQUEST_BODY, problem_responses
from service.rest.request_parsing import ParsedBody, parse_classify_body
from service.settings import Settings

Endpoint = Callable[..., Awaitable[Response]]


class ClassifyOptions(BaseModel):
    """The optional query and header parameters of the classify routes, validated only when a request
    carries any (most carry none, and skip this work)."""

    model_config = ConfigDict(extra="ignore")

    top_k: int | None = Field(default=None, ge=1, strict=False)
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)


# Where each option comes from, as FastAPI would name it in a validation error's ``loc``.
_OPTION_LOCATIONS = {
    "top_k": ("query", "top_k"),
    "min_confidence": ("query", "min_confidence"),
    "timeout_s": ("header", "X-Request-Timeout"),
}
_NO_OPTIONS = ClassifyOptions()


def classify_options(request: Request) -> ClassifyOptions:
    """``top_k`` and ``min_confidence`` from the query, the deadline from ``X-Request-Timeout``.

    Read by hand instead of through FastAPI's parameter resolution, which cost every request ~10% of
    its CPU; the OpenAPI document still lists them (``_PARAMETERS``) and errors keep FastAPI's shape.
    """
    timeout = request.headers.get("x-request-timeout")
    if not request.scope["query_string"] and timeout is None:
        return _NO_OPTIONS
    query = request.query_params
    raw: dict[str, Any] = {"top_k": query.get("top_k"), "min_confidence": query.get("min_confidence")}
    raw["timeout_s"] = timeout
    try:
        return ClassifyOptions.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        errors = [
            {**error, "loc": _OPTION_LOCATIONS.get(str(error["loc"][0]), error["loc"])}
            for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def _parameter(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema, "description": description}


_PATH = {
    "name": _parameter(
        "name", "path", {"type": "string", "pattern": NAME_PATTERN}, "The model's name, as listed by GET /v1/models."
    ),
    "version": _parameter(
        "version",
        "path",
        {"type": "string", "pattern": VERSION_PATTERN},
        "The model version (its folder name in the repository): a positive integer, no leading zeros.",
    ),
    "label": _parameter(
        "label", "path", {"type": "string", "pattern": NAME_PATTERN}, "A version label such as 'stable' or 'canary'."
    ),
}
for _p in _PATH.values():
    _p["required"] = True
_PARAMETERS = [
    _parameter(
        "top_k",
        "query",
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
        "How many best labels each prediction lists; a body's own top_k wins.",
    ),
    _parameter(
        "min_confidence",
        "query",
        {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
        "Mark answers whose top score is below this abstained; a body's own value wins.",
    ),
    _parameter(
        "X-Request-Timeout",
        "header",
        {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 3600}, {"type": "null"}]},
        "Seconds the caller will wait; past it the answer is 504. Default: the server's setting.",
    ),
]


def answer_encoder() -> Callable[[ClassifyResponse], bytes]:
    """The JSON body of a classify answer: pydantic's serializer of the schema /docs shows.

    Chosen by measurement on the same dataclass answers (pydantic / orjson / msgspec): 2.2 / 3.5 / 1.3 us
    with 2 labels, 3.6 / 6.6 / 3.4 us with 10 labels and top 5. Building the answer without validation
    (plain dataclasses instead of pydantic models) saved ~20 us a request; the encoder choice is worth at
    most 1-3 us, not a new dependency, and this one follows the documented schema by construction.
    """
    return TypeAdapter(ClassifyResponse).dump_json


def classify_router(settings: Settings, classifier: Classifier, metrics: Metrics) -> APIRouter:
    """The three classify routes: newest version, a pinned version, or a version label."""
    router = APIRouter(tags=["classify"])
    encode_answer = answer_encoder()

    def route(path: str, summary: str, *path_parameters: str) -> Callable[[Endpoint], Endpoint]:
        parameters = [_PATH[p] for p in path_parameters] + _PARAMETERS
        return router.post(
            path,
            summary=summary,
            response_class=Response,
            openapi_extra={"requestBody": CLASSIFY_REQUEST_BODY, "parameters": parameters},
            responses={
                200: {"model": ClassifyResponse, "description": "One prediction per instance, in input order."},
                **problem_responses(400, 404, 413, 415, 422, 429, 503, 504),
            },
        )

    async def run(request: Request, model: str, version: int | None, label: str | None) -> Response:
        options = classify_options(request)
        timeout_s = options.timeout_s
        # Before the body is read and before the name becomes a metric label.
        check_model_name(model, ("path", "name"))
        if label is not None:
            check_version_label(label, ("path", "label"))
        # A model whose queue would refuse this request refuses it now, before its body is read.
        classifier.admission.precheck(model, timeout_s)
        parsed = await _decode(request, model)
        call = ClassifyCall(
            model=model,
            version=version,
            version_label=label,
            inputs=parsed.inputs,
            top_k=parsed.top_k or options.top_k,
            min_confidence=parsed.min_confidence if parsed.min_confidence is not None else options.min_confidence,
            timeout_s=timeout_s,
            surface="rest",
        )
        answer = await classifier.classify(call)
        return Response(encode_answer(answer), media_type="application/json")

    async def _decode(request: Request, model: str) -> ParsedBody:
        started = time.perf_counter()
        status = "ok"
        try:
            return await parse_classify_body(request, settings.limits)
        except ServiceError as exc:
            status = type(exc).__name__
            raise
        finally:
            metrics.observe_stage(
                "decode", time.perf_counter() - started, model=model, version=None, surface="rest", status=status
            )

    # Path values arrive as strings; service.core.names checks them, so REST and gRPC share one rule.
    @route("/v1/models/{name}:classify", "Classify with the model's newest available version", "name")
    async def classify(request: Request) -> Response:
        return await run(request, request.path_params["name"], None, None)

    @route("/v1/models/{name}/versions/{version}:classify", "Classify with one pinned version", "name", "version")
    async def classify_version(request: Request) -> Response:
        name = request.path_params["name"]
        check_model_name(name, ("path", "name"))
        return await run(request, name, parse_version(request.path_params["version"]), None)

    @route("/v1/models/{name}/labels/{label}:classify", "Classify with the version a label names", "name", "label")
    async def classify_label(request: Request) -> Response:
        return await run(request, request.path_params["name"], None, request.path_params["label"])

    return router
