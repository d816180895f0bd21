"""``RequestContextMiddleware``: the REST surface's entry into a request's observability context.

Outermost ASGI middleware: it binds the request id (``X-Request-ID`` when sane, else a new one) before
anything else runs, so error bodies and log lines of every inner layer see it, and adds the id to the
answer's headers, and counts the answer's status in ``classifier_requests_total{surface="rest"}``. With
tracing on it opens the request's SERVER span, child of the caller's ``traceparent`` header when valid.
"""

from __future__ import annotations

from opentelemetry.trace import Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics
from service.observability import tracing
from service.observability.request_ids import accept_request_id, bind_request_id, unbind_request_id
from service.observability.request_metrics import RequestMetrics
from service.rollout.routing_key import ROUTING_KEY_HEADER, accept_routing_key, bind_routing_key, unbind_routing_key

_HEADER_KEY = b"x-request-id"
_TRACE_HEADERS = (b"traceparent", b"tracestate")
_ROUTING_KEY = ROUTING_KEY_HEADER.lower().encode("ascii")


class RequestContextMiddleware:
    """Binds a request id for each HTTP request and echoes it in the ``X-Request-ID`` response header."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._counts = RequestMetrics.of(metrics.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered: bytes | None = None
        routing_key: bytes | None = None
        for key, value in scope["headers"]:
            if key == _HEADER_KEY:
                offered = value
            elif key == _ROUTING_KEY:
                routing_key = value
        request_id = accept_request_id(offered)
        echoed = (_HEADER_KEY, request_id.encode("ascii"))
        status = 500  # if nothing is sent, the server answers 500 (or cuts the connection)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = bind_request_id(request_id)
        routing_token = bind_routing_key(accept_routing_key(routing_key))  # a rollout's sticky key
        try:
            if not tracing.tracing_enabled():
                await self.app(scope, receive, send_with_id)
                return
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _TRACE_HEADERS}
            method, path = scope.get("method", ""), scope.get("path", "")
            attributes = {"http.request.method": method, "url.path": path, "classifier.request_id": request_id}
            with tracing.server_span(f"{method} {path}", carrier, **attributes) as span:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
        finally:
            unbind_routing_key(routing_token)
            unbind_request_id(token)
            self._counts.count("rest", str(status))
