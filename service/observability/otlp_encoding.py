"""A lean OTLP encoding of the gateway's finished spans, for the OTLP/gRPC exporter: records straight to bytes.

Why: at 100% sampling the exporter's encoding ran for every span on the gateway's own CPU. The SDK's
encoder hashes the resource (a JSON dump of its attributes) and the scope for every span to group them,
builds a protobuf message per span, attribute and value through generic helpers, then serializes the lot.
The gateway's spans (``span_record.FinishedSpan``) are simple: one resource, one scope, scalar attributes,
no links, events only when an exception was recorded. So this module writes the protobuf wire format of
``ExportTraceServiceRequest`` itself: the resource and scope messages are encoded once per provider (by
the SDK's encoder, so they are exactly the SDK's), each span is a join of fixed tags, its ids and times
packed with ``struct``, and its attributes (a key's bytes are cached); the children a SERVER span's record
carries share its trace id, trace state and parent id bytes, encoded once. A span it does not cover (events,
an array or other non-scalar attribute, an int beyond int64) is encoded by the SDK's encoder and its bytes
embedded, so nothing is ever dropped or changed; a batch holding anything but records goes to the SDK's
encoder whole. The bytes parse to the message the SDK's encoder builds (tests compare them).

``LeanOTLPSpanExporter`` is the SDK's OTLP/gRPC exporter (endpoint, headers, TLS, compression, retries from
``OTEL_*``) sending those bytes as they are; ``ReadableOTLPSpanExporter`` is the SDK's OTLP/HTTP exporter
fed the records as SDK spans.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from service.observability.span_record import UNSET_STATUS, FinishedSpan, Origin, child_record, readable

#: The OTLP trace service's one method, as the generated stub names it.
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

# Span fields (opentelemetry/proto/trace/v1/trace.proto): tag = field number << 3 | wire type.
_TRACE_ID = b"\x0a\x10"  # 1, 16 bytes
_SPAN_ID = b"\x12\x08"  # 2, 8 bytes
_TRACE_STATE = b"\x1a"  # 3, string
_PARENT_ID = b"\x22\x08"  # 4, 8 bytes
_NAME = b"\x2a"  # 5, string
_TIMES = struct.Struct("<BQBQ")  # 7 and 8, fixed64 each
_ATTRIBUTE = b"\x4a"  # 9, KeyValue
_DROPPED_ATTRIBUTES = b"\x50"  # 10, varint
_STATUS = b"\x7a"  # 15, Status
_FLAGS = {
    False: b"\x85\x01\x00\x01\x00\x00",
    True: b"\x85\x01\x00\x03\x00\x00",
}  # 16, fixed32: HAS_IS_REMOTE (| IS_REMOTE)
#: 6, by the kind's identity (an enum member's hash is a Python call): OTLP's kinds are the API's + 1.
_KINDS = {id(kind): b"\x30" + bytes([kind.value + 1]) for kind in SpanKind}
_INTERNAL_KIND = _KINDS[id(SpanKind.INTERNAL)]
_LOCAL_PARENT = _FLAGS[False]
_DOUBLE = struct.Struct("<Bd")
#: Span names and attributes whose encoding is kept. Most repeat (a route, a model, an outcome); a span name
#: holds a client's path and a request id never repeats, so the caches are emptied when full.
_CACHE_LIMIT = 4096
_SMALL = [bytes((i,)) for i in range(0x80)]


class _NotCovered(Exception):
    """A span this encoding leaves to the SDK's encoder."""


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


_names: dict[str, bytes] = {}
#: By (key, type, value): the type keeps True and 1 (equal, same hash) apart.
_pairs: dict[tuple[str, type, Any], bytes] = {}
_SCALARS = frozenset((str, int, bool, float))


def _name(name: str) -> bytes:
    encoded = _names.get(name)
    if encoded is None:
        if len(_names) >= _CACHE_LIMIT:
            _names.clear()
        encoded = _names[name] = _field(_NAME, name.encode())
    return encoded


