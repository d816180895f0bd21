"""The demo models behind ``make models``: ``digits`` (image), ``spam`` (text), ``spoken-digits`` (speech).

Builds the demo datasets if they are missing, trains each model that has no version yet, and
prints a summary table. The settings below are tuned so that all three train in a few minutes on
two CPU cores and clear the held-out accuracy targets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from features.contract import evaluation_file, newest_version_dir, version_dirs
from features.spec import Modality
from training.augment import AudioAugment, Recipe
from training.feature_specs import FeatureOptions
from training.short_texts import ShortTexts

if TYPE_CHECKING:
    from training.progress import ProgressMode  # imports Keras; only the type is needed here

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoModel:
    """How one demo model is trained."""

    name: str
    modality: Modality
    options: FeatureOptions
    epochs: int
    batch_size: int
    patience: int = 3
    augment: bool = False
    recipe: Recipe | None = None
    #: Text only: the short segments added to training and validation texts (None: none).
    short_texts: ShortTexts | None = None
    #: Rough training time on the shared two-core machine; the longest start first when training in parallel.
    expected_seconds: float = 60.0


DEMO_MODELS = (
    DemoModel(
        name="digits",
        modality="image",
        options=FeatureOptions(image_height=28, image_width=28, color_mode="grayscale", polarity="light_on_dark"),
        epochs=16,
        batch_size=32,
        patience=5,
        expected_seconds=100,
        # --augment measured 98.14% on the test split (99.26% without) in the same 16 epochs: not enabled.
    ),
    DemoModel(
        name="spam",
        modality="text",
        options=FeatureOptions(max_tokens=20_000, min_count=2, sequence_length=300),
        epochs=10,
        batch_size=32,
        # Validation loss is lowest after epoch 2 and rises from epoch 3: patience 1 stops there and keeps
        # the same epoch-2 weights as patience 3 did (the schedule depends on ``epochs`` only), two epochs sooner.
        patience=1,
        augment=True,
        # One short segment per training text (subject, first sentence or word prefix). Measured (README):
        # whole e-mails 98.53% (98.53% without), SMS-length messages 95.72% (95.04%), subject lines 89.52%
        # (87.94%), first sentences 90.99% (88.68%). More segments, word windows or character n-grams measured
        # lower on whole e-mails.
        short_texts=ShortTexts(),
        expected_seconds=65,
    ),
    DemoModel(
        name="spoken-digits",
        modality="audio",
        options=FeatureOptions(audio_align="loudest"),
        epochs=16,
        batch_size=32,
        patience=5,
        # Only the channel transforms: telephone band (8 kHz) and reverberation, each on 15% of the clips.
        # Measured (README): unseen test voices 98.54% (98.33% without), telephone variant 85.83% (12.29%),
        # reverberant 85.42% (54.17%). The full --augment recipe measured 96.25% on the clean test voices.
        augment=True,
        recipe=AudioAugment(p=0.0, p_telephone=0.15, p_reverb=0.15, time_masks=0, freq_masks=0),
        expected_seconds=300,
    ),
)


@dataclass(frozen=True)
class DemoRow:
    """One line of the summary table."""

    name: str
    version_dir: Path
    accuracy: float | None
    seconds: float | None
    status: str


def default_parallel() -> int:
    """Models trained at once by default: one per two cores (each trains on two threads), at most three."""
    return max(1, min(len(DEMO_MODELS), len(os.sched_getaffinity(0)) // 2))


def run_demo(data_dir: Path, models_dir: Path, *, force: bool = False, parallel: int | None = None) -> list[DemoRow]:
    """Build missing datasets, train the demo models that have no version, print a summary.

    With ``parallel`` > 1 (default: ``default_parallel()``) the models train in that many worker
    processes at once, the longest first, each on two threads. On two cores it gains nothing (measured:
    241 s at once against 253 s one after the other), so there it stays 1. Workers log one line per
    epoch, each line prefixed with the model's name.
    """
    parallel = default_parallel() if parallel is None else parallel
    from training.datasets import build_demo_datasets

    models_dir = Path(models_dir)
    pending = [m for m in DEMO_MODELS if force or not version_dirs(models_dir / m.name)]
    datasets = build_demo_datasets(Path(data_dir), [m.name for m in pending]) if pending else {}
    trained: dict[str, DemoRow] = {}
    if len(pending) > 1 and parallel > 1:
        trained = train_in_workers(pending, datasets, models_dir, parallel)
    else:
        for demo in pending:
            trained[demo.name] = train_demo_model(demo, datasets[demo.name], models_dir, progress="auto")
    rows = [trained.get(demo.name) or _existing_row(models_dir, demo.name) for demo in DEMO_MODELS]
    print(format_summary(rows))
    return rows


def train_demo_model(demo: DemoModel, data_dir: Path, models_dir: Path, *, progress: ProgressMode) -> DemoRow:
    """Train and export one demo model; its summary row."""
    from training.pipeline import TrainingJob, train_and_export

    logger.info("== %s (%s) ==", demo.name, demo.modality)
    result = train_and_export(
        TrainingJob(
            data_dir=data_dir,
            name=demo.name,
            modality=demo.modality,
            models_dir=models_dir,
            options=demo.options,
            epochs=demo.epochs,
            batch_size=demo.batch_size,
            patience=demo.patience,
            augment=demo.augment,
            recipe=demo.recipe,
            short_texts=demo.short_texts is not None,
            short_text_recipe=demo.short_texts,
            progress=progress,
        )
    )
    return DemoRow(demo.name, result.version_dir, result.evaluation.accuracy, result.seconds, "trained")


def train_in_workers(
    pending: list[DemoModel], datasets: dict[str, Path], models_dir: Path, parallel: int
) -> dict[str, DemoRow]:
    """Train ``pending`` in ``parallel`` spawned worker processes, the longest first; name -> summary row."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Spawned, not forked: TensorFlow's runtime does not survive a fork, and each worker imports its own.
    context = multiprocessing.get_context("spawn")
    order = sorted(pending, key=lambda demo: -demo.expected_seconds)
    with ProcessPoolExecutor(max_workers=min(parallel, len(order)), mp_context=context) as pool:
        futures = {
            demo.name: pool.submit(_worker, demo, datasets[demo.name], models_dir, logging.getLogger().level)
            for demo in order
        }
        return {name: future.result() for name, future in futures.items()}


def _worker(demo: DemoModel, data_dir: Path, models_dir: Path, level: int) -> DemoRow:
    logging.basicConfig(level=level, format=f"{demo.name}: %(message)s", stream=sys.stdout, force=True)
    return train_demo_model(demo, data_dir, models_dir, progress="lines")


def _existing_row(models_dir: Path, name: str) -> DemoRow:
    version_dir = newest_version_dir(models_dir / name)
    accuracy = None
    evaluation = evaluation_file(version_dir)
    if evaluation.is_file():
        accuracy = float(json.loads(evaluation.read_text(encoding="utf-8"))["accuracy"])
    return DemoRow(name, version_dir, accuracy, None, "kept (already exported)")


def format_summary(rows: list[DemoRow]) -> str:
    """The summary as a fixed-width text table."""
    header = ("model", "version", "test accuracy", "seconds", "status")
    lines = [
        (
            row.name,
            str(row.version_dir),
            "-" if row.accuracy is None else f"{row.accuracy:.2%}",
            "-" if row.seconds is None else f"{row.seconds:.0f}",
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    render = ["  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) for cells in lines]
    rule = "  ".join("-" * width for width in widths)
    title = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([title, rule, *render])
