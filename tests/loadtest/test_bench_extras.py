"""What the bench's extras prepare, with the real tools: a key made by ``python -m service.keys`` that the
keys file holds (hashed) and that each request sends as a Bearer token; a real OTLP receiver
(``loadtest.bench.otlp_sink``) that counts the spans the OpenTelemetry SDK's exporter sends it; the
prediction log's settings."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from loadtest.bench import extras
from loadtest.stack import ProcessGroup


def test_auth_extra_sends_the_key_the_keys_file_holds_hashed(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as sinks:
        feature = extras.prepare("auth", tmp_path / "extras", sinks, None)
        assert sinks.servers == []

    keys_file = Path(feature.env["CLASSIFIER_AUTH__KEYS_FILE"])
    scheme, key = feature.headers["Authorization"].split(" ")
    assert scheme == "Bearer" and len(key) > 20
    stored = keys_file.read_text(encoding="utf-8")
    assert key not in stored  # only its hash
    entries = json.loads(stored)["keys"]
    assert [(e["name"], e["scopes"], e["rate"]) for e in entries] == [("bench", ["classify"], extras.AUTH_RATE)]


def test_tracing_extra_exports_to_a_receiver_that_counts_the_spans(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as sinks:
        feature = extras.prepare("tracing", tmp_path / "extras", sinks, None)
        assert feature.env["CLASSIFIER_TRACING__ENABLED"] == "true"
        assert feature.env["OTEL_TRACES_SAMPLER"] == "parentbased_always_on"
        # The SDK's own OTLP/gRPC exporter, configured from the endpoint the gateway would get.
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=feature.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], insecure=True)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        for n in range(3):
            with tracer.start_as_current_span(f"request {n}"), tracer.start_as_current_span("child"):
                pass
        provider.shutdown()
        (sink,) = sinks.servers
    assert sink.process.returncode == 0
    assert "otlp_sink: 6 spans in 6 exports" in sink.log_path.read_text(encoding="utf-8")


def test_predlog_extra_logs_every_request_to_a_fresh_file(tmp_path: Path) -> None:
    folder = tmp_path / "extras"
    folder.mkdir()
    (folder / "predictions.jsonl.1").write_text("old\n", encoding="utf-8")
    with ProcessGroup(tmp_path / "logs") as sinks:
        feature = extras.prepare("predlog", folder, sinks, None)

    assert feature.env == {
        "CLASSIFIER_PREDICTION_LOG__PATH": str(folder / "predictions.jsonl"),
        "CLASSIFIER_PREDICTION_LOG__SAMPLE_RATE": "1",
    }
    assert not list(folder.glob("predictions.jsonl*"))
