"""Our wire messages and TF Serving's official ones are byte-compatible, in both directions.

Each message the backend sends or reads is built with our classes, serialised and parsed with the
official ``tensorflow_serving.apis`` / ``tensorflow.core.framework`` classes (no unknown fields, the same
values, the same bytes again), and the other way round. Both sets live in one process here, which also
proves they do not clash in the default descriptor pool.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor as descriptor_mod
from google.protobuf import text_format
from google.protobuf.unknown_fields import UnknownFieldSet
from tensorflow.core.framework import tensor_pb2 as tf_tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2 as tf_shape_pb2
from tensorflow_serving.apis import get_model_status_pb2 as tf_status_pb2
from tensorflow_serving.apis import model_pb2 as tf_model_pb2
from tensorflow_serving.apis import model_service_pb2 as tf_model_service_pb2
from tensorflow_serving.apis import predict_pb2 as tf_predict_pb2
from tensorflow_serving.apis import prediction_service_pb2 as tf_prediction_service_pb2
from tensorflow_serving.apis import status_pb2 as tf_status_proto_pb2
from tensorflow_serving.config import model_server_config_pb2 as tf_config_pb2

from service.tfserving_wire import GET_MODEL_STATUS_METHOD, PREDICT_METHOD
from service.tfserving_wire import get_model_status_pb2 as wire_status_pb2
from service.tfserving_wire import model_pb2 as wire_model_pb2
from service.tfserving_wire import model_server_config_pb2 as wire_config_pb2
from service.tfserving_wire import predict_pb2 as wire_predict_pb2
from service.tfserving_wire import tensor_pb2 as wire_tensor_pb2
from service.tfserving_wire.tensors import fill_tensor, tensor_to_array

ROOT = Path(__file__).resolve().parents[3]

#: (ours, official) for every message of the wire set.
PAIRS = [
    (wire_tensor_pb2.TensorProto, tf_tensor_pb2.TensorProto),
    (wire_tensor_pb2.TensorShapeProto, tf_shape_pb2.TensorShapeProto),
    (wire_model_pb2.ModelSpec, tf_model_pb2.ModelSpec),
    (wire_predict_pb2.PredictRequest, tf_predict_pb2.PredictRequest),
    (wire_predict_pb2.PredictResponse, tf_predict_pb2.PredictResponse),
    (wire_status_pb2.GetModelStatusRequest, tf_status_pb2.GetModelStatusRequest),
    (wire_status_pb2.GetModelStatusResponse, tf_status_pb2.GetModelStatusResponse),
    (wire_status_pb2.ModelVersionStatus, tf_status_pb2.ModelVersionStatus),
    (wire_status_pb2.StatusProto, tf_status_proto_pb2.StatusProto),
    (wire_config_pb2.ModelServerConfig, tf_config_pb2.ModelServerConfig),
]


def _crossing(message: Any, target_class: Any) -> Any:
    """Serialise ``message``, parse it as ``target_class``; asserts nothing was unknown and the bytes round-trip."""
    data = message.SerializeToString(deterministic=True)
    parsed = target_class.FromString(data)
    assert len(UnknownFieldSet(parsed)) == 0
    assert parsed.SerializeToString(deterministic=True) == data
    return parsed


@pytest.mark.parametrize(("ours", "official"), PAIRS, ids=[ours.__name__ for ours, _ in PAIRS])
def test_declared_fields_match_official_numbers_and_types(ours, official):
    _assert_same_fields(ours.DESCRIPTOR, official.DESCRIPTOR)


def _assert_same_fields(ours: descriptor_mod.Descriptor, official: descriptor_mod.Descriptor) -> None:
    for field in ours.fields:
        twin = official.fields_by_name.get(field.name)
        assert twin is not None, f"{official.full_name} has no field {field.name}"
        assert (field.number, field.type, field.is_repeated) == (twin.number, twin.type, twin.is_repeated), (
            f"{ours.full_name}.{field.name}"
        )
        if field.containing_oneof is not None:
            assert twin.containing_oneof is not None and twin.containing_oneof.name == field.containing_oneof.name
        if field.message_type is not None:
            _assert_same_fields(field.message_type, twin.message_type)
        if field.enum_type is not None:
            official_values = {v.name: v.number for v in twin.enum_type.values}
            for value in field.enum_type.values:
                assert official_values.get(value.name) == value.number, f"{field.enum_type.full_name}.{value.name}"


def test_method_paths_are_tf_serving_services():
    predict = tf_prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].methods_by_name["Predict"]
    status = tf_model_service_pb2.DESCRIPTOR.services_by_name["ModelService"].methods_by_name["GetModelStatus"]
    assert f"/{predict.containing_service.full_name}/{predict.name}" == PREDICT_METHOD
    assert f"/{status.containing_service.full_name}/{status.name}" == GET_MODEL_STATUS_METHOD
    assert predict.input_type.full_name == "tensorflow.serving.PredictRequest"


@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 4 * 3 * 1, dtype=np.uint8).reshape(2, 4, 3, 1),
        np.array([[1, -7, 2**31 - 1]], dtype=np.int32),
        np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 3, 4),
        np.array([0], dtype=np.int32),
        np.array([b"{}", "sp\u00e9c".encode()], dtype=object),
    ],
    ids=["uint8", "int32", "float32", "probe", "string"],
)
def test_request_with_raw_tensor_parses_as_official_and_back(array):
    ours = wire_predict_pb2.PredictRequest()
    ours.model_spec.name = "digits"
    ours.model_spec.version.value = 3
    ours.model_spec.signature_name = "serving_default"
    fill_tensor(ours.inputs["x"], array)
    ours.output_filter.append("probabilities")

    official = _crossing(ours, tf_predict_pb2.PredictRequest)
    assert official.model_spec.name == "digits"
    assert official.model_spec.WhichOneof("version_choice") == "version"
    assert official.model_spec.version.value == 3
    assert list(official.output_filter) == ["probabilities"]
    import tensorflow as tf

    decoded = tf.make_ndarray(official.inputs["x"])
    if array.dtype == object:
        assert decoded.tolist() == array.tolist()
    else:
        assert decoded.dtype == array.dtype
        np.testing.assert_array_equal(decoded, array)

    back = _crossing(official, wire_predict_pb2.PredictRequest)
    np.testing.assert_array_equal(tensor_to_array(back.inputs["x"]), array)


def test_official_response_tensors_decode_with_ours():
    import tensorflow as tf

    probabilities = np.array([[0.1, 0.9], [0.75, 0.25]], dtype=np.float32)
    official = tf_predict_pb2.PredictResponse()
    official.model_spec.name = "spam"
    official.model_spec.version.value = 7
    official.model_spec.signature_name = "spec"
    official.outputs["probabilities"].CopyFrom(tf.make_tensor_proto(probabilities))  # tensor_content
    official.outputs["as_values"].CopyFrom(tf.make_tensor_proto([0.5, 0.5]))  # float_val
    official.outputs["spec_json"].CopyFrom(tf.make_tensor_proto([b'{"a": 1}']))  # string_val

    ours = _crossing(official, wire_predict_pb2.PredictResponse)
    assert (ours.model_spec.name, ours.model_spec.version.value, ours.model_spec.signature_name) == ("spam", 7, "spec")
    np.testing.assert_array_equal(tensor_to_array(ours.outputs["probabilities"]), probabilities)
    np.testing.assert_array_equal(tensor_to_array(ours.outputs["as_values"]), np.array([0.5, 0.5], np.float32))
    assert tensor_to_array(ours.outputs["spec_json"]).tolist() == [b'{"a": 1}']


def test_version_label_crosses_both_ways():
    ours = wire_model_pb2.ModelSpec(name="digits", version_label="canary", signature_name="spec")
    official = _crossing(ours, tf_model_pb2.ModelSpec)
    assert official.WhichOneof("version_choice") == "version_label"
    assert official.version_label == "canary"
    back = _crossing(official, wire_model_pb2.ModelSpec)
    assert back.WhichOneof("version_choice") == "version_label"


def test_model_status_crosses_both_ways():
    request = wire_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    request.model_spec.version.value = 2
    assert _crossing(request, tf_status_pb2.GetModelStatusRequest).model_spec.version.value == 2

    official = tf_status_pb2.GetModelStatusResponse()
    loaded = official.model_version_status.add()
    loaded.version, loaded.state = 2, tf_status_pb2.ModelVersionStatus.AVAILABLE
    failed = official.model_version_status.add()
    failed.version, failed.state = 3, tf_status_pb2.ModelVersionStatus.END
    failed.status.error_code = 3  # INVALID_ARGUMENT
    failed.status.error_message = "could not load"

    ours = _crossing(official, wire_status_pb2.GetModelStatusResponse)
    states = [(s.version, s.state, s.status.error_code, s.status.error_message) for s in ours.model_version_status]
    assert states == [
        (2, wire_status_pb2.ModelVersionStatus.AVAILABLE, wire_status_pb2.OK, ""),
        (3, wire_status_pb2.ModelVersionStatus.END, wire_status_pb2.INVALID_ARGUMENT, "could not load"),
    ]
    _crossing(ours, tf_status_pb2.GetModelStatusResponse)


def test_model_server_config_names_read_with_ours():
    text = """
    model_config_list {
      config { name: "digits" base_path: "/models/digits" model_platform: "tensorflow"
               model_version_policy { latest { num_versions: 2 } } version_labels { key: "stable" value: 1 } }
      config { name: "spam" base_path: "/models/spam" model_platform: "tensorflow" }
    }
    """
    official = text_format.Parse(text, tf_config_pb2.ModelServerConfig())
    ours = text_format.Parse(text, wire_config_pb2.ModelServerConfig(), allow_unknown_field=True)
    assert [c.name for c in ours.model_config_list.config] == ["digits", "spam"]
    reparsed = wire_config_pb2.ModelServerConfig.FromString(official.SerializeToString())
    assert [c.base_path for c in reparsed.model_config_list.config] == ["/models/digits", "/models/spam"]


def test_generated_modules_match_proto_sources(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_tfserving_wire.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    generated = {p.name: p.read_bytes() for p in (tmp_path / "service" / "tfserving_wire").glob("*_pb2.py*")}
    committed = {p.name: p.read_bytes() for p in (ROOT / "service" / "tfserving_wire").glob("*_pb2.py*")}
    assert sorted(generated) == sorted(committed)
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"run `make tfserving-proto`: {stale} differ from service/tfserving_wire/*.proto"
