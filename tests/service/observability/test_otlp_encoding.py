"""The lean OTLP encoding of finished spans gives the very message the OpenTelemetry SDK's encoder gives, for
the gateway's kind of spans and for those it leaves to the SDK (events, arrays, a remote parent, an error
status, a resource attribute it does not encode itself). Spans come from the real SDK."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.observability.otlp_encoding import encode

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _spans(resource: Resource | None = None) -> tuple[ReadableSpan, ...]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource or Resource.create({"service.name": "gateway"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("service.observability")
    other = provider.get_tracer("another.scope", "1.2")
    parent = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT})
    attributes = {"classifier.model": "m", "classifier.version": 3, "classifier.score": 0.5, "ok": True}
    server = tracer.start_span("POST /x", context=parent, kind=SpanKind.SERVER, attributes=attributes)
    inside = set_span_in_context(server)
    tracer.start_span("parse", context=inside, start_time=10, attributes={}).end(end_time=20)
    tracer.start_span("model call", context=inside, attributes={"classifier.batch_rows": 4}).end()
    other.start_span("TF Serving Predict", context=inside, kind=SpanKind.CLIENT).end()
    tracer.start_span("tags", context=inside, attributes={"labels": ["a", "b"], "sizes": (1, 2)}).end()
    failed = tracer.start_span("failed", context=inside)
    failed.record_exception(ValueError("bad input"))
    failed.set_status(Status(StatusCode.ERROR, "ValueError"))
    failed.end()
    server.set_attribute("classifier.outcome", "ok")
    server.end()
    tracer.start_span("root without parent").end()
    provider.shutdown()
    return memory.get_finished_spans()


def test_lean_encoding_equals_the_sdks_for_every_kind_of_span() -> None:
    spans = _spans()
    assert len(spans) == 7

    assert encode(spans) == encode_spans(spans)
    # The same bytes on the wire too (an empty message set or left out shows here).
    assert encode(spans).SerializeToString(deterministic=True) == encode_spans(spans).SerializeToString(
        deterministic=True
    )


def test_a_resource_attribute_it_does_not_encode_falls_back_to_the_sdk() -> None:
    spans = _spans(Resource.create({"service.name": "gateway", "blob": b"\x00\x01"}))  # type: ignore[dict-item]

    assert encode(spans) == encode_spans(spans)


@pytest.mark.parametrize("count", [0, 1])
def test_few_spans(count: int) -> None:
    spans = _spans()[:count]

    assert encode(spans) == encode_spans(spans)
