"""Export a trained Keras model as one self-describing version: ``models/NAME/VERSION/``.

The layout follows the contract in ARCHITECTURE.md:

    models/NAME/VERSION/
    ├── saved_model.pb, variables/      signatures ``serving_default`` and ``spec``
    └── assets.extra/
        ├── spec.json                   the ModelSpec
        ├── tf_serving_warmup_requests  PredictionLog TFRecord from real samples
        ├── evaluation.json             held-out evaluation (when given), with calibration
        ├── confusion_matrix.png
        └── reliability_diagram.png     confidence vs accuracy, before/after temperature scaling

A temperature fitted at training (``training.calibration``) is built into ``serving_default``, so
TF Serving and the embedded runtime return the same calibrated probabilities.

A version is written to a hidden temporary folder inside ``models/NAME`` and renamed into
place, so a server polling the repository never sees half a version. ``VERSION`` is the highest
integer version present plus one.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy.typing as npt
import tensorflow as tf

from features import contract
from features.spec import ModelSpec
from training.calibration import calibrate_tensor
from training.evaluate import Evaluation, render_confusion_matrix
from training.reliability import render_reliability_diagram
from training.warmup import write_warmup_requests

logger = logging.getLogger(__name__)

#: Optional hook: another package regenerates TF Serving's config when the repository changes.
SERVING_CONFIG_MODULE = "service.tfserving_config"
_TEMP_PREFIX = ".export-"


def next_version(model_dir: Path) -> int:
    """The version number the next export gets: highest present + 1, starting at 1."""
    return max(contract.version_dirs(model_dir), default=0) + 1


class _ServingModule(tf.Module):  # type: ignore[misc]
    """Holds the Keras model's variables and the two signature functions."""

    def __init__(self, model: Any, spec: ModelSpec, temperature: float = 1.0) -> None:
        super().__init__(name="classifier")
        self.model = model
        # Track the raw tf.Variables too: Keras 3 wraps them, and without this the checkpoint keys and the
        # graph's variable handles disagree, so a TF1 session restore (tensorflow_model_server) fails with
        # "Could not find variable" even though eager loading works.
        self.tf_variables = [v.value for v in model.variables]
        features = spec.features
        input_spec = tf.TensorSpec(
            [None, *features.input_shape], tf.as_dtype(features.input_dtype), name=features.input_name
        )

        def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
            probabilities = tf.cast(self.model(inputs, training=False), tf.float32)
            return {contract.PROBABILITIES_OUTPUT: calibrate_tensor(probabilities, temperature)}

        spec_json = spec.to_json()

        def describe(probe: tf.Tensor) -> dict[str, tf.Tensor]:
            rows = tf.shape(probe)[0]
            return {contract.SPEC_OUTPUT: tf.fill([rows], tf.constant(spec_json, dtype=tf.string))}

        self.serve = tf.function(serve, input_signature=[input_spec], autograph=False)
        self.describe = tf.function(
            describe, input_signature=[tf.TensorSpec([None], tf.int32, name=contract.SPEC_INPUT)], autograph=False
        )

    def signatures(self) -> dict[str, Any]:
        return {
            contract.SERVING_SIGNATURE: self.serve.get_concrete_function(),
            contract.SPEC_SIGNATURE: self.describe.get_concrete_function(),
        }


def save_signatures(model: Any, spec: ModelSpec, path: Path, *, temperature: float = 1.0) -> None:
    """Write the SavedModel itself (graph, variables, both signatures) to ``path``, and check them."""
    module = _ServingModule(model, spec, temperature)
    tf.saved_model.save(module, str(path), signatures=module.signatures())
    check_signatures(path, spec)


class ExportError(RuntimeError):
    """A written SavedModel does not match the model version contract."""


