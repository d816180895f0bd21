"""TF Serving's own client stubs and messages work against the local model server, errors included."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2, get_model_status_pb2, predict_pb2

from features import preprocess
from features.contract import read_spec
from features.spec import ModelSpec
from training.testing import TINY_LABELS, TINY_MODALITIES, tiny_input

MODELS = list(TINY_MODALITIES)


def _spec(models_dir: Path, name: str) -> ModelSpec:
    return read_spec(models_dir / name / "1")


def _batch(models_dir: Path, name: str, count: int = 2) -> np.ndarray:
    spec = _spec(models_dir, name)
    labels = TINY_LABELS[name]
    return np.stack([preprocess(tiny_input(name, labels[i % len(labels)], seed=i), spec) for i in range(count)])


def _request(
    name: str, signature: str = "", version: int | None = None, **inputs: np.ndarray
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if signature:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


async def _code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value.code()


@pytest.mark.parametrize("name", MODELS)
async def test_predict_serving_default_equals_embedded(prediction_stub, embedded_backend, tiny_models, name):
    spec = _spec(tiny_models, name)
    batch = _batch(tiny_models, name, 3)

    response = await prediction_stub.Predict(
        _request(name, "serving_default", 1, **{spec.features.input_name: batch}), timeout=30
    )

    assert response.model_spec.name == name
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    assert probabilities.shape == (3, len(spec.labels)) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, await embedded_backend.predict(name, 1, batch, timeout=30), atol=1e-6)
    assert [spec.labels[i] for i in probabilities.argmax(axis=1)] == [TINY_LABELS[name][i % 3] for i in range(3)]


async def test_predict_without_version_or_signature_uses_latest_serving_default(prediction_stub, tiny_models):
    batch = _batch(tiny_models, "tiny-text")
    response = await prediction_stub.Predict(_request("tiny-text", token_ids=batch), timeout=30)
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


async def test_predict_accepts_typed_value_fields(prediction_stub, tiny_models):
    batch = _batch(tiny_models, "tiny-text", 1)
    request = _request("tiny-text", version=1)
    tensor = request.inputs["token_ids"]
    tensor.dtype = tf.int32.as_datatype_enum
    tensor.tensor_shape.dim.add().size = batch.shape[0]
    tensor.tensor_shape.dim.add().size = batch.shape[1]
    tensor.int_val.extend(batch.reshape(-1).tolist())

    response = await prediction_stub.Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 3)


@pytest.mark.parametrize("name", MODELS)
async def test_predict_spec_signature_answers_spec_json(prediction_stub, tiny_models, name):
    response = await prediction_stub.Predict(_request(name, "spec", 1, probe=np.zeros(2, dtype=np.int32)), timeout=30)
    texts = tf.make_ndarray(response.outputs["spec_json"])
    assert texts.shape == (2,)
    assert ModelSpec.from_json(texts[0]) == _spec(tiny_models, name)


async def test_version_label_resolves_through_settings(prediction_stub, tiny_models):
    request = _request("tiny-text", token_ids=_batch(tiny_models, "tiny-text"))
    request.model_spec.version_label = "stable"
    assert (await prediction_stub.Predict(request, timeout=30)).model_spec.version.value == 1

    request.model_spec.version_label = "nightly"
    assert await _code_of(prediction_stub.Predict(request, timeout=30)) == grpc.StatusCode.INVALID_ARGUMENT
    request.model_spec.version_label = "future"  # a label of a version that is not served
    assert await _code_of(prediction_stub.Predict(request, timeout=30)) == grpc.StatusCode.NOT_FOUND


async def test_get_model_status_lists_versions(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tiny-audio"
    response = await model_stub.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0)
    ]

    request.model_spec.version.value = 1
    assert len((await model_stub.GetModelStatus(request, timeout=30)).model_version_status) == 1
    request.model_spec.version.value = 4
    assert await _code_of(model_stub.GetModelStatus(request, timeout=30)) == grpc.StatusCode.NOT_FOUND
    request.model_spec.name = "no-such-model"
    request.model_spec.ClearField("version")
    assert await _code_of(model_stub.GetModelStatus(request, timeout=30)) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda b: _request("no-such-model", token_ids=b), grpc.StatusCode.NOT_FOUND),
        (lambda b: _request("tiny-text", version=5, token_ids=b), grpc.StatusCode.NOT_FOUND),
        (lambda b: _request("tiny-text", token_ids=b.astype(np.float32)), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda b: _request("tiny-text", token_ids=b[:, :3]), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda b: _request("tiny-text", tokens=b), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda b: _request("tiny-text", token_ids=b[:0]), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda b: _request("tiny-text", "classify", token_ids=b), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda b: _request("tiny-text", "spec", probe=np.zeros((1, 1), np.int32)), grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["model", "version", "dtype", "shape", "input-name", "empty", "signature", "probe-shape"],
)
async def test_bad_requests_get_tf_serving_codes(prediction_stub, tiny_models, build, code):
    request = build(_batch(tiny_models, "tiny-text"))
    assert await _code_of(prediction_stub.Predict(request, timeout=30)) == code


async def test_unknown_output_filter_is_invalid(prediction_stub, tiny_models):
    request = _request("tiny-text", token_ids=_batch(tiny_models, "tiny-text"))
    request.output_filter.append("logits")
    assert await _code_of(prediction_stub.Predict(request, timeout=30)) == grpc.StatusCode.INVALID_ARGUMENT


async def test_classify_is_unimplemented(prediction_stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tiny-text"
    assert await _code_of(prediction_stub.Classify(request, timeout=30)) == grpc.StatusCode.UNIMPLEMENTED
