"""GetModelMetadata through TF Serving's official stub: the SavedModel's signature defs, as TF Serving answers."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2

from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE, SPEC_SIGNATURE
from features.spec import ModelSpec
from training.testing import TINY_MODALITIES


def _metadata_request(
    name: str, *fields: str, version: int | None = None
) -> get_model_metadata_pb2.GetModelMetadataRequest:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    return request


@pytest.mark.parametrize("name", list(TINY_MODALITIES))
async def test_signature_defs_are_the_saved_models(prediction_stub, tiny_models: Path, name: str) -> None:
    response = await prediction_stub.GetModelMetadata(_metadata_request(name, "signature_def"), timeout=30)

    assert (response.model_spec.name, response.model_spec.version.value) == (name, 1)
    packed = response.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert packed.Unpack(signatures)
    assert {SERVING_SIGNATURE, SPEC_SIGNATURE} <= set(signatures.signature_def)
    serving = signatures.signature_def[SERVING_SIGNATURE]
    assert serving.method_name == "tensorflow/serving/predict"
    spec = ModelSpec.from_json((tiny_models / name / "1" / "assets.extra" / "spec.json").read_text())
    features = spec.features
    (input_info,) = serving.inputs.values()
    assert list(serving.inputs) == [features.input_name]
    assert tf.dtypes.as_dtype(input_info.dtype).name == features.input_dtype
    assert [d.size for d in input_info.tensor_shape.dim] == [-1, *features.input_shape]
    output = serving.outputs[PROBABILITIES_OUTPUT]
    assert [d.size for d in output.tensor_shape.dim] == [-1, len(spec.labels)]
    # The same SignatureDefs the SavedModel holds, field for field.
    loaded = tf.saved_model.load(str(tiny_models / name / "1"))
    assert set(loaded.signatures) <= set(signatures.signature_def)


async def test_pinned_version_and_its_errors(prediction_stub) -> None:
    response = await prediction_stub.GetModelMetadata(
        _metadata_request("tiny-text", "signature_def", version=1), timeout=30
    )
    assert response.model_spec.version.value == 1

    cases = [
        (_metadata_request("tiny-text", "signature_def", version=7), grpc.StatusCode.NOT_FOUND),
        (_metadata_request("no-such-model", "signature_def"), grpc.StatusCode.NOT_FOUND),
        (_metadata_request("tiny-text"), grpc.StatusCode.INVALID_ARGUMENT),
        (_metadata_request("tiny-text", "signature_def", "labels"), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await prediction_stub.GetModelMetadata(request, timeout=30)
        assert raised.value.code() == code, request
