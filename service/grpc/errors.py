"""The one place where gateway errors become gRPC statuses.

``status_of`` maps an exception: a ``ServiceError`` to ``grpc.StatusCode[err.grpc_code]`` with its
detail; anything else to INTERNAL "internal error", with the traceback in the log only.
``ErrorInterceptor`` applies it to every method of the classifier service, so servicer methods just
raise; ``ClassifyStream`` uses ``status_of`` for the per-request errors it answers in the stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from service.errors import ServiceError

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/classifier.v1.Classifier/"


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for ``exc``; logs unexpected errors with their traceback."""
    if isinstance(exc, ServiceError) and type(exc) is not ServiceError:
        return grpc.StatusCode[exc.grpc_code], exc.detail
    log.error("unexpected error in a gRPC call", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error"


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps the classifier service's handlers so that raised errors abort the call with ``status_of``."""

    def __init__(self) -> None:
        # Handlers are looked up per call; wrapping each method once keeps the per-call cost to a dict hit.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        if not method.startswith(SERVICE_PREFIX):
            return await continuation(handler_call_details)
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped[method] = _wrap(handler)
        return wrapped


def _wrap(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    serdes = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary), **serdes)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream), **serdes)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream), **serdes)
    return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary), **serdes)


def _unary(behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]) -> Any:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behaviour(request, context)
        except grpc.aio.AbortError:
            raise  # the servicer aborted on purpose
        except Exception as exc:
            code, message = status_of(exc)
            await context.abort(code, message)

    return guarded


def _streaming(behaviour: Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]) -> Any:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behaviour(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code, message = status_of(exc)
            await context.abort(code, message)

    return guarded
