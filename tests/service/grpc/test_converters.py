"""Converters between classifier.v1 messages and the core's types: every field, both ways, no loss."""

from __future__ import annotations

from typing import Any

import pytest
from classifier_client.v1 import classifier_pb2 as pb

from service.core.schemas import ClassifyResponse, InputLimitsInfo, ModelInfo, Prediction, ScoredLabel, VersionInfo
from service.errors import SchemaViolation
from service.grpc.converters import ClassifyRequestConverter, ClassifyResponseConverter, ModelInfoConverter


def test_request_keeps_inputs_in_order_with_their_types() -> None:
    message = pb.ClassifyRequest(
        model="m", inputs=[pb.Input(text="hi"), pb.Input(image=b"\x89PNG"), pb.Input(audio=b"RIFF"), pb.Input(text="")]
    )

    call = ClassifyRequestConverter.to_types(message, timeout_s=1.5)

    assert call.inputs == ["hi", b"\x89PNG", b"RIFF", ""]
    assert (call.model, call.version, call.version_label, call.top_k) == ("m", None, None, None)
    assert call.timeout_s == 1.5
    assert call.surface == "grpc"


@pytest.mark.parametrize(
    ("fields", "version", "label", "top_k"),
    [({"version": 4, "top_k": 2}, 4, None, 2), ({"version_label": "canary"}, None, "canary", None)],
)
def test_request_version_choice_and_top_k(fields: dict[str, Any], version: int, label: str, top_k: int) -> None:
    message = pb.ClassifyRequest(model="m", inputs=[pb.Input(text="x")], **fields)

    call = ClassifyRequestConverter.to_types(message, timeout_s=None)

    assert (call.version, call.version_label, call.top_k, call.timeout_s) == (version, label, top_k, None)


def test_version_zero_is_a_pinned_version_not_the_default() -> None:
    message = pb.ClassifyRequest(model="m", inputs=[pb.Input(text="x")], version=0)

    assert ClassifyRequestConverter.to_types(message, timeout_s=None).version == 0


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        (pb.ClassifyRequest(inputs=[pb.Input(text="x")]), "'model' is required"),
        (pb.ClassifyRequest(model="m"), "at least one input"),
        (pb.ClassifyRequest(model="m", inputs=[pb.Input(text="x"), pb.Input()]), "input 1 has none"),
    ],
)
def test_request_refuses_what_the_rest_schema_would(message: pb.ClassifyRequest, detail: str) -> None:
    with pytest.raises(SchemaViolation, match=detail):
        ClassifyRequestConverter.to_types(message, timeout_s=None)


def test_response_sends_labels_once_and_probabilities_in_their_order() -> None:
    prediction = Prediction(
        label="b",
        score=0.625,
        top_k=[ScoredLabel(label="b", score=0.625), ScoredLabel(label="c", score=0.25)],
        probabilities={"a": 0.125, "b": 0.625, "c": 0.25},
    )
    response = ClassifyResponse(model="m", version=3, predictions=[prediction, prediction])

    message = ClassifyResponseConverter.from_types(response)

    assert (message.model, message.version, list(message.labels)) == ("m", 3, ["a", "b", "c"])
    assert list(message.predictions[1].probabilities) == [0.125, 0.625, 0.25]
    assert [(s.label, s.score) for s in message.predictions[0].top_k] == [("b", 0.625), ("c", 0.25)]
    assert (message.predictions[0].label, message.predictions[0].score) == ("b", 0.625)


def test_model_info_leaves_missing_values_unset() -> None:
    loading = ModelInfo(
        name="m",
        modality=None,
        labels=[],
        versions=[VersionInfo(version=1, state="LOADING")],
        default_version=None,
    )

    message = ModelInfoConverter.from_types(loading)

    for field in ("modality", "default_version", "spec_hash", "input_limits"):
        assert not message.HasField(field), field
    assert not message.versions[0].HasField("error")


def test_model_info_carries_every_field() -> None:
    info = ModelInfo(
        name="m",
        modality="text",
        labels=["x", "y"],
        versions=[VersionInfo(version=2, state="AVAILABLE"), VersionInfo(version=1, state="END", error="bad")],
        default_version=2,
        version_labels={"stable": 2},
        spec_hash="sha256:abc",
        input_limits=InputLimitsInfo(
            max_body_bytes=10, max_instances=2, max_image_pixels=30, max_audio_seconds=1.5, max_text_chars=40
        ),
    )

    message = ModelInfoConverter.from_types(info)

    assert (message.name, message.modality, list(message.labels)) == ("m", "text", ["x", "y"])
    assert [(v.version, v.state, v.error) for v in message.versions] == [(2, "AVAILABLE", ""), (1, "END", "bad")]
    assert (message.default_version, dict(message.version_labels), message.spec_hash) == (
        2,
        {"stable": 2},
        "sha256:abc",
    )
    assert message.input_limits == pb.InputLimits(
        max_body_bytes=10, max_instances=2, max_image_pixels=30, max_audio_seconds=1.5, max_text_chars=40
    )
