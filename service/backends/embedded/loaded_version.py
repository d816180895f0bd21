"""One model version loaded in this process: its SavedModel, its spec, and a warmed signature call.

Loading checks the version against the contract in ARCHITECTURE.md before it may serve: the spec
from the ``spec`` signature and from ``assets.extra/spec.json`` agree, ``serving_default`` takes the
spec's input name, dtype and row shape and answers ``probabilities`` for every label. It then warms
the version like TF Serving does, replaying ``assets.extra/tf_serving_warmup_requests``, and also
runs every power-of-two batch size up to the batcher's largest: the first call at a new batch size
pays one-time kernel set-up (measured 30-40 ms for the first batch above one row, 1-3 ms for each
further size on the tiny CPU models), which belongs in loading, not in a request.

Everything here blocks; the runtime calls it from a loader thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from pydantic import ValidationError
from tensorflow_serving.apis import prediction_log_pb2

from features import contract
from features.spec import ModelSpec
from service.backends.embedded.signature_call import SignatureCall

log = logging.getLogger(__name__)

_SPEC_FILE_NAME = f"{contract.ASSETS_EXTRA}/{contract.SPEC_FILE}"
_WARMUP_FILE_NAME = f"{contract.ASSETS_EXTRA}/{contract.WARMUP_FILE}"
#: TF Serving replays at most this many warm-up records; so do we.
MAX_WARMUP_RECORDS = 1000


class VersionLoadError(Exception):
    """A version folder that cannot be served; the message is what its VersionStatus reports."""


@dataclass(frozen=True)
class LoadedVersion:
    """A version ready to serve: its spec and a warmed, verified signature call."""

    name: str
    version: int
    path: Path
    spec: ModelSpec
    call: SignatureCall
    load_seconds: float
    # The restored object owns the variables the signature reads; it lives as long as this does.
    saved_model: Any = field(repr=False)


def load_version(name: str, version: int, path: Path, *, max_batch_size: int) -> LoadedVersion:
    """Load, check and warm ``path``; raises VersionLoadError saying what is wrong."""
    started = time.perf_counter()
    try:
        saved_model = tf.saved_model.load(str(path), tags=["serve"])
    except Exception as exc:  # TF raises a dozen types for corrupt or partial folders
        raise VersionLoadError(f"cannot load the SavedModel: {_first_line(str(exc))}") from exc
    signatures = saved_model.signatures
    if contract.SERVING_SIGNATURE not in signatures:
        raise VersionLoadError(f"the SavedModel has no '{contract.SERVING_SIGNATURE}' signature")
    spec = read_spec(path, signatures)
    if spec.name != name:
        log.warning("model folder %s holds a version whose spec names it %r", name, spec.name)
    function = signatures[contract.SERVING_SIGNATURE]
    _check_serving_signature(function, spec)

    call = SignatureCall(function, spec.features.input_name, contract.PROBABILITIES_OUTPUT)
    batches = warmup_batches(path, spec, max_batch_size=max_batch_size)
    path_used = call.verify(batches[0])
    for batch in batches:
        _check_output(call(batch), len(batch), spec)
    seconds = time.perf_counter() - started
    log.info(
        "loaded %s version %d in %.2fs (%d warm-up batches, %s call path)",
        name,
        version,
        seconds,
        len(batches),
        path_used,
    )
    return LoadedVersion(name, version, path, spec, call, seconds, saved_model)


def read_spec(path: Path, signatures: Any) -> ModelSpec:
    """The version's spec from its ``spec`` signature and ``assets.extra/spec.json``, which must agree."""
    found: dict[str, ModelSpec] = {}
    if contract.SPEC_SIGNATURE in signatures:
        try:
            outputs = signatures[contract.SPEC_SIGNATURE](**{contract.SPEC_INPUT: tf.constant([0], tf.int32)})
            text = outputs[contract.SPEC_OUTPUT].numpy()[0].decode("utf-8")
        except Exception as exc:
            raise VersionLoadError(f"the '{contract.SPEC_SIGNATURE}' signature fails: {_first_line(str(exc))}") from exc
        found["signature"] = _parse_spec(text, f"the '{contract.SPEC_SIGNATURE}' signature")
    stored = contract.spec_file(path)
    if stored.is_file():
        found["file"] = _parse_spec(stored.read_bytes(), _SPEC_FILE_NAME)
    if not found:
        raise VersionLoadError(f"no spec: neither a '{contract.SPEC_SIGNATURE}' signature nor {_SPEC_FILE_NAME}")
    if len({spec.content_hash for spec in found.values()}) > 1:
        raise VersionLoadError(f"the '{contract.SPEC_SIGNATURE}' signature and {_SPEC_FILE_NAME} disagree")
    return next(iter(found.values()))


