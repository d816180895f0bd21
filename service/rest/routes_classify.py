"""``POST /v1/models/{name}[/versions/{version} | /labels/{label}]:classify``: decode the body, call the core.

The ``:classify`` verb follows TF Serving's REST style (``/v1/models/NAME/versions/N:predict``).
The caller's deadline is the ``X-Request-Timeout`` header, in seconds, like a gRPC deadline travels
with its call; without it the request gets ``settings.request_timeout_s``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
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
ModelName = Annotated[
    str,
    Path(
        description="The model's name, as listed by GET /v1/models.",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]
# The patterns are checked by service.core.names, not by FastAPI, so that REST and gRPC refuse a
# malformed name by one rule; the OpenAPI document still states them.
VersionText = Annotated[
    str,
    Path(
        description="The model version (its folder name in the repository): a positive integer, no leading zeros.",
        json_schema_extra={"pattern": VERSION_PATTERN},
    ),
]
LabelText = Annotated[
    str,
    Path(description="A version label such as 'stable' or 'canary'.", json_schema_extra={"pattern": NAME_PATTERN}),
]
TopK = Annotated[
    int | None,
    Query(ge=1, description="How many best labels each prediction lists; a body's own top_k wins."),
]
MinConfidence = Annotated[
    float | None,
    Query(ge=0, le=1, description="Mark answers whose top score is below this abstained; a body's own value wins."),
]
RequestTimeout = Annotated[
    float | None,
    Header(
        alias="X-Request-Timeout",
        gt=0,
        le=3600,
        description="Seconds the caller will wait; past it the answer is 504. Default: the server's setting.",
    ),
]


def classify_router(settings: Settings, classifier: Classifier, metrics: Metrics) -> APIRouter:
    """The three classify routes: newest version, a pinned version, or a version label."""
    router = APIRouter(tags=["classify"])

    def route(path: str, summary: str) -> Callable[[Endpoint], Endpoint]:
        return router.post(
            path,
            summary=summary,
            response_class=Response,
            openapi_extra={"requestBody": CLASSIFY_REQUEST_BODY},
            responses={
                200: {"model": ClassifyResponse, "description": "One prediction per instance, in input order."},
                **problem_responses(400, 404, 413, 415, 422, 429, 503, 504),
            },
        )

    async def run(
        request: Request,
        model: str,
        version: int | None,
        label: str | None,
        top_k: int | None,
        timeout_s: float | None,
        min_confidence: float | None = None,
    ) -> Response:
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
            top_k=parsed.top_k or top_k,
            min_confidence=parsed.min_confidence if parsed.min_confidence is not None else min_confidence,
            timeout_s=timeout_s,
            surface="rest",
        )
        answer = await classifier.classify(call)
        # Serialised by pydantic's core straight to bytes: no second validation, no dict round trip.
        return Response(answer.model_dump_json(), media_type="application/json")

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

    @route("/v1/models/{name}:classify", "Classify with the model's newest available version")
    async def classify(
        request: Request,
        name: ModelName,
        top_k: TopK = None,
        min_confidence: MinConfidence = None,
        x_request_timeout: RequestTimeout = None,
    ) -> Response:
        return await run(request, name, None, None, top_k, x_request_timeout, min_confidence)

    @route("/v1/models/{name}/versions/{version}:classify", "Classify with one pinned version")
    async def classify_version(
        request: Request,
        name: ModelName,
        version: VersionText,
        top_k: TopK = None,
        min_confidence: MinConfidence = None,
        x_request_timeout: RequestTimeout = None,
    ) -> Response:
        check_model_name(name, ("path", "name"))
        return await run(request, name, parse_version(version), None, top_k, x_request_timeout, min_confidence)

    @route("/v1/models/{name}/labels/{label}:classify", "Classify with the version a label names")
    async def classify_label(
        request: Request,
        name: ModelName,
        label: LabelText,
        top_k: TopK = None,
        min_confidence: MinConfidence = None,
        x_request_timeout: RequestTimeout = None,
    ) -> Response:
        return await run(request, name, None, label, top_k, x_request_timeout, min_confidence)

    return router