def _key_value(key: str, value: Any) -> bytes:
    """One ``KeyValue`` as the span's ``attributes`` field (tag and length included)."""
    kind = type(value)
    if kind not in _SCALARS:
        raise _NotCovered  # a sequence (unhashable too), bytes, a mapping: the SDK's encoder
    pair = (key, kind, value)
    encoded = _pairs.get(pair)
    if encoded is None:
        if len(_pairs) >= _CACHE_LIMIT:
            _pairs.clear()
        encoded = _pairs[pair] = _encode_key_value(key, value)
    return encoded


def _encode_key_value(key: str, value: Any) -> bytes:
    prefix = _field(b"\x0a", key.encode()) if key else b""
    kind = type(value)
    # AnyValue's oneof; exact types only (a bool is an int to isinstance).
    if kind is str:
        any_value = _field(b"\x0a", value.encode())
    elif kind is int:
        if not -(1 << 63) <= value < (1 << 63):
            raise _NotCovered
        any_value = b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement, 10 bytes if < 0
    elif kind is bool:
        any_value = b"\x10\x01" if value else b"\x10\x00"
    elif kind is float:
        any_value = _DOUBLE.pack(0x21, value)
    else:
        raise _NotCovered
    return _field(_ATTRIBUTE, prefix + _field(b"\x12", any_value))


def _trace_state(state: Any) -> bytes:
    return _field(_TRACE_STATE, ",".join(f"{key}={value}" for key, value in state.items()).encode()) if state else b""


def _attributes(parts: list[bytes], attributes: Mapping[str, Any]) -> None:
    parts += [_key_value(key, value) for key, value in attributes.items()]
    dropped = getattr(attributes, "dropped", 0)
    if dropped:
        parts += (_DROPPED_ATTRIBUTES, _varint(dropped))


def _span(span: FinishedSpan) -> bytes:
    """The ``Span`` message of a record (its payload, without tag and length), its children left out."""
    if span.events:
        raise _NotCovered
    parent = span.parent
    parts = [_TRACE_ID, span.trace_id.to_bytes(16, "big"), _SPAN_ID, span.span_id.to_bytes(8, "big")]
    state = span.trace_state
    if state:
        parts.append(_trace_state(state))
    if parent is not None:
        parts += (_PARENT_ID, parent.span_id.to_bytes(8, "big"))
    parts += (_name(span.name), _KINDS[id(span.kind)], _TIMES.pack(0x39, span.start_time, 0x41, span.end_time))
    attributes: Mapping[str, Any] = span.attributes
    if attributes:
        _attributes(parts, attributes)
    status = span.status
    code, message = (StatusCode.UNSET, None) if status is UNSET_STATUS else (status.status_code, status.description)
    if code is StatusCode.UNSET and not message:
        parts.append(b"\x7a\x00")  # present and empty, as the SDK's encoder always sets it
    else:
        body = (_field(b"\x12", message.encode()) if message else b"") + (
            b"\x18" + _varint(code.value) if code.value else b""
        )
        parts.append(_field(_STATUS, body))
    parts.append(_FLAGS[parent is not None and parent.is_remote])
    return b"".join(parts)


def _children(span: FinishedSpan) -> list[bytes]:
    """The ``ScopeSpans.spans`` fields (tag and length included) of the children that travel with ``span``.

    What they share with their parent (trace id, trace state, the parent's id) is encoded once; a child this
    encoding does not cover goes to the SDK's encoder alone."""
    head = _TRACE_ID + span.trace_id.to_bytes(16, "big") + _SPAN_ID
    tail = _trace_state(span.trace_state) + _PARENT_ID + span.span_id.to_bytes(8, "big")
    out = []
    for child in span.children:
        name, span_id, start, end, attributes = child
        times = _TIMES.pack(0x39, start, 0x41, end)
        parts = [head, span_id.to_bytes(8, "big"), tail, _name(name), _INTERNAL_KIND, times]
        try:
            if attributes:
                _attributes(parts, attributes)
        except _NotCovered:
            body = _sdk_span(child_record(span.origin, span, child))
        else:
            parts += (b"\x7a\x00", _LOCAL_PARENT)  # an unset status, present and empty, as the SDK's encoder sets it
            body = b"".join(parts)
        out.append(b"\x12" + _varint(len(body)) + body)
    return out


