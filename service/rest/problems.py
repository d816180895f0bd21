"""Every REST error as RFC 9457 ``application/problem+json``, mapped in one place.

One handler serves the whole ``ServiceError`` tree (starlette walks the exception's class chain), one
turns FastAPI's request validation into the ``SchemaViolation`` shape, one covers starlette's own
``HTTPException`` (unknown route, wrong method), and ``ErrorBoundaryMiddleware`` answers anything
unexpected with a generic 500 while the traceback goes to the log only (a client that disconnected
mid-body is logged in one line at info).
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.names import SHOWN_CHARS, shown
from service.errors import Overloaded, SchemaViolation, ServiceError, Unavailable, is_internal
from service.observability.request_ids import current_request_id

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Problem ``type`` URIs are this prefix plus the error's slug, e.g. ``urn:classifier:problem:model-not-found``.
PROBLEM_TYPE_PREFIX = "urn:classifier:problem:"
#: Seconds a client is asked to wait before retrying a 429 or 503.
RETRY_AFTER_S = 1
#: Schema violations one answer lists.
MAX_LISTED_ERRORS = 20
#: Characters of the request path a problem's ``instance`` (and a 404's detail) repeats.
MAX_INSTANCE_CHARS = 256
_GENERIC_DETAIL = "The server failed to answer this request; the cause is in its log."


class FieldError(BaseModel):
    """Where a request broke its schema, and how."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document: every 4xx and 5xx answer of the REST API has this body."""

    type: str = Field(description="URI naming the kind of problem, e.g. urn:classifier:problem:invalid-input.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(description="The request path the problem occurred on.")
    errors: list[FieldError] | None = Field(default=None, description="With 422: each schema violation.")
    request_id: str | None = Field(default=None, description="The request's id, as in the X-Request-ID header.")


def problem_response(
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    instance: str,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    """A problem+json response; ``extensions`` become extra members (RFC 9457 section 3.2)."""
    content, retry_after = problem_document(
        status=status, title=title, slug=slug, detail=detail, instance=instance, extensions=extensions
    )
    headers = None if retry_after is None else {"Retry-After": retry_after}
    return Response(content, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def problem_document(
    *,
    status: int,
    title: str,
    slug: str,
    detail: str,
    instance: str,
    extensions: Mapping[str, Any] | None = None,
) -> tuple[bytes, str | None]:
    """A problem+json body and its ``Retry-After`` value (None when the status has none), for surfaces
    that write their own bytes (the HTTP protocol's early refusals) and for ``problem_response``."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        # The path is client input: a bounded prefix of it only.
        "instance": instance[:MAX_INSTANCE_CHARS],
    }
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    retry = status in (Overloaded.http_status, Unavailable.http_status)
    # An error may say how long to wait (admission does); its member also goes in the body.
    retry_after = str(body.get("retry_after_s", RETRY_AFTER_S)) if retry else None
    # default=str: extensions come from error constructors and may hold paths or numpy scalars.
    return orjson.dumps(body, default=str), retry_after


def service_error_response(exc: ServiceError, instance: str) -> Response:
    """The problem document for one of our errors; an internal one stays generic."""
    if is_internal(exc):
        log.error("internal error on %s: %s", instance, exc.detail)
        return _internal_error(instance)
    return problem_response(
        status=exc.http_status,
        title=exc.title,
        slug=exc.type_slug(),
        detail=exc.detail,
        instance=instance,
        extensions=exc.extra,
    )


def field_errors(errors: Sequence[Any], prefix: Sequence[str | int] = ()) -> list[dict[str, Any]]:
    """pydantic or FastAPI errors reduced to ``loc``/``msg``/``type``; the offending input is not echoed back.

    A ``loc`` can hold a client's key (an unexpected JSON member): only a bounded prefix of it is kept.
    """
    return [
        {
            "loc": [*prefix, *(part[:SHOWN_CHARS] if isinstance(part, str) else part for part in error.get("loc", ()))],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors[:MAX_LISTED_ERRORS]
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error raised inside the routes to a problem+json answer.

    The app also needs ``ErrorBoundaryMiddleware`` as its outermost middleware for the rest.
    """
    app.add_exception_handler(ServiceError, _on_service_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)  # type: ignore[arg-type]


def problem_for(exc: Exception, instance: str) -> Response | None:
    """The answer the app's exception handlers give ``exc`` raised by a route; None for an unexpected one.

    For surfaces that call a route's endpoint without the app's exception middleware (the classify lane).
    """
    if isinstance(exc, ServiceError):
        return service_error_response(exc, instance)
    if isinstance(exc, RequestValidationError):
        return _validation_problem(exc, instance)
    return None


async def _on_service_error(request: Request, exc: ServiceError) -> Response:
    return service_error_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    return _validation_problem(exc, request.url.path)


def _validation_problem(exc: RequestValidationError, instance: str) -> Response:
    errors = field_errors(exc.errors())
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    violation = SchemaViolation(f"the request does not match its schema ({where})", errors=errors)
    return service_error_response(violation, instance)


async def _on_http_exception(request: Request, exc: StarletteHTTPException) -> Response:
    phrase = http.HTTPStatus(exc.status_code).phrase
    detail = exc.detail if exc.detail != phrase else _http_detail(request, exc.status_code)
    response = problem_response(
        status=exc.status_code,
        title=phrase,
        slug=phrase.lower().replace(" ", "-").replace("'", ""),
        detail=detail,
        instance=request.url.path,
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _http_detail(request: Request, status: int) -> str:
    if status == 404:
        return f"no route {shown(request.url.path, MAX_INSTANCE_CHARS)}; see /docs for the API"
    if status == 405:
        return f"{shown(request.url.path, MAX_INSTANCE_CHARS)} does not accept {shown(request.method)}"
    return http.HTTPStatus(status).description


def _internal_error(instance: str) -> Response:
    return problem_response(
        status=500, title=ServiceError.title, slug=ServiceError.type_slug(), detail=_GENERIC_DETAIL, instance=instance
    )


class ErrorBoundaryMiddleware:
    """Answers an unexpected exception with a generic 500 problem and logs its traceback.

    Starlette's own 500 handler re-raises after answering (so every request error is logged twice and
    in-process test clients crash); this boundary ends the error here instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        path = scope.get("path", "")
        try:
            await self.app(scope, receive, tracking_send)
        except ServiceError as exc:
            # Raised outside the routes' exception handlers (by a middleware): still the same problem.
            if started:
                raise
            await service_error_response(exc, path)(scope, receive, send)
        except ClientDisconnect:
            # The client went away mid-body: nobody to answer, nothing wrong here. One line, no traceback
            # (each used to log ~55 lines at ERROR, finding 10).
            log.info("client disconnected before sending the whole request: %s %s", scope.get("method"), path)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                # Headers are out; the server can only cut the connection.
                raise
            await _internal_error(path)(scope, receive, send)
