"""``ObservedHandlers``: the gRPC surface's entry into a request's observability context.

For every method of every service it binds the request id (``x-request-id`` metadata when sane, else a
new one) around the handler, and returns it in the call's trailing metadata, which gRPC sends with the
status, so the caller gets it for errors as well as answers. A stream is one call: its requests share one
id. Each call's final status code is counted in ``classifier_requests_total{surface="grpc"}``. With
tracing on, each call gets a SERVER span, child of the caller's ``traceparent`` metadata when valid.

It is a generic handler, not a server interceptor: grpc.aio runs its interceptor chain as coroutines on
every call, while a generic handler is asked synchronously, and this one wraps each method's handler once
and answers from a dict after that. With no interceptor configured (no API keys), a call pays no
interceptor machinery at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc

from service.metrics import Metrics
from service.observability import tracing
from service.observability.request_ids import (
    REQUEST_ID_METADATA,
    accept_request_id,
    bind_request_id,
    unbind_request_id,
)
from service.observability.request_metrics import RequestMetrics
from service.rollout.routing_key import (
    ROUTING_KEY_METADATA,
    accept_routing_key,
    bind_routing_key,
    current_routing_key,
    unbind_routing_key,
)


class ObservedHandlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Every method of ``services`` (generic handlers, asked in order), each wrapped once so that it runs
    with the call's request id bound and its status counted."""

    def __init__(self, services: Sequence[grpc.GenericRpcHandler], metrics: Metrics) -> None:
        self._services = tuple(services)
        self._wrapped: dict[str, grpc.RpcMethodHandler | None] = {}
        self._counts = RequestMetrics.of(metrics.registry)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        try:
            return self._wrapped[method]
        except KeyError:
            pass
        handler = None
        for service in self._services:
            handler = service.service(handler_call_details)
            if handler is not None:
                break
        # Only served methods are remembered: unknown names cannot grow the dict.
        if handler is None:
            return None
        wrapped = self._wrapped[method] = _wrap(handler, self._counts, method)
        return wrapped


def _bind(context: grpc.aio.ServicerContext) -> Any:
    offered = routing_key = None
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA:
            offered = value
        elif key == ROUTING_KEY_METADATA:
            routing_key = value
    request_id = accept_request_id(offered)
    context.set_trailing_metadata(((REQUEST_ID_METADATA, request_id),))
    # The rollout's sticky key travels like the request id, so every gRPC service (v1 and V2) carries it.
    # Most calls send none and their context holds none already: nothing to bind (or to undo) then.
    routing_key = accept_routing_key(routing_key)
    routing_token = None if routing_key is None and current_routing_key() is None else bind_routing_key(routing_key)
    return bind_request_id(request_id), routing_token


def _finish(context: grpc.aio.ServicerContext, token: Any, counts: RequestMetrics, failed: bool, span: Any) -> None:
    request_token, routing_token = token
    if routing_token is not None:
        unbind_routing_key(routing_token)
    unbind_request_id(request_token)
    code = context.code()  # set by an abort; None when the handler returned normally
    if code is None:
        code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    counts.count("grpc", name)
    if span is not None:
        span.set_attribute("rpc.grpc.status_code", name)


def _server_span(context: grpc.aio.ServicerContext, method: str) -> Any:
    if not tracing.tracing_enabled():
        return tracing.NO_SPAN
    carrier = {key: value for key, value in context.invocation_metadata() or () if key in ("traceparent", "tracestate")}
    return tracing.server_span(method, carrier, **{"rpc.system": "grpc", "rpc.method": method})


def _wrap(handler: grpc.RpcMethodHandler, counts: RequestMetrics, method: str) -> grpc.RpcMethodHandler:
    serdes = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, counts, method), **serdes)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream, counts, method), **serdes)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream, counts, method), **serdes)
    return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, counts, method), **serdes)


def _unary(
    behaviour: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]], counts: RequestMetrics, method: str
) -> Any:
    async def bound(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = _bind(context)
        failed = True
        with _server_span(context, method) as span:
            try:
                response = await behaviour(request, context)
                failed = False
                return response
            finally:
                _finish(context, token, counts, failed, span)

    return bound


def _streaming(behaviour: Callable[[Any, grpc.aio.ServicerContext], Any], counts: RequestMetrics, method: str) -> Any:
    async def bound(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        token = _bind(context)
        failed = True
        with _server_span(context, method) as span:
            try:
                answers = behaviour(request, context)
                if hasattr(answers, "__aiter__"):
                    async for response in answers:
                        yield response
                else:
                    # A coroutine that writes its answers with context.write (the health service's Watch).
                    await answers
                failed = False
            finally:
                _finish(context, token, counts, failed, span)

    return bound
