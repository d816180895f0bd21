"""The gRPC side of access control: ``AuthInterceptor`` checks ``authorization: Bearer KEY`` metadata.

Methods of ``classifier.v1.Classifier`` need the ``classify`` scope; health checking and server
reflection stay open (probes and tools such as grpcurl); any other method needs a valid key. A refused
call is aborted with the code of the error class (``service.errors``, the one table): UNAUTHENTICATED,
PERMISSION_DENIED, or RESOURCE_EXHAUSTED with ``retry-after`` (seconds) in the trailing metadata. A
``ClassifyStream`` call is one request for the rate limit, like one REST request with many instances.

A refused stream is aborted before its requests are read. A grpc.aio client still writing requests
then may see INTERNAL "Internal error from Core" instead of the status (grpc/grpc#36066: the failed
write overwrites the status the server sent); blocking clients see the status.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from service.auth.access import CLASSIFY, AccessControl
from service.errors import QuotaExceeded, ServiceError

OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.")
SCOPED_PREFIXES = (("/classifier.v1.Classifier/", CLASSIFY),)


def _scope_for(method: str) -> str | None:
    for prefix, scope in SCOPED_PREFIXES:
        if method.startswith(prefix):
            return scope
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Lets a call through to its handler only with a valid key that has the method's scope and rate left."""

    def __init__(self, access: AccessControl) -> None:
        self._access = access

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        return self.gate(await continuation(handler_call_details), handler_call_details)

    def gate(
        self, handler: grpc.RpcMethodHandler | None, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        """``handler``, or one of its kind that refuses the call (the rule of both gRPC servers)."""
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        authorization = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                authorization = value if isinstance(value, str) else value.decode("latin-1")
                break
        try:
            self._access.check(authorization, _scope_for(method))
        except ServiceError as exc:
            return _refusing(handler, exc)
        return handler


def _refusing(handler: grpc.RpcMethodHandler, exc: ServiceError) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that aborts with ``exc``'s status and reads nothing."""
    code = grpc.StatusCode[exc.grpc_code]
    trailing: tuple[tuple[str, str], ...] = ()
    if isinstance(exc, QuotaExceeded):
        trailing = (("retry-after", str(max(1, math.ceil(exc.retry_after_s)))),)

    async def refuse(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, exc.detail, trailing_metadata=trailing)

    serdes = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(refuse, **serdes)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(refuse, **serdes)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(refuse, **serdes)
    return grpc.stream_unary_rpc_method_handler(refuse, **serdes)
