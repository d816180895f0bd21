"""The exported version honours the contract in ARCHITECTURE.md, read back the way servers read it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from features.contract import (
    PROBABILITIES_OUTPUT,
    SERVING_SIGNATURE,
    SPEC_INPUT,
    SPEC_OUTPUT,
    SPEC_SIGNATURE,
    version_dirs,
    warmup_file,
)
from features.spec import ModelSpec, TextFeatures
from training.architectures import build_model
from training.calibration import apply_temperature
from training.export import (
    ExportError,
    check_signatures,
    export_version,
    next_version,
    signature_summary,
)
from training.pipeline import TrainingResult


def test_export_writes_version_one_with_assets(tiny: TrainingResult):
    assert tiny.version_dir.name == "1"
    extra = tiny.version_dir / "assets.extra"
    assert (tiny.version_dir / "saved_model.pb").is_file()
    assert sorted(p.name for p in extra.iterdir()) == [
        "confusion_matrix.png",
        "evaluation.json",
        "reliability_diagram.png",
        "spec.json",
        "tf_serving_warmup_requests",
    ]
    assert ModelSpec.from_json((extra / "spec.json").read_text()) == tiny.spec
    evaluation = json.loads((extra / "evaluation.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(tiny.evaluation.accuracy)
    assert (extra / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert (extra / "reliability_diagram.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    calibration = evaluation["calibration"]
    assert calibration["fitted_on"] == "val" and calibration["temperature"] > 0
    assert 0 <= calibration["ece_after"] <= 1 and 0 <= calibration["ece_before"] <= 1
    assert evaluation["expected_calibration_error"] == pytest.approx(calibration["ece_after"])


def test_serving_signature_has_contract_names_and_dtypes(tiny: TrainingResult):
    loaded = tf.saved_model.load(str(tiny.version_dir))
    serve = loaded.signatures[SERVING_SIGNATURE]
    features = tiny.spec.features
    (inputs,) = serve.structured_input_signature[1].items()
    name, tensor = inputs
    assert name == features.input_name
    assert tensor.dtype == tf.as_dtype(features.input_dtype)
    assert tensor.shape.as_list() == [None, *features.input_shape]
    outputs = serve.structured_outputs
    assert list(outputs) == [PROBABILITIES_OUTPUT]
    assert outputs[PROBABILITIES_OUTPUT].dtype == tf.float32
    assert outputs[PROBABILITIES_OUTPUT].shape.as_list() == [None, len(tiny.spec.labels)]


def test_spec_signature_round_trips_the_model_spec(tiny: TrainingResult):
    loaded = tf.saved_model.load(str(tiny.version_dir))
    describe = loaded.signatures[SPEC_SIGNATURE]
    assert describe.structured_input_signature[1] == {SPEC_INPUT: tf.TensorSpec([None], tf.int32, name=SPEC_INPUT)}
    assert describe.structured_outputs[SPEC_OUTPUT].dtype == tf.string

    rows = describe(**{SPEC_INPUT: tf.constant([0, 7, 0], tf.int32)})[SPEC_OUTPUT].numpy()

    assert len(rows) == 3
    assert {ModelSpec.from_json(row) for row in rows} == {tiny.spec}


def test_serving_signature_returns_softmax_rows(tiny: TrainingResult):
    loaded = tf.saved_model.load(str(tiny.version_dir))
    features = tiny.spec.features
    batch = np.zeros((2, *features.input_shape), dtype=features.input_dtype)

    probabilities = loaded.signatures[SERVING_SIGNATURE](**{features.input_name: batch})

    assert probabilities[PROBABILITIES_OUTPUT].numpy().sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_warmup_records_parse_as_prediction_logs(tiny: TrainingResult):
    path = warmup_file(tiny.version_dir)
    features = tiny.spec.features

    records = tf.data.TFRecordDataset(str(path)).as_numpy_iterator()
    logs = [prediction_log_pb2.PredictionLog.FromString(record) for record in records]

    assert logs
    for log in logs:
        assert isinstance(log, prediction_log_pb2.PredictionLog)
        request = log.predict_log.request
        assert request.model_spec.name == tiny.spec.name
        assert request.model_spec.signature_name == SERVING_SIGNATURE
        assert list(request.inputs) == [features.input_name]
        array = tf.make_ndarray(request.inputs[features.input_name])
        assert array.dtype == np.dtype(features.input_dtype)
        assert array.shape[1:] == features.input_shape
        assert 1 <= array.shape[0] <= 4


@pytest.fixture
def untrained(tiny_results: dict[str, TrainingResult]) -> tuple[object, ModelSpec]:
    text = tiny_results["tiny-text"].spec
    spec = ModelSpec(name="numbering", labels=text.labels, features=text.features)
    return build_model(spec), spec


def _export(untrained: tuple[object, ModelSpec], models_dir: Path) -> Path:
    model, spec = untrained
    warmup = np.ones((1, *spec.features.input_shape), dtype=spec.features.input_dtype)
    return export_version(model, spec, models_dir, warmup_inputs=warmup, refresh_serving=False)


def test_export_numbers_next_version_from_highest_present(untrained, tmp_path: Path):
    model_dir = tmp_path / "numbering"
    for name in ("1", "3", ".export-stale", "notes", "2b"):
        (model_dir / name).mkdir(parents=True)

    first = _export(untrained, tmp_path)
    second = _export(untrained, tmp_path)

    assert (first.name, second.name) == ("4", "5")
    assert list(version_dirs(model_dir)) == [1, 3, 4, 5]
    assert next_version(model_dir) == 6


def test_export_builds_in_hidden_folder_before_rename(untrained, tmp_path: Path, monkeypatch):
    import training.export as export

    seen: list[list[str]] = []
    publish = export._publish

    def spy(staging: Path, model_dir: Path) -> Path:
        seen.append(sorted(p.name for p in model_dir.iterdir()))
        assert staging.parent == model_dir
        assert (staging / "saved_model.pb").is_file()
        assert list(version_dirs(model_dir)) == []
        return publish(staging, model_dir)

    monkeypatch.setattr(export, "_publish", spy)

    version = _export(untrained, tmp_path)

    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith(".")
    assert sorted(p.name for p in version.parent.iterdir()) == ["1"]


def test_export_failure_leaves_no_version_and_no_staging(untrained, tmp_path: Path, monkeypatch):
    import training.export as export

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "write_warmup_requests", broken)

    with pytest.raises(OSError, match="disk full"):
        _export(untrained, tmp_path)

    assert list((tmp_path / "numbering").iterdir()) == []


def test_signature_summary_reads_contract_from_saved_model_pb(tiny: TrainingResult):
    features = tiny.spec.features

    summary = signature_summary(tiny.version_dir)

    assert summary == {
        SERVING_SIGNATURE: {
            "inputs": {features.input_name: (features.input_dtype, (-1, *features.input_shape))},
            "outputs": {PROBABILITIES_OUTPUT: ("float32", (-1, len(tiny.spec.labels)))},
        },
        SPEC_SIGNATURE: {"inputs": {SPEC_INPUT: ("int32", (-1,))}, "outputs": {SPEC_OUTPUT: ("string", (-1,))}},
    }


def test_check_signatures_refuses_a_spec_the_graph_does_not_match(tiny_results: dict[str, TrainingResult]):
    result = tiny_results["tiny-image"]
    other = ModelSpec(name=result.name, labels=(*result.spec.labels, "extra"), features=result.spec.features)

    with pytest.raises(ExportError, match="contract wants"):
        check_signatures(result.version_dir, other)


def _run_in_graph_session(version_dir: Path, signature: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Load and run a signature the way tensorflow_model_server does: a TF1 graph session that restores
    the checkpoint, then feeds and fetches the signature's tensors by name."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(version_dir))
        signature_def = meta_graph.signature_def[signature]
        feed_dict = {signature_def.inputs[name].name: value for name, value in feeds.items()}
        fetches = {name: info.name for name, info in signature_def.outputs.items()}
        return session.run(fetches, feed_dict)  # type: ignore[no-any-return]


def test_serving_signature_runs_in_a_graph_session_like_tf_serving(tiny: TrainingResult):
    features = tiny.spec.features
    rng = np.random.default_rng(0)
    high = len(features.vocabulary) if isinstance(features, TextFeatures) else 100
    batch = (rng.random((3, *features.input_shape)) * high).astype(features.input_dtype)
    calibration = tiny.evaluation.calibration  # the serving graph applies the fitted temperature
    expected = apply_temperature(tiny.model(batch, training=False).numpy(), calibration.temperature)

    outputs = _run_in_graph_session(tiny.version_dir, SERVING_SIGNATURE, {features.input_name: batch})

    np.testing.assert_allclose(outputs[PROBABILITIES_OUTPUT], expected, atol=1e-5)


def test_spec_signature_runs_in_a_graph_session_like_tf_serving(tiny: TrainingResult):
    outputs = _run_in_graph_session(tiny.version_dir, SPEC_SIGNATURE, {SPEC_INPUT: np.zeros(1, np.int32)})

    assert ModelSpec.from_json(outputs[SPEC_OUTPUT][0]) == tiny.spec
