"""One training run end to end: files -> features -> Keras model -> held-out evaluation -> version.

Both the ``train`` and ``demo`` commands and ``training.testing`` call ``train_and_export``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.spec import Modality, ModelSpec
from training.architectures import build_model
from training.evaluate import Evaluation, evaluate_predictions
from training.export import export_version
from training.feature_specs import FeatureOptions, build_features
from training.loading import discover, featurize, read_split
from training.train import configure_runtime, fit, predict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingJob:
    """What to train: a dataset folder, a model name, a modality and the training knobs."""

    data_dir: Path
    name: str
    modality: Modality
    models_dir: Path = Path("models")
    options: FeatureOptions = field(default_factory=FeatureOptions)
    epochs: int = 10
    batch_size: int = 32
    patience: int = 3
    seed: int = 0
    verbose: int | str = "auto"
    workers: int | None = None


@dataclass(frozen=True)
class TrainingResult:
    """The exported version, how it did on the held-out split, and the trained Keras model."""

    name: str
    spec: ModelSpec
    version_dir: Path
    evaluation: Evaluation
    epochs_run: int
    seconds: float
    model: Any = field(repr=False, compare=False, default=None)


def train_and_export(job: TrainingJob) -> TrainingResult:
    """Load, preprocess, train, evaluate on the test split and export the next version."""
    started = time.perf_counter()
    files = discover(job.data_dir, job.modality, seed=job.seed)
    logger.info(
        "%s: %d labels, %d train / %d val / %d test files",
        job.name,
        len(files.labels),
        len(files.train),
        len(files.val),
        len(files.test),
    )
    raws = {
        name: read_split(getattr(files, name), job.modality, workers=job.workers) for name in ("train", "val", "test")
    }
    train_texts = [raw for raw in raws["train"] if isinstance(raw, str)]
    features = build_features(job.modality, job.options, train_texts)
    spec = ModelSpec(name=job.name, labels=files.labels, features=features)
    arrays = {
        name: featurize(raws[name], getattr(files, name).labels, features, workers=job.workers)
        for name in ("train", "val", "test")
    }
    logger.info("%s: preprocessed in %.1fs, input %s", job.name, time.perf_counter() - started, features.input_shape)

    configure_runtime(job.seed)
    model = build_model(spec)
    history = fit(
        model,
        arrays["train"],
        arrays["val"],
        epochs=job.epochs,
        batch_size=job.batch_size,
        patience=job.patience,
        verbose=job.verbose,
    )
    held_out = "test" if len(arrays["test"].y) else "val"
    scored = arrays[held_out]
    evaluation = evaluate_predictions(scored.y, predict(model, scored.x), spec.labels, split=held_out)
    logger.info("%s: %s accuracy %.4f", job.name, held_out, evaluation.accuracy)
    # The version carries its held-out class distribution, the gateway's drift baseline.
    spec = spec.with_class_baseline(evaluation.predicted_shares())

    warmup = scored.x if len(scored.x) else arrays["train"].x
    version_dir = export_version(model, spec, job.models_dir, warmup_inputs=warmup[:4], evaluation=evaluation)
    return TrainingResult(
        name=job.name,
        spec=spec,
        version_dir=version_dir,
        evaluation=evaluation,
        epochs_run=len(history.get("loss", [])),
        seconds=time.perf_counter() - started,
        model=model,
    )
