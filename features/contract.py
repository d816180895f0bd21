"""The model version contract: the one module every producer and consumer of a model version reads.

A model repository is ``MODELS/NAME/VERSION/``, VERSION a folder named by ASCII decimal digits only
(anything else, hidden ``.export-*`` staging folders included, is not a version). Each version is a
SavedModel with::

    serving_default   SPEC.features.input_name -> PROBABILITIES_OUTPUT  float32 [N, labels]
    spec              SPEC_INPUT int32 [N]      -> SPEC_OUTPUT           string  [N] (the spec as JSON)
    assets.extra/
        spec.json                   the same ModelSpec JSON, for tools that read files
        tf_serving_warmup_requests  PredictionLog TFRecord built from real samples
        evaluation.json             the held-out evaluation (optional)
        confusion_matrix.png        the same, drawn (optional)
        reliability_diagram.png     confidence against accuracy, before and after calibration (optional)

Training writes it; the embedded runtime, the TF Serving backend, the model server, the TF Serving
config generator, the load tests and the scripts read it, all through these names and functions.
``check_batch`` is the one check of a batch against a spec (dtype, row shape, at least one row).
It lives in ``features`` because that is the one package both training and serving import; it needs
NumPy and pydantic, never TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from features.spec import AudioFeatures, ImageFeatures, ModelSpec, TextFeatures

SERVING_SIGNATURE: Final = "serving_default"
SPEC_SIGNATURE: Final = "spec"
SPEC_INPUT: Final = "probe"
SPEC_OUTPUT: Final = "spec_json"
PROBABILITIES_OUTPUT: Final = "probabilities"

ASSETS_EXTRA: Final = "assets.extra"
SPEC_FILE: Final = "spec.json"
WARMUP_FILE: Final = "tf_serving_warmup_requests"
EVALUATION_FILE: Final = "evaluation.json"
CONFUSION_MATRIX_FILE: Final = "confusion_matrix.png"
RELIABILITY_DIAGRAM_FILE: Final = "reliability_diagram.png"


class BatchMismatch(ValueError):
    """A batch whose type, dtype, row shape or row count does not fit the version's spec."""


def version_number(name: str) -> int | None:
    """The version a folder name stands for, or None when the name is not a version.

    ASCII decimal digits only: ``str.isdigit`` also accepts superscripts that ``int()`` refuses,
    and ``isdecimal`` alone accepts other scripts' digits that TF Serving does not.
    """
    if name and name.isascii() and name.isdecimal():
        return int(name)
    return None


def version_dirs(model_dir: Path) -> dict[int, Path]:
    """The version folders of ``MODELS/NAME``, by number, ascending; empty when the folder is missing."""
    found: dict[int, Path] = {}
    try:
        entries = list(model_dir.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return found
    for path in entries:
        number = version_number(path.name)
        if number is not None and path.is_dir():
            found[number] = path
    return dict(sorted(found.items()))


def newest_version_dir(model_dir: Path) -> Path:
    """The highest version folder of ``MODELS/NAME``; FileNotFoundError when there is none."""
    versions = version_dirs(model_dir)
    if not versions:
        raise FileNotFoundError(f"no version folder in {model_dir}")
    return versions[max(versions)]


def spec_file(version_dir: Path) -> Path:
    """``VERSION/assets.extra/spec.json``."""
    return version_dir / ASSETS_EXTRA / SPEC_FILE


def warmup_file(version_dir: Path) -> Path:
    """``VERSION/assets.extra/tf_serving_warmup_requests``."""
    return version_dir / ASSETS_EXTRA / WARMUP_FILE


def evaluation_file(version_dir: Path) -> Path:
    """``VERSION/assets.extra/evaluation.json``."""
    return version_dir / ASSETS_EXTRA / EVALUATION_FILE


def confusion_matrix_file(version_dir: Path) -> Path:
    """``VERSION/assets.extra/confusion_matrix.png``."""
    return version_dir / ASSETS_EXTRA / CONFUSION_MATRIX_FILE


def read_spec(version_dir: Path) -> ModelSpec:
    """The ModelSpec stored in ``VERSION/assets.extra/spec.json``."""
    return ModelSpec.from_json(spec_file(version_dir).read_bytes())


def check_batch(inputs: object, spec: ModelSpec | ImageFeatures | TextFeatures | AudioFeatures) -> np.ndarray:
    """``inputs`` if it is an array of the spec's dtype, ``[N>0, *input_shape]``; else BatchMismatch."""
    features = spec.features if isinstance(spec, ModelSpec) else spec
    if not isinstance(inputs, np.ndarray):
        raise BatchMismatch(f"inputs must be a numpy array, not {type(inputs).__name__}")
    shape = features.input_shape
    if inputs.dtype != np.dtype(features.input_dtype) or inputs.shape[1:] != shape or inputs.ndim != len(shape) + 1:
        raise BatchMismatch(
            f"inputs are {inputs.dtype} of shape {list(inputs.shape)}; the model version wants"
            f" {features.input_dtype} [N, {', '.join(map(str, shape))}]"
        )
    if len(inputs) == 0:
        raise BatchMismatch("inputs have no rows")
    return inputs
