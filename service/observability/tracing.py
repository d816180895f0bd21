"""OpenTelemetry tracing of requests, off unless ``CLASSIFIER_TRACING__ENABLED=true``.

Configured with the standard ``OTEL_*`` variables, read by the OpenTelemetry SDK itself: the exporter's
protocol (``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc`` or
``http/protobuf``, the default as the specification says), endpoint, headers and TLS, the sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the service name (``OTEL_SERVICE_NAME``) and
the batch processor (``OTEL_BSP_*``).

Spans of one request: the surface's SERVER span (``POST /v1/models/...`` or the gRPC method; its parent
is the caller's W3C ``traceparent`` when one is sent and valid, a malformed one is ignored), with the
children ``parse`` (transport decoding, from the request's start to the core), ``preprocess``,
``queue wait`` and ``model call`` (embedded backend, with the batch's size), or ``TF Serving Predict``
(a CLIENT span whose context goes to TF Serving as ``traceparent`` metadata). The server span gets the
model, version, instance count and outcome.

When tracing is off every helper returns at its first line and no span object is made: ``span()`` hands
back one shared ``nullcontext``. The provider is process-wide, installed by the gateway that starts with
tracing on and removed by its stop.

What a traced request costs, and why the helpers are shaped this way (measured with 100% sampling): the
SDK's span objects and the OTLP encoding of each span are the cost, so

- a request's state (its SERVER span, a context holding it, its arrival time) lives in one context
  variable of ours: children are started with that context passed explicitly, never by attaching and
  detaching OpenTelemetry's current context per span;
- children whose times are known afterwards (parse, queue wait, model call, and preprocess, timed around
  its block) are made in one call with explicit start and end times; only the TF Serving CLIENT span is
  made current, for the ``traceparent`` that goes with the call;
- over OTLP/gRPC, spans are encoded by ``service.observability.otlp_encoding`` (half the cost of the SDK's
  encoding); over OTLP/HTTP the SDK's encoder stays, and the resource's hash, which it computes from a
  JSON dump for every exported span, is computed once (``_FixedResource``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

#: What every span helper returns while tracing is off: one shared no-op context (yields None).
NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()
_propagator = TraceContextTextMapPropagator()
_tracer: Tracer | None = None
_provider: TracerProvider | None = None
#: Wall-clock nanoseconds minus monotonic ones, fixed when tracing starts, so every span of a request (made
#: now or recorded afterwards from monotonic times) is on one timeline.
_offset_ns = 0


class _Request:
    """One traced request: its SERVER span, a context with that span (the children's parent), and when it
    reached the surface (``time.monotonic()``)."""

    __slots__ = ("context", "span", "started")

    def __init__(self, span: Span, started: float) -> None:
        self.span = span
        self.context = set_span_in_context(span)
        self.started = started


#: The request being handled in this context (set only while tracing).
_request: ContextVar[_Request | None] = ContextVar("traced_request", default=None)


def enable_tracing(service_name: str = "classifier-gateway") -> None:
    """Install a tracer provider with an OTLP exporter chosen by the ``OTEL_*`` environment."""
    global _tracer, _provider, _offset_ns
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    exporter: Any
    if protocol == "grpc":
        from service.observability.otlp_encoding import LeanOTLPSpanExporter

        exporter = LeanOTLPSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter()
    # OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES name the service; without them, the SDK says "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=_fixed_resource(resource))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _offset_ns = time.time_ns() - time.monotonic_ns()
    _provider, _tracer = provider, provider.get_tracer("service.observability")


def disable_tracing() -> None:
    """Export what is buffered and remove the provider."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def _fixed_resource(resource: Any) -> Any:
    from opentelemetry.sdk.resources import Resource

    class _FixedResource(Resource):
        """A resource whose hash is computed once: the OTLP encoder groups spans by resource, hashing it for
        every span, and ``Resource.__hash__`` dumps its attributes to JSON each time. It never changes."""

        def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
            super().__init__(attributes, schema_url)
            self._hash = super().__hash__()

        def __hash__(self) -> int:
            return self._hash

        def __eq__(self, other: object) -> bool:
            return other is self or super().__eq__(other)

    return _FixedResource(resource.attributes, resource.schema_url)


class _ServerSpan:
    """The SERVER span of one request, as a context manager yielding the span (see ``server_span``)."""

    __slots__ = ("_request", "_token")

    def __init__(self, tracer: Tracer, name: str, carrier: Mapping[str, str], attributes: dict[str, Any]) -> None:
        parent = _propagator.extract(carrier) if carrier else None  # a malformed traceparent: an empty context
        started = time.monotonic()
        span = tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes, start_time=_wall_ns(started)
        )
        self._request = _Request(span, started)
        self._token: Token[_Request | None] | None = None

    def __enter__(self) -> Span:
        self._token = _request.set(self._request)
        return self._request.span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        span = self._request.span
        if exc is not None and not isinstance(exc, GeneratorExit):
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()
        if self._token is not None:
            # A stream's generator closed from another context cannot reset; that context ends anyway.
            with contextlib.suppress(ValueError):
                _request.reset(self._token)


