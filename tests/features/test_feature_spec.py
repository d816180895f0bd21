"""The ModelSpec contract: JSON round trip, content hash, tamper refusal, feature shapes."""

from __future__ import annotations

import json

import pydantic
import pytest

from features.spec import AudioFeatures, ImageFeatures, ModelSpec, TextFeatures


@pytest.fixture(params=["image", "text", "audio"])
def model_spec(request, gray_spec, text_spec, audio_spec) -> ModelSpec:
    features = {"image": gray_spec, "text": text_spec, "audio": audio_spec}[request.param]
    return ModelSpec(name=f"demo-{request.param}", labels=("a", "b", "c"), features=features)


def test_model_spec_json_round_trip_keeps_content_and_hash(model_spec):
    restored = ModelSpec.from_json(model_spec.to_json())

    assert restored == model_spec
    assert restored.content_hash == model_spec.content_hash
    assert restored.modality == model_spec.features.modality
    assert json.loads(model_spec.to_json())["content_hash"].startswith("sha256:")


def test_model_spec_hash_changes_with_content(model_spec):
    relabelled = model_spec.model_copy(update={"labels": ("a", "b", "d")})

    assert ModelSpec.model_validate(relabelled.model_dump()).content_hash != model_spec.content_hash


def test_model_spec_tampered_json_refused(model_spec):
    document = json.loads(model_spec.to_json())
    document["labels"] = ["b", "a", "c"]  # swapped labels: a silent, catastrophic edit

    with pytest.raises(pydantic.ValidationError, match="content_hash"):
        ModelSpec.from_json(json.dumps(document))


def test_model_spec_tampered_features_refused():
    spec = ModelSpec(name="m", labels=("a", "b"), features=ImageFeatures(height=28, width=28))
    document = json.loads(spec.to_json())
    document["features"]["polarity"] = "light_on_dark"

    with pytest.raises(pydantic.ValidationError, match="content_hash"):
        ModelSpec.from_json(json.dumps(document))


def test_model_spec_without_hash_is_accepted_and_hashed(model_spec):
    document = json.loads(model_spec.to_json())
    del document["content_hash"]

    assert ModelSpec.model_validate(document).content_hash == model_spec.content_hash


def test_feature_shapes_and_dtypes(gray_spec, rgb_spec, text_spec, audio_spec):
    assert (gray_spec.input_shape, gray_spec.input_dtype) == ((28, 28, 1), "uint8")
    assert rgb_spec.input_shape == (32, 32, 3)
    assert (text_spec.input_shape, text_spec.input_dtype) == ((6,), "int32")
    assert (audio_spec.input_shape, audio_spec.input_dtype) == ((97, 40), "float32")


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (TextFeatures, {"vocabulary": ("<pad>", "<unk>", "a", "a"), "sequence_length": 4}),
        (AudioFeatures, {"sample_rate": 16_000, "fmax": 9_000.0}),
        (AudioFeatures, {"clip_seconds": 0.01}),
        (ImageFeatures, {"height": 0, "width": 28}),
    ],
    ids=["duplicate-token", "fmax-over-nyquist", "clip-shorter-than-frame", "zero-height"],
)
def test_feature_specs_refuse_inconsistent_parameters(factory, kwargs):
    with pytest.raises(pydantic.ValidationError):
        factory(**kwargs)


def test_min_confidence_is_optional_and_leaves_old_hashes_alone(model_spec):
    old = json.loads(model_spec.to_json())
    del old["min_confidence"]  # a spec.json written before the field existed

    loaded = ModelSpec.model_validate(old)
    assert loaded.min_confidence is None and loaded.content_hash == old["content_hash"]
    fields = {key: value for key, value in old.items() if key != "content_hash"}
    strict = ModelSpec.model_validate(json.loads(ModelSpec.model_validate({**fields, "min_confidence": 0.8}).to_json()))
    assert strict.min_confidence == 0.8 and strict.content_hash != loaded.content_hash
    with pytest.raises(pydantic.ValidationError):
        ModelSpec.model_validate({**fields, "min_confidence": 1.5})
