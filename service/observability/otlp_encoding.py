"""A lean OTLP encoding of the gateway's finished spans, for the OTLP/gRPC exporter.

Why: with 100% sampling, the OpenTelemetry exporter's own encoding (``encode_spans``) was half the CPU that
tracing adds to a request: for every span it hashes the resource (a JSON dump of its attributes) and the
instrumentation scope to group spans, and builds every field through generic helpers. The gateway's spans
are simple (one resource, one scope, scalar attributes, no links, events only when an exception was
recorded), so this module groups by object identity and builds each ``Span`` message directly. A span it
does not cover (events, links, a trace state, a non-scalar attribute) is encoded by the SDK's own encoder,
so nothing is ever dropped or changed. The OTLP/HTTP exporter keeps the SDK's encoding (its ``export``
has no hook to replace it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, SpanFlags, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

_KINDS = {
    SpanKind.INTERNAL: PbSpan.SpanKind.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: PbSpan.SpanKind.SPAN_KIND_SERVER,
    SpanKind.CLIENT: PbSpan.SpanKind.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: PbSpan.SpanKind.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: PbSpan.SpanKind.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


class _NotScalar(Exception):
    """An attribute value this encoding leaves to the SDK's encoder."""


def _value(value: Any) -> AnyValue:
    # bool before int: a bool is an int to isinstance.
    kind = type(value)
    if kind is str:
        return AnyValue(string_value=value)
    if kind is bool:
        return AnyValue(bool_value=value)
    if kind is int:
        return AnyValue(int_value=value)
    if kind is float:
        return AnyValue(double_value=value)
    if kind is tuple or kind is list:
        return AnyValue(array_value=ArrayValue(values=[_value(v) for v in value]))
    raise _NotScalar


def _attributes(attributes: Any) -> list[KeyValue]:
    if not attributes:
        return []
    return [KeyValue(key=key, value=_value(value)) for key, value in attributes.items()]


def _span(span: ReadableSpan) -> PbSpan:
    if span.events or span.links:
        raise _NotScalar
    context = span.context
    assert context is not None  # a finished SDK span always has its context
    if context.trace_state:
        raise _NotScalar
    parent = span.parent
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    status = span.status
    return PbSpan(
        trace_id=context.trace_id.to_bytes(16, "big"),
        span_id=context.span_id.to_bytes(8, "big"),
        parent_span_id=parent.span_id.to_bytes(8, "big") if parent is not None else b"",
        name=span.name,
        kind=_KINDS[span.kind],
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        attributes=_attributes(span.attributes),
        dropped_attributes_count=span.dropped_attributes,
        status=Status(code=Status.StatusCode.ValueType(status.status_code.value), message=status.description or ""),
        flags=flags,
    )


def _sdk_encoded(span: ReadableSpan) -> PbSpan:
    encoded: PbSpan = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]
    return encoded


def encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The export request of ``spans``, grouped by resource then instrumentation scope (by identity: the
    spans of one provider share those objects)."""
    try:
        return _encode(spans)
    except _NotScalar:
        return encode_spans(spans)  # a resource attribute of a kind left to the SDK (bytes, a mapping)


def _encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    groups: dict[tuple[int, int], tuple[Any, Any, list[PbSpan]]] = {}
    for span in spans:
        key = (id(span.resource), id(span.instrumentation_scope))
        group = groups.get(key)
        if group is None:
            group = groups[key] = (span.resource, span.instrumentation_scope, [])
        try:
            group[2].append(_span(span))
        except _NotScalar:
            group[2].append(_sdk_encoded(span))
    by_resource: dict[int, ResourceSpans] = {}
    for resource, scope, encoded in groups.values():
        resource_spans = by_resource.get(id(resource))
        if resource_spans is None:
            resource_spans = by_resource[id(resource)] = ResourceSpans(
                resource=PbResource(attributes=_attributes(resource.attributes)), schema_url=resource.schema_url
            )
        scope_message = None
        if scope is not None:
            scope_message = InstrumentationScope(name=scope.name, version=scope.version or "")
        resource_spans.scope_spans.append(
            ScopeSpans(scope=scope_message, spans=encoded, schema_url=scope.schema_url if scope else "")
        )
    return ExportTraceServiceRequest(resource_spans=list(by_resource.values()))


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/gRPC span exporter (endpoint, headers, TLS, compression, retries from ``OTEL_*``)
    with ``encode`` in place of the SDK's encoding."""

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return encode(data)