class _Prefix:
    """An origin's ``Resource`` and ``InstrumentationScope`` messages and schema URLs, as the SDK encodes them."""

    __slots__ = ("resource", "resource_schema", "scope", "scope_schema")

    def __init__(self, sample: ReadableSpan) -> None:
        resource_spans = encode_spans([sample]).resource_spans[0]
        scope_spans = resource_spans.scope_spans[0]
        self.resource = _field(b"\x0a", resource_spans.resource.SerializeToString())
        self.resource_schema = _field(b"\x1a", resource_spans.schema_url.encode()) if resource_spans.schema_url else b""
        self.scope = _field(b"\x0a", scope_spans.scope.SerializeToString()) if scope_spans.HasField("scope") else b""
        self.scope_schema = _field(b"\x1a", scope_spans.schema_url.encode()) if scope_spans.schema_url else b""


_prefixes: dict[int, tuple[Origin, _Prefix]] = {}


def _prefix(span: FinishedSpan) -> _Prefix:
    origin = span.origin
    found = _prefixes.get(id(origin))
    if found is None or found[0] is not origin:  # the entry keeps its origin alive, so an id is not reused
        if len(_prefixes) >= 16:
            _prefixes.clear()  # origins are one per provider and scope: a few in a process's life
        found = _prefixes[id(origin)] = (origin, _Prefix(span.to_readable()))
    return found[1]


def _sdk_span(span: FinishedSpan) -> bytes:
    encoded: bytes = encode_spans([span.to_readable()]).resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    return encoded


def encode(spans: Sequence[Any]) -> bytes:
    """The serialized ``ExportTraceServiceRequest`` of ``spans``, grouped by resource, then by scope, in order
    of first appearance (as the SDK's encoder groups them)."""
    if any(type(span) is not FinishedSpan for span in spans):
        whole: bytes = encode_spans(readable(spans)).SerializeToString()
        return whole
    by_resource: dict[int, tuple[_Prefix, dict[int, tuple[_Prefix, list[bytes]]]]] = {}
    for span in spans:
        origin = span.origin
        resource = by_resource.get(id(origin.resource))
        if resource is None:
            resource = by_resource[id(origin.resource)] = (_prefix(span), {})
        scope = resource[1].get(id(origin.scope))
        if scope is None:
            scope = resource[1][id(origin.scope)] = (_prefix(span), [])
        try:
            body = _span(span)
        except _NotCovered:
            body = _sdk_span(span)
        if span.children:
            scope[1].extend(_children(span))  # first, as ``span_record.readable`` orders them
        scope[1].append(b"\x12" + _varint(len(body)) + body)  # ScopeSpans.spans (2)
    out = []
    for prefix, scopes in by_resource.values():
        scope_spans = b"".join(
            _field(b"\x12", first.scope + b"".join(encoded) + first.scope_schema)  # ResourceSpans.scope_spans (2)
            for first, encoded in scopes.values()
        )
        out.append(_field(b"\x0a", prefix.resource + scope_spans + prefix.resource_schema))  # resource_spans (1)
    return b"".join(out)


class _BytesTraceStub:
    """The trace service's stub with the request already serialized (``encode``'s bytes go out as they are)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.Export = channel.unary_unary(
            EXPORT_METHOD, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/gRPC span exporter with ``encode`` for the SDK's encoding."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The SDK's channel and its re-creation after UNAVAILABLE stay; only the stub's serializer changes.
        self._stub = _BytesTraceStub
        self._client = _BytesTraceStub(self._channel)  # type: ignore[assignment]

    def _translate_data(self, data: Sequence[ReadableSpan]) -> Any:
        return encode(data)


class ReadableOTLPSpanExporter(HttpSpanExporter):
    """The SDK's OTLP/HTTP span exporter, given the records as SDK spans."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export ``spans`` (records converted to SDK spans first)."""
        return super().export(readable(spans))
