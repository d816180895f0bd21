"""Score an exported version on a labelled folder: ``python -m training evaluate``.

The version is loaded as a SavedModel and called through its ``serving_default`` signature with inputs
preprocessed by its own spec, so the scores are the ones any backend would return (calibration included).
The report files are the export's: ``evaluation.json``, ``confusion_matrix.png``, ``reliability_diagram.png``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from features import contract
from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
from features.spec import ModelSpec
from training.evaluate import Evaluation, evaluate_predictions, render_confusion_matrix
from training.loading import EXTENSIONS, DatasetError, SkipLog, Split, featurize, read_split
from training.reliability import render_reliability_diagram

logger = logging.getLogger(__name__)

Predict = Callable[[npt.NDArray[Any]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class VersionHandle:
    """An exported version, loaded: its spec and a function from input batch to served probabilities."""

    name: str
    version: int
    path: Path
    spec: ModelSpec
    predict: Predict
    saved_model: Any  # owns the variables the signature reads


@dataclass(frozen=True)
class Scored:
    """A version's served probabilities for the files of a labelled folder that it could preprocess."""

    version: VersionHandle
    paths: tuple[Path, ...]
    y_true: npt.NDArray[np.int64]
    probabilities: npt.NDArray[np.float32]


def load_version(models_dir: Path, name: str, version: int) -> VersionHandle:
    """Load ``models_dir/name/version``; raises ``DatasetError`` (a usage error) when it is not there."""
    import tensorflow as tf

    path = Path(models_dir) / name / str(version)
    spec_file = contract.spec_file(path)
    if not spec_file.is_file():
        raise DatasetError(f"{path} is not an exported version (no {contract.ASSETS_EXTRA}/{contract.SPEC_FILE})")
    spec = ModelSpec.from_json(spec_file.read_bytes())
    saved_model = tf.saved_model.load(str(path), tags=["serve"])
    function = saved_model.signatures[SERVING_SIGNATURE]
    input_name = spec.features.input_name

    def predict(x: npt.NDArray[Any], batch_size: int = 256) -> npt.NDArray[np.float32]:
        if len(x) == 0:
            return np.zeros((0, len(spec.labels)), dtype=np.float32)
        parts = [
            function(**{input_name: tf.constant(x[i : i + batch_size])})[PROBABILITIES_OUTPUT].numpy()
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)

    return VersionHandle(name, version, path, spec, predict, saved_model)


def labelled_files(data_dir: Path, spec: ModelSpec) -> Split:
    """Every file of ``data_dir/LABEL/`` (or ``data_dir/test/LABEL/``) with the index of its label in ``spec``."""
    data_dir = Path(data_dir)
    root = data_dir / "test" if (data_dir / "test").is_dir() else data_dir
    if not root.is_dir():
        raise DatasetError(f"{data_dir} is not a folder")
    extensions = EXTENSIONS[spec.modality]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = sorted(p.name for p in folders if p.name not in spec.labels)
    if unknown:
        raise DatasetError(f"{root} has label folders the model does not know: {', '.join(unknown)}")
    paths: list[Path] = []
    labels: list[int] = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in extensions and not path.name.startswith("."):
                paths.append(path)
                labels.append(spec.labels.index(folder.name))
    if not paths:
        raise DatasetError(f"{root} has no {'/'.join(sorted(extensions))} files in label folders")
    return Split(tuple(paths), tuple(labels))


def score(handle: VersionHandle, files: Split, *, workers: int | None = None) -> Scored:
    """Read, preprocess (with the version's spec) and classify ``files``; unusable files are listed and skipped."""
    skipped = SkipLog()
    samples = read_split(files, handle.spec.modality, skipped, workers=workers)
    arrays = featurize(samples, handle.spec.features, skipped, workers=workers)
    skipped.report()
    refused = {entry.path for entry in skipped.entries}
    kept = tuple(p for p in files.paths if p not in refused)
    return Scored(handle, kept, arrays.y, handle.predict(arrays.x))


def evaluate_version(scored: Scored, out_dir: Path, *, split: str = "data") -> Evaluation:
    """Write ``evaluation.json``, the confusion matrix and the reliability diagram of ``scored`` to ``out_dir``."""
    spec = scored.version.spec
    evaluation = evaluate_predictions(scored.y_true, scored.probabilities, spec.labels, split=split)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / contract.EVALUATION_FILE).write_text(evaluation.model_dump_json(indent=2), encoding="utf-8")
    title = f"{spec.name} v{scored.version.version}"
    render_confusion_matrix(evaluation, out_dir / contract.CONFUSION_MATRIX_FILE, title=title)
    render_reliability_diagram(
        scored.y_true, {"served": scored.probabilities}, out_dir / contract.RELIABILITY_DIAGRAM_FILE, title=title
    )
    return evaluation
