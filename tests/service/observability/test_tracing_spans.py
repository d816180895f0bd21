"""The tracing helpers against a real OTLP/gRPC receiver, without a gateway: the sampler decides once per
request (an unsampled request exports nothing and its flags go on to TF Serving), span limits from
``OTEL_SPAN_*`` hold, an escaping exception becomes the SDK's ``exception`` event and an ERROR status, and
the spans carry what the SDK's own spans carry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.trace import SpanKind
from otlp_support import OtlpReceiver, otlp_receiver

from service.observability import tracing

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@asynccontextmanager
async def _tracing(monkeypatch: pytest.MonkeyPatch, **env: str) -> AsyncIterator[OtlpReceiver]:
    async with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{receiver.port}")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "spans-under-test")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        tracing.enable_tracing()
        try:
            yield receiver
        finally:
            await asyncio.to_thread(tracing.disable_tracing)  # exports what is buffered


def _request(name: str, traceparent: str | None, **attributes: Any) -> tuple[tuple[str, str], ...] | None:
    """One request's spans, as the surfaces and the core make them; returns the metadata sent to TF Serving."""
    carrier = {"traceparent": traceparent} if traceparent else {}
    with tracing.server_span(name, carrier, **attributes) as span:
        tracing.parsed()
        with tracing.span("preprocess"):
            pass
        now = time.monotonic()
        tracing.record_span("model call", now, now, **{"classifier.batch_rows": 3})
        with tracing.span("TF Serving Predict", SpanKind.CLIENT) as client:
            client.set_attributes({"rpc.system": "grpc"})
            metadata = tracing.outgoing_metadata()
        tracing.annotate("ok", model="m", version=2, instances=1)
        span.set_attribute("http.response.status_code", 200)
    return metadata


def _spans(receiver: OtlpReceiver) -> list[PbSpan]:
    return [s for r in receiver.requests for ss in r.resource_spans for s in ss.scope_spans for s in s.spans]


def _attributes(span: PbSpan) -> dict[str, Any]:
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in span.attributes}


async def test_a_sampled_request_exports_its_tree_and_sends_its_client_span_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _tracing(monkeypatch) as receiver:
        metadata = _request("POST /x", f"00-{TRACE}-{PARENT}-01", **{"url.path": "/x"})
    spans = _spans(receiver)
    assert {s.trace_id.hex() for s in spans} == {TRACE}
    (server,) = [s for s in spans if s.kind == PbSpan.SpanKind.SPAN_KIND_SERVER]
    assert server.parent_span_id.hex() == PARENT
    assert server.flags & 0x200  # the parent was remote, as the SDK marks it
    assert _attributes(server) == {
        "url.path": "/x",
        "classifier.model": "m",
        "classifier.version": 2,
        "classifier.instances": 1,
        "classifier.outcome": "ok",
        "http.response.status_code": 200,
    }
    children = {s.name: s for s in spans if s.parent_span_id == server.span_id}
    assert set(children) == {"parse", "preprocess", "model call", "TF Serving Predict"}
    assert len({s.span_id for s in spans}) == 5
    assert _attributes(children["model call"]) == {"classifier.batch_rows": 3}
    predict = children["TF Serving Predict"]
    assert predict.kind == PbSpan.SpanKind.SPAN_KIND_CLIENT
    assert _attributes(predict) == {"rpc.system": "grpc"}
    assert metadata == (("traceparent", f"00-{TRACE}-{predict.span_id.hex()}-01"),)
    for child in children.values():
        assert server.start_time_unix_nano <= child.start_time_unix_nano <= child.end_time_unix_nano
        assert child.end_time_unix_nano <= server.end_time_unix_nano


async def test_an_unsampled_request_exports_nothing_and_its_flags_go_on(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _tracing(monkeypatch) as receiver:
        metadata = _request("POST /unsampled", f"00-{TRACE}-{PARENT}-00")  # the caller did not sample it
        _request("POST /sampled", None)
    assert [s.name for s in _spans(receiver) if s.kind == PbSpan.SpanKind.SPAN_KIND_SERVER] == ["POST /sampled"]
    assert TRACE not in {s.trace_id.hex() for s in _spans(receiver)}
    assert metadata is not None
    ((key, traceparent),) = metadata
    assert key == "traceparent"
    assert traceparent.startswith(f"00-{TRACE}-") and traceparent.endswith("-00")


async def test_the_sampler_from_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _tracing(monkeypatch, OTEL_TRACES_SAMPLER="always_off") as receiver:
        metadata = _request("POST /off", None)
    assert _spans(receiver) == []
    assert metadata is not None
    assert int(metadata[0][1].rsplit("-", 1)[1], 16) & 1 == 0  # not sampled (a new root: random id flag 02)


async def test_span_limits_from_the_environment_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _tracing(monkeypatch, OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT="4") as receiver:
        _request("POST /limited", None, **{"classifier.request_id": "abcdefgh"})
    (server,) = [s for s in _spans(receiver) if s.kind == PbSpan.SpanKind.SPAN_KIND_SERVER]
    assert _attributes(server)["classifier.request_id"] == "abcd"
    assert _attributes(server)["classifier.outcome"] == "ok"


async def test_an_escaping_exception_is_recorded_as_the_sdk_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _tracing(monkeypatch) as receiver:
        with pytest.raises(ValueError), tracing.server_span("POST /failing", {}):
            raise ValueError("bad input")
    (server,) = _spans(receiver)
    assert server.status.code == 2  # ERROR
    assert server.status.message == "ValueError: bad input"
    (event,) = server.events
    assert event.name == "exception"
    attributes = _attributes(event)
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "bad input"
    assert "ValueError: bad input" in attributes["exception.stacktrace"]
    assert attributes["exception.escaped"] == "False"


def test_outside_a_request_nothing_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9")
    tracing.enable_tracing()
    try:
        assert tracing.span("preprocess") is tracing.NO_SPAN  # e.g. the readiness self-check
        assert tracing.span("TF Serving Predict", SpanKind.CLIENT) is tracing.NO_SPAN
        assert tracing.outgoing_metadata() is None
    finally:
        tracing.disable_tracing()


async def test_a_streams_many_children_are_all_exported_and_none_is_held_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    count = 3 * tracing._HELD_CHILDREN + 1  # one per message of a long stream
    async with _tracing(monkeypatch) as receiver:
        with tracing.server_span("/classifier.v1.Classifier/ClassifyStream", {}) as stream:
            for index in range(count):
                now = time.monotonic()
                tracing.record_span("model call", now, now, **{"message": index})
                assert stream.children is not None and len(stream.children) < tracing._HELD_CHILDREN
    spans = _spans(receiver)
    (server,) = [s for s in spans if s.kind == PbSpan.SpanKind.SPAN_KIND_SERVER]
    children = [s for s in spans if s.name == "model call"]
    assert sorted(_attributes(s)["message"] for s in children) == list(range(count))
    assert {s.parent_span_id for s in children} == {server.span_id}
    assert len({s.span_id for s in children}) == count