def warmup_batches(path: Path, spec: ModelSpec, *, max_batch_size: int) -> list[np.ndarray]:
    """The recorded warm-up requests (or one zero row), then every power-of-two size up to ``max_batch_size``."""
    recorded = _recorded_warmup(contract.warmup_file(path), spec)
    features = spec.features
    batches = recorded or [np.zeros((1, *features.input_shape), features.input_dtype)]
    rows = np.concatenate(batches)
    size = 1
    while size <= max_batch_size:
        batches.append(np.resize(rows, (size, *features.input_shape)))
        size *= 2
    return batches


def _recorded_warmup(file: Path, spec: ModelSpec) -> list[np.ndarray]:
    if not file.is_file():
        return []
    features = spec.features
    batches = []
    try:
        records = tf.data.TFRecordDataset(str(file)).take(MAX_WARMUP_RECORDS).as_numpy_iterator()
        for record in records:
            entry = prediction_log_pb2.PredictionLog.FromString(record)
            if entry.WhichOneof("log_type") != "predict_log":
                continue
            request = entry.predict_log.request
            if request.model_spec.signature_name not in ("", contract.SERVING_SIGNATURE):
                continue
            if features.input_name not in request.inputs:
                raise VersionLoadError(f"a warm-up request lacks the input '{features.input_name}'")
            batch = tf.make_ndarray(request.inputs[features.input_name])
            if len(batch):
                try:
                    batches.append(contract.check_batch(batch, features))
                except contract.BatchMismatch as exc:
                    raise VersionLoadError(f"a warm-up request does not fit the spec: {exc}") from exc
    except VersionLoadError:
        raise
    except Exception as exc:  # a truncated TFRecord or an unparsable record
        raise VersionLoadError(f"unreadable {_WARMUP_FILE_NAME}: {_first_line(str(exc))}") from exc
    return batches


def _parse_spec(text: str | bytes, source: str) -> ModelSpec:
    try:
        return ModelSpec.from_json(text)
    except ValidationError as exc:
        raise VersionLoadError(f"invalid spec in {source}: {_first_line(str(exc))}") from exc


def _check_serving_signature(function: Any, spec: ModelSpec) -> None:
    features = spec.features
    _, inputs = function.structured_input_signature
    if list(inputs) != [features.input_name]:
        raise VersionLoadError(
            f"'{contract.SERVING_SIGNATURE}' takes inputs {sorted(inputs)},"
            f" the spec wants exactly '{features.input_name}'"
        )
    tensor = inputs[features.input_name]
    want_shape = tf.TensorShape([None, *features.input_shape])
    if tensor.dtype != tf.as_dtype(features.input_dtype) or not tensor.shape.is_compatible_with(want_shape):
        raise VersionLoadError(
            f"'{contract.SERVING_SIGNATURE}' takes {tensor.dtype.name} {tensor.shape},"
            f" the spec wants {features.input_dtype} {want_shape}"
        )
    outputs = function.structured_outputs
    if contract.PROBABILITIES_OUTPUT not in outputs:
        raise VersionLoadError(f"'{contract.SERVING_SIGNATURE}' has no '{contract.PROBABILITIES_OUTPUT}' output")
    output = outputs[contract.PROBABILITIES_OUTPUT]
    if output.dtype != tf.float32 or not output.shape.is_compatible_with([None, len(spec.labels)]):
        raise VersionLoadError(
            f"'{contract.PROBABILITIES_OUTPUT}' is {output.dtype.name} {output.shape},"
            f" the spec's {len(spec.labels)} labels want float32 [N, {len(spec.labels)}]"
        )


def _check_output(probabilities: np.ndarray, rows: int, spec: ModelSpec) -> None:
    if probabilities.shape != (rows, len(spec.labels)):
        raise VersionLoadError(
            f"warm-up answered shape {list(probabilities.shape)} for {rows} rows and {len(spec.labels)} labels"
        )
    if not np.isfinite(probabilities).all():
        raise VersionLoadError("warm-up answered non-finite probabilities")


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0][:300] if stripped else "no detail"
