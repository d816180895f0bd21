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
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, SpanFlags
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


def _fill(target: AnyValue, value: Any) -> None:
    # Exact types only (bool before int: a bool is an int to isinstance); anything else goes to the SDK.
    kind = type(value)
    if kind is str:
        target.string_value = value
    elif kind is bool:
        target.bool_value = value
    elif kind is int:
        target.int_value = value
    elif kind is float:
        target.double_value = value
    elif kind is tuple or kind is list:
        array = target.array_value
        array.SetInParent()  # an empty sequence is still an array value
        values = array.values
        for item in value:
            _fill(values.add(), item)
    else:
        raise _NotScalar


def _fill_attributes(target: Any, attributes: Any) -> None:
    if attributes:
        add = target.add
        for key, value in attributes.items():
            # The common kinds inline (one call less per attribute); the rest through _fill.
            kind = type(value)
            if kind is str:
                add(key=key).value.string_value = value
            elif kind is int:
                add(key=key).value.int_value = value
            else:
                _fill(add(key=key).value, value)


def _add_span(spans: Any, span: ReadableSpan) -> None:
    """Append ``span`` to the ``spans`` field of a ScopeSpans, built in place (no message copied)."""
    if span.events or span.links:
        raise _NotScalar
    context = span.context
    assert context is not None  # a finished SDK span always has its context
    if context.trace_state:
        raise _NotScalar
    parent = span.parent
    status = span.status
    encoded = spans.add(
        trace_id=context.trace_id.to_bytes(16, "big"),
        span_id=context.span_id.to_bytes(8, "big"),
        parent_span_id=parent.span_id.to_bytes(8, "big") if parent is not None else b"",
        name=span.name,
        kind=_KINDS[span.kind],
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        dropped_attributes_count=span.dropped_attributes,
        flags=_HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0),
    )
    encoded.status.SetInParent()
    encoded.status.code = status.status_code.value
    if status.description:
        encoded.status.message = status.description
    try:
        _fill_attributes(encoded.attributes, span.attributes)
    except _NotScalar:
        del spans[-1]
        raise


def encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """The export request of ``spans``, grouped by resource then instrumentation scope (by identity: the
    spans of one provider share those objects)."""
    try:
        return _encode(spans)
    except _NotScalar:
        return encode_spans(spans)  # a resource attribute of a kind left to the SDK (bytes, a mapping)


def _encode(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    # Built in place, in the order of first appearance (as the SDK's encoder groups): constructing a message
    # from keyword arguments copies every nested message passed in, field by field.
    request = ExportTraceServiceRequest()
    by_resource: dict[int, ResourceSpans] = {}
    by_scope: dict[tuple[int, int], Any] = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope
        key = (id(resource), id(scope))
        container = by_scope.get(key)
        if container is None:
            resource_spans = by_resource.get(id(resource))
            if resource_spans is None:
                resource_spans = by_resource[id(resource)] = request.resource_spans.add(schema_url=resource.schema_url)
                resource_spans.resource.SetInParent()
                _fill_attributes(resource_spans.resource.attributes, resource.attributes)
            scope_spans = resource_spans.scope_spans.add(schema_url=scope.schema_url if scope else "")
            scope_spans.scope.SetInParent()
            if scope is not None:
                scope_spans.scope.name = scope.name
                scope_spans.scope.version = scope.version or ""
                _fill_attributes(scope_spans.scope.attributes, scope.attributes)
            container = by_scope[key] = scope_spans.spans
        try:
            _add_span(container, span)
        except _NotScalar:
            container.append(_sdk_encoded(span))
    return request


def _sdk_encoded(span: ReadableSpan) -> PbSpan:
    encoded: PbSpan = encode_spans([span]).resource_spans[0].scope_spans[0].spans[0]
    return encoded


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/gRPC span exporter (endpoint, headers, TLS, compression, retries from ``OTEL_*``)
    with ``encode`` in place of the SDK's encoding."""

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return encode(data)
