"""OpenTelemetry tracing against a real OTLP/gRPC receiver on loopback: a SERVER span per request under the
caller's traceparent (REST header, gRPC metadata), its children, a malformed traceparent ignored, a
stream's many children all under its span, and in TF Serving mode the context sent on to TF Serving's API."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import httpx
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from gateway_support import running_gateway
from observability_support import observed_settings, text_body
from otlp_support import ReceivedSpan, otlp_http_receiver, otlp_receiver, recording_proxy

from service.backends.embedded import EmbeddedBackend
from service.metrics import Metrics
from service.modelserver.server import ModelServer, model_server_settings
from service.observability.tracing import tracing_enabled
from service.settings import Settings, TracingSettings

REST_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REST_PARENT = "00f067aa0ba902b7"
GRPC_TRACE = "0af7651916cd43dd8448eb211c80319c"
GRPC_PARENT = "b7ad6b7169203331"
SERVER, CLIENT = 2, 3  # OTLP Span.SpanKind values


def _otlp_env(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-under-test")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in spans if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id}


def _show(title: str, root: ReceivedSpan, spans: list[ReceivedSpan]) -> None:
    print(f"\n{title}: trace {root.trace_id}")
    print(f"  {root.name:<40} span {root.span_id} parent {root.parent_span_id or '-':<16} {root.duration_us:9.0f} us")
    for child in sorted(_children(spans, root).values(), key=lambda s: s.start_ns):
        print(f"    {child.name:<38} span {child.span_id} parent {child.parent_span_id} {child.duration_us:9.0f} us")


async def test_embedded_request_spans_follow_the_callers_trace(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with otlp_receiver() as receiver:
        _otlp_env(monkeypatch, receiver.port)
        settings = observed_settings(models_dir, models=["tiny-text"], tracing=TracingSettings(enabled=True))
        async with running_gateway(settings) as gateway:
            assert tracing_enabled()
            async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client:
                traced = await client.post(
                    "/v1/models/tiny-text:classify",
                    json=text_body("rain and wind", "pasta with basil"),
                    headers={"traceparent": f"00-{REST_TRACE}-{REST_PARENT}-01", "X-Request-ID": "traced-rest"},
                )
                malformed = await client.post(
                    "/v1/models/tiny-text:classify",
                    json=text_body("goal"),
                    headers={"traceparent": "00-not-a-trace-id-01", "X-Request-ID": "bad-parent"},
                )
                missing = await client.post("/v1/models/absent:classify", json=text_body("x"))
            async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
                stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
                await stub.Classify(
                    pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="snow")]),
                    metadata=(("traceparent", f"00-{GRPC_TRACE}-{GRPC_PARENT}-01"),),
                    timeout=60,
                )
        assert not tracing_enabled()  # the gateway's stop removed the provider and exported the spans
    assert traced.status_code == malformed.status_code == 200
    assert missing.status_code == 404
    spans = receiver.spans()
    assert {s.service for s in spans} == {"gateway-under-test"}

    (rest,) = [s for s in spans if s.trace_id == REST_TRACE and s.kind == SERVER]
    assert rest.parent_span_id == REST_PARENT
    assert rest.name == "POST /v1/models/tiny-text:classify"
    assert rest.attributes["classifier.request_id"] == "traced-rest"
    assert rest.attributes["http.response.status_code"] == 200
    assert rest.attributes["classifier.model"] == "tiny-text"
    assert rest.attributes["classifier.version"] == 1
    assert rest.attributes["classifier.instances"] == 2
    assert rest.attributes["classifier.outcome"] == "ok"
    children = _children(spans, rest)
    assert set(children) == {"parse", "preprocess", "queue wait", "model call"}
    assert children["model call"].attributes["classifier.batch_rows"] >= 2
    slack = 100_000  # ns: the server span ends on the wall clock, children were timed on the monotonic one
    for child in children.values():
        assert rest.start_ns <= child.start_ns <= child.end_ns <= rest.end_ns + slack
    assert children["queue wait"].end_ns <= children["model call"].start_ns + 1000
    _show("embedded, REST", rest, spans)

    (bad,) = [s for s in spans if s.kind == SERVER and s.attributes.get("classifier.request_id") == "bad-parent"]
    assert bad.parent_span_id == "" and bad.trace_id not in (REST_TRACE, "0" * 32)
    (absent,) = [s for s in spans if s.kind == SERVER and s.name == "POST /v1/models/absent:classify"]
    assert absent.attributes["classifier.outcome"] == "ModelNotFound"
    assert absent.attributes["http.response.status_code"] == 404

    (grpc_span,) = [s for s in spans if s.trace_id == GRPC_TRACE and s.kind == SERVER]
    assert grpc_span.parent_span_id == GRPC_PARENT
    assert grpc_span.name == "/classifier.v1.Classifier/Classify"
    assert grpc_span.attributes["rpc.grpc.status_code"] == "OK"
    assert set(_children(spans, grpc_span)) == {"parse", "preprocess", "queue wait", "model call"}
    _show("embedded, gRPC", grpc_span, spans)


async def test_a_streams_spans_all_reach_the_receiver_under_its_server_span(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = 12  # four children each: more than a SERVER span holds before handing them on
    async with otlp_receiver() as receiver:
        _otlp_env(monkeypatch, receiver.port)
        settings = observed_settings(models_dir, models=["tiny-text"], tracing=TracingSettings(enabled=True))
        async with (
            running_gateway(settings) as gateway,
            grpc.aio.insecure_channel(gateway.grpc.address) as channel,
        ):
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            requests = [
                pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text=f"storm {i}")]) for i in range(messages)
            ]
            answers = [
                answer
                async for answer in stub.ClassifyStream(
                    iter(requests), metadata=(("traceparent", f"00-{GRPC_TRACE}-{GRPC_PARENT}-01"),), timeout=60
                )
            ]
    assert len(answers) == messages
    spans = [s for s in receiver.spans() if s.trace_id == GRPC_TRACE]
    (stream,) = [s for s in spans if s.kind == SERVER]
    assert stream.name == "/classifier.v1.Classifier/ClassifyStream"
    assert stream.parent_span_id == GRPC_PARENT
    children = [s for s in spans if s.parent_span_id == stream.span_id]
    assert len(children) == len(spans) - 1 == 4 * messages
    assert {
        name: sum(s.name == name for s in children) for name in ("parse", "preprocess", "queue wait", "model call")
    } == {
        "parse": messages,
        "preprocess": messages,
        "queue wait": messages,
        "model call": messages,
    }
    assert len({s.span_id for s in spans}) == len(spans)


async def test_tfserving_mode_sends_the_trace_on_to_tf_serving(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_settings = model_server_settings(Settings(models_dir=models_dir, poll_interval_s=0.2, inference_threads=1))
    backend = EmbeddedBackend(server_settings, Metrics())
    await backend.start()
    model_server = ModelServer(server_settings, backend, host="127.0.0.1", port=0)
    port = await model_server.start()
    try:
        async with otlp_receiver() as receiver, recording_proxy(f"127.0.0.1:{port}") as (proxy_port, seen):
            _otlp_env(monkeypatch, receiver.port)
            settings = observed_settings(
                models_dir,
                models=["tiny-text"],
                backend="tfserving",
                tfserving_target=f"127.0.0.1:{proxy_port}",
                grpc_enabled=False,
                tracing=TracingSettings(enabled=True),
            )
            async with (
                running_gateway(settings) as gateway,
                httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
            ):
                response = await client.post(
                    "/v1/models/tiny-text:classify",
                    json=text_body("a sunny day"),
                    headers={"traceparent": f"00-{REST_TRACE}-{REST_PARENT}-01"},
                )
    finally:
        await model_server.stop(None)
        await backend.close()
    assert response.status_code == 200, response.text
    spans = receiver.spans()
    (rest,) = [s for s in spans if s.trace_id == REST_TRACE and s.kind == SERVER]
    children = _children(spans, rest)
    # The Predict RPC of the batch the request was in (the oldest request's trace carries it).
    assert set(children) == {"parse", "preprocess", "queue wait", "model call", "TF Serving Predict"}
    predict = children["TF Serving Predict"]
    assert predict.kind == CLIENT
    assert predict.attributes["classifier.model"] == "tiny-text"
    assert predict.attributes["classifier.version"] == 1
    # What TF Serving's API received: the context of the gateway's CLIENT span.
    predicts = [metadata for method, metadata in seen if method.endswith("/Predict") and "traceparent" in metadata]
    assert f"00-{REST_TRACE}-{predict.span_id}-01" in [m["traceparent"] for m in predicts]
    _show("TF Serving mode, REST", rest, spans)


def test_tracing_off_makes_no_spans() -> None:
    from service.observability import tracing

    assert not tracing.tracing_enabled()
    assert tracing.span("preprocess") is tracing.NO_SPAN
    assert tracing.server_span("x", {"traceparent": f"00-{REST_TRACE}-{REST_PARENT}-01"}) is tracing.NO_SPAN
    assert tracing.outgoing_metadata() is None
    started = time.monotonic()
    tracing.record_span("queue wait", started, started)  # returns at once, nothing to export


async def test_spans_over_otlp_http(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with otlp_http_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "gateway-over-http")
        settings = observed_settings(
            models_dir, models=["tiny-text"], grpc_enabled=False, tracing=TracingSettings(enabled=True)
        )
        async with (
            running_gateway(settings) as gateway,
            httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
        ):
            traced = await client.post(
                "/v1/models/tiny-text:classify",
                json=text_body("rain and wind"),
                headers={"traceparent": f"00-{REST_TRACE}-{REST_PARENT}-01"},
            )
        spans = receiver.spans()
    assert traced.status_code == 200
    assert set(receiver.content_types) == {"application/x-protobuf"}
    root = next(s for s in spans if s.trace_id == REST_TRACE and s.kind == SERVER)
    assert root.parent_span_id == REST_PARENT
    assert root.service == "gateway-over-http"
    assert root.attributes["classifier.model"] == "tiny-text"
    assert root.attributes["classifier.outcome"] == "ok"
    assert set(_children(spans, root)) == {"parse", "preprocess", "queue wait", "model call"}
    _show("REST over OTLP/HTTP", root, spans)
