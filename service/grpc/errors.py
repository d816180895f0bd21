"""The one place where gateway errors become gRPC statuses.

``status_of`` maps an exception: a ``ServiceError`` to ``grpc.StatusCode[err.grpc_code]`` with its
detail; anything else to INTERNAL "internal error", with the traceback in the log only.
``mapped_unary`` and ``mapped_stream`` wrap a classifier method's behaviour once, when its handler is
built, so servicer methods just raise; ``ClassifyStream`` uses ``status_of`` for the per-request errors
it answers in the stream. (A wrapper on the handler instead of a server interceptor: grpc.aio runs
interceptors as coroutines on every call, see ``service.observability.grpc_metadata``.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc

from service.errors import ServiceError, is_internal

log = logging.getLogger(__name__)

UnaryBehaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehaviour = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for ``exc``; logs unexpected errors with their traceback."""
    if isinstance(exc, ServiceError) and not is_internal(exc):
        return grpc.StatusCode[exc.grpc_code], exc.detail
    log.error("unexpected error in a gRPC call", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error"


async def abort_with(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    """End the call with ``exc``'s status (``status_of``); an ``AbortError`` (a deliberate abort) passes."""
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    code, message = status_of(exc)
    await context.abort(code, message)
    raise AssertionError("abort() ends the call by raising")


def mapped_unary(behaviour: UnaryBehaviour) -> UnaryBehaviour:
    """``behaviour`` with what it raises turned into the call's status."""

    async def mapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except Exception as exc:
            await abort_with(context, exc)

    return mapped


def mapped_stream(behaviour: StreamBehaviour) -> StreamBehaviour:
    """A streaming ``behaviour`` with what it raises turned into the call's status."""

    async def mapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for answer in behaviour(request, context):
                yield answer
        except Exception as exc:
            await abort_with(context, exc)

    return mapped