def signature_summary(path: Path) -> dict[str, dict[str, dict[str, tuple[str, tuple[int, ...]]]]]:
    """What ``saved_model_cli show --all`` prints, as data: signature -> inputs/outputs -> (dtype, shape).

    Read from ``saved_model.pb`` without loading the graph; ``-1`` stands for an open dimension.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    (graph,) = [g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags]

    def tensors(infos: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
        return {
            key: (tf.as_dtype(info.dtype).name, tuple(d.size for d in info.tensor_shape.dim))
            for key, info in infos.items()
        }

    return {
        name: {"inputs": tensors(signature.inputs), "outputs": tensors(signature.outputs)}
        for name, signature in graph.signature_def.items()
        if not name.startswith("__")
    }


def check_signatures(path: Path, spec: ModelSpec) -> None:
    """Raise ``ExportError`` unless both signatures have the contract's names, dtypes and shapes."""
    features = spec.features
    want = {
        contract.SERVING_SIGNATURE: {
            "inputs": {features.input_name: (features.input_dtype, (-1, *features.input_shape))},
            "outputs": {contract.PROBABILITIES_OUTPUT: ("float32", (-1, len(spec.labels)))},
        },
        contract.SPEC_SIGNATURE: {
            "inputs": {contract.SPEC_INPUT: ("int32", (-1,))},
            "outputs": {contract.SPEC_OUTPUT: ("string", (-1,))},
        },
    }
    found = signature_summary(path)
    if found != want:
        raise ExportError(f"signatures of {path} are {found}, the contract wants {want}")


def export_version(
    model: Any,
    spec: ModelSpec,
    models_dir: Path,
    *,
    warmup_inputs: npt.ArrayLike,
    evaluation: Evaluation | None = None,
    temperature: float = 1.0,
    reliability: tuple[npt.ArrayLike, dict[str, npt.ArrayLike]] | None = None,
    refresh_serving: bool = True,
) -> Path:
    """Export ``model`` as the next version of ``models_dir/spec.name`` and return its folder.

    ``warmup_inputs`` are a few preprocessed samples (``[N, *input_shape]``) for the warm-up
    file. ``evaluation`` goes to ``evaluation.json`` and is drawn as the confusion matrix PNG; its
    predicted class shares become the spec's ``class_baseline`` (the drift baseline) unless it has one.
    ``temperature`` divides the logits in the serving graph. ``reliability`` (true labels and named
    probability sets) is drawn as the reliability diagram.
    """
    if evaluation is not None and spec.class_baseline is None:
        spec = spec.with_class_baseline(evaluation.predicted_shares())
    model_dir = Path(models_dir) / spec.name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=model_dir))
    try:
        save_signatures(model, spec, staging, temperature=temperature)
        extra = staging / contract.ASSETS_EXTRA
        extra.mkdir(exist_ok=True)
        (extra / contract.SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
        write_warmup_requests(extra / contract.WARMUP_FILE, spec, warmup_inputs)
        if evaluation is not None:
            (extra / contract.EVALUATION_FILE).write_text(evaluation.model_dump_json(indent=2), encoding="utf-8")
            render_confusion_matrix(evaluation, extra / contract.CONFUSION_MATRIX_FILE, title=spec.name)
        if reliability is not None:
            y_true, curves = reliability
            render_reliability_diagram(y_true, curves, extra / contract.RELIABILITY_DIAGRAM_FILE, title=spec.name)
        os.chmod(staging, 0o755)  # mkdtemp makes it private; servers may run as another user
        version_dir = _publish(staging, model_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("exported %s", version_dir)
    if refresh_serving:
        refresh_serving_config(Path(models_dir))
    return version_dir


def _publish(staging: Path, model_dir: Path) -> Path:
    """Rename the finished staging folder to the next free version number (atomic per try)."""
    while True:
        target = model_dir / str(next_version(model_dir))
        try:
            os.rename(staging, target)  # fails if another exporter took the number meanwhile
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or target.exists():
                continue
            raise
        return target


def refresh_serving_config(models_dir: Path) -> None:
    """Let ``service.tfserving_config`` regenerate TF Serving's config, if that module exists.

    Exporting never fails because of it: the version is already in place, so an error is logged.
    """
    try:
        found = importlib.util.find_spec(SERVING_CONFIG_MODULE)
    except ModuleNotFoundError:
        found = None
    if found is None:
        return
    try:
        module = importlib.import_module(SERVING_CONFIG_MODULE)
        hook = getattr(module, "refresh_serving_config", None)
        if callable(hook):
            hook(models_dir)
    except Exception:
        logger.exception("could not refresh the TF Serving config for %s", models_dir)
