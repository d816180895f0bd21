"""The lean OTLP encoding of span records gives the very message the OpenTelemetry SDK's encoder gives for
the same spans as SDK spans: for the gateway's kind of spans and for those it leaves to the SDK (events,
arrays), with a remote parent and a trace state, an error status, dropped attributes,
two origins, and a resource attribute it does not encode itself."""

from __future__ import annotations

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from service.observability.otlp_encoding import encode
from service.observability.span_record import FinishedSpan, Origin, readable

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SAMPLED = TraceFlags(TraceFlags.SAMPLED)
UNSET = Status(StatusCode.UNSET)


def _records(resource: Resource | None = None) -> list[FinishedSpan]:
    origin = Origin(resource or Resource.create({"service.name": "gateway"}), InstrumentationScope("service.x"))
    other = Origin(origin.resource, InstrumentationScope("another.scope", "1.2", "https://schema/1"))
    state = TraceState([("vendor", "a1")])
    caller = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=SAMPLED, trace_state=state)
    attributes = {"classifier.model": "m", "classifier.version": 3, "score": 0.5, "ok": True, "low": -7, "empty": ""}
    server = FinishedSpan(
        origin, "POST /x", SpanKind.SERVER, TRACE_ID, 0x1111, SAMPLED, state, caller, attributes, 100, 900, UNSET
    )
    local = SpanContext(TRACE_ID, 0x1111, is_remote=False, trace_flags=SAMPLED, trace_state=state)

    def child(name: str, attrs: dict[str, object], **more: object) -> FinishedSpan:
        values: dict[str, object] = {"kind": SpanKind.INTERNAL, "status": UNSET, "origin": origin} | more
        return FinishedSpan(
            values["origin"],  # type: ignore[arg-type]
            name,
            values["kind"],  # type: ignore[arg-type]
            TRACE_ID,
            hash(name) & 0xFFFFFFFFFFFFFFFF,
            SAMPLED,
            state,
            local,
            attrs,  # type: ignore[arg-type]
            200,
            300,
            values["status"],  # type: ignore[arg-type]
            values.get("events", ()),  # type: ignore[arg-type]
        )

    bounded = BoundedAttributes(2, {"a": 1, "b": 2, "c": 3}, immutable=True)
    return [
        child("parse", {}),
        child("model call", {"classifier.batch_rows": 4}),
        child("TF Serving Predict", {}, kind=SpanKind.CLIENT, origin=other),
        child("tags", {"labels": ["a", "b"], "sizes": (1, 2)}),
        child("bounded", bounded),  # type: ignore[arg-type]
        child("failed", {}, status=Status(StatusCode.ERROR, "ValueError: bad"), events=(Event("exception", {}, 250),)),
        child("error without message", {}, status=Status(StatusCode.ERROR)),
        server,
        FinishedSpan(origin, "root", SpanKind.INTERNAL, 5, 6, SAMPLED, None, None, {}, 1, 2, Status(StatusCode.OK)),
    ]


def _same(records: list[FinishedSpan]) -> None:
    expected = encode_spans(readable(records))
    got = ExportTraceServiceRequest.FromString(encode(records))
    assert got == expected
    # Every field present or absent as in the SDK's message (an empty message set or left out shows here).
    assert got.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)


def test_lean_encoding_equals_the_sdks_for_every_kind_of_span() -> None:
    records = _records()
    _same(records)
    assert len(ExportTraceServiceRequest.FromString(encode(records)).resource_spans[0].scope_spans) == 2


def test_a_resource_attribute_it_does_not_encode_itself_is_encoded_by_the_sdk() -> None:
    _same(_records(Resource.create({"service.name": "gateway", "blob": b"\x00\x01"})))  # type: ignore[dict-item]


@pytest.mark.parametrize("count", [0, 1])
def test_few_spans(count: int) -> None:
    _same(_records()[:count])


def test_sdk_spans_go_to_the_sdks_encoder() -> None:
    spans = readable(_records())
    assert ExportTraceServiceRequest.FromString(encode(spans)) == encode_spans(spans)


def test_children_that_travel_with_their_span_equal_the_sdks_spans() -> None:
    records = _records()
    server = records[-2]
    assert server.name == "POST /x"
    bounded = BoundedAttributes(1, {"a": 1, "b": 2}, immutable=True)
    server.children = [
        ("parse", 0x21, 200, 250, {}),
        ("model call", 0x22, 250, 300, {"classifier.batch_rows": 4}),
        ("tags", 0x23, 300, 310, {"labels": ["a", "b"]}),  # left to the SDK's encoder, alone
        ("bounded", 0x24, 310, 320, bounded),
    ]
    _same(records)
    spans = readable(records)
    assert [span.name for span in spans[-6:]] == ["parse", "model call", "tags", "bounded", "POST /x", "root"]
    for child in spans[-6:-2]:
        assert child.parent is not None and child.parent.span_id == server.span_id
        assert child.context.trace_state == server.trace_state
