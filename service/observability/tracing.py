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
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
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
#: ``time.monotonic()`` when the current request reached the surface (set only while tracing).
_request_started: ContextVar[float | None] = ContextVar("request_started", default=None)


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
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter()
    # OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES name the service; without them, the SDK says "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
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


@contextlib.contextmanager
def _server_span(tracer: Tracer, name: str, carrier: Mapping[str, str], attributes: dict[str, Any]) -> Iterator[Any]:
    parent = _propagator.extract(carrier)  # an absent or malformed traceparent gives an empty context
    started = time.monotonic()
    token = _request_started.set(started)
    try:
        with tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes, start_time=_wall_ns(started)
        ) as span:
            yield span
    finally:
        _request_started.reset(token)


def server_span(name: str, carrier: Mapping[str, str], **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """The SERVER span of one request, child of ``carrier``'s ``traceparent`` when valid; yields the span."""
    tracer = _tracer
    if tracer is None:
        return NO_SPAN
    return _server_span(tracer, name, carrier, attributes)


def span(name: str, kind: SpanKind = SpanKind.INTERNAL) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one around a block; yields the span (None when tracing is off or when no
    request is being handled, e.g. the readiness self-check)."""
    tracer = _tracer
    if tracer is None or _request_started.get() is None:
        return NO_SPAN
    return tracer.start_as_current_span(name, kind=kind)


def record_span(name: str, start: float, end: float, **attributes: Any) -> None:
    """A finished child span of the current one, from ``start`` to ``end`` (``time.monotonic()`` seconds)."""
    tracer = _tracer
    if tracer is None or _request_started.get() is None:
        return
    started = tracer.start_span(name, start_time=_wall_ns(start), attributes=attributes)
    started.end(end_time=_wall_ns(end))


def _wall_ns(monotonic_s: float) -> int:
    return int(monotonic_s * 1e9) + _offset_ns


def parsed() -> None:
    """The core has the decoded request: record ``parse`` from the request's arrival until now."""
    if _tracer is None:
        return
    arrived = _request_started.get()
    if arrived is not None:
        record_span("parse", arrived, time.monotonic())


def annotate(outcome: str, **attributes: Any) -> None:
    """Set ``classifier.<name>`` attributes and the outcome on the request's span; an outcome other than
    ``ok`` marks it as an error."""
    if _tracer is None or _request_started.get() is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    current.set_attributes({f"classifier.{key}": value for key, value in attributes.items() if value is not None})
    current.set_attribute("classifier.outcome", outcome)
    if outcome != "ok":
        current.set_status(Status(StatusCode.ERROR, outcome))


def outgoing_metadata() -> tuple[tuple[str, str], ...] | None:
    """The current span's context as gRPC metadata (``traceparent``), None when tracing is off."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return tuple(carrier.items())