class _ChildSpan:
    """A child of the request's span around a block, made when the block ends with its start and end times."""

    __slots__ = ("_name", "_started")

    def __init__(self, name: str) -> None:
        self._name = name
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.monotonic()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        record_span(self._name, self._started, time.monotonic())


def server_span(name: str, carrier: Mapping[str, str], **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """The SERVER span of one request, child of ``carrier``'s ``traceparent`` when valid; yields the span."""
    tracer = _tracer
    if tracer is None:
        return NO_SPAN
    return _ServerSpan(tracer, name, carrier, attributes)


def span(name: str, kind: SpanKind = SpanKind.INTERNAL) -> contextlib.AbstractContextManager[Any]:
    """A child span of the request's span around a block (None when tracing is off or when no request is
    being handled, e.g. the readiness self-check). An INTERNAL span yields None and is recorded when the
    block ends; any other kind (the TF Serving call's CLIENT span) is started now, made current for
    ``outgoing_metadata``, and yielded."""
    tracer = _tracer
    if tracer is None:
        return NO_SPAN
    request = _request.get()
    if request is None:
        return NO_SPAN
    if kind is SpanKind.INTERNAL:
        return _ChildSpan(name)
    return tracer.start_as_current_span(name, context=request.context, kind=kind)


def record_span(name: str, start: float, end: float, **attributes: Any) -> None:
    """A finished child span of the request's span, from ``start`` to ``end`` (``time.monotonic()`` seconds)."""
    tracer = _tracer
    if tracer is None:
        return
    request = _request.get()
    if request is None:
        return
    child = tracer.start_span(name, context=request.context, start_time=_wall_ns(start), attributes=attributes)
    child.end(end_time=_wall_ns(end))


def _wall_ns(monotonic_s: float) -> int:
    return int(monotonic_s * 1e9) + _offset_ns


def parsed() -> None:
    """The core has the decoded request: record ``parse`` from the request's arrival until now."""
    if _tracer is None:
        return
    request = _request.get()
    if request is not None:
        record_span("parse", request.started, time.monotonic())


def annotate(outcome: str, **attributes: Any) -> None:
    """Set ``classifier.<name>`` attributes and the outcome on the request's span; an outcome other than
    ``ok`` marks it as an error."""
    if _tracer is None:
        return
    request = _request.get()
    if request is None:
        return
    named = {f"classifier.{key}": value for key, value in attributes.items() if value is not None}
    named["classifier.outcome"] = outcome
    request.span.set_attributes(named)
    if outcome != "ok":
        request.span.set_status(Status(StatusCode.ERROR, outcome))


def outgoing_metadata() -> tuple[tuple[str, str], ...] | None:
    """The current span's context as gRPC metadata (``traceparent``), None when tracing is off."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return tuple(carrier.items())
