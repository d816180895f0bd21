"""Held-out evaluation: accuracy, per-class precision and recall, the confusion matrix, calibration error.

The result is a pydantic model, written next to the weights as ``assets.extra/evaluation.json``,
and drawn as ``assets.extra/confusion_matrix.png`` with matplotlib's Agg canvas (no display,
no pyplot global state).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from training.calibration import Calibration, expected_calibration_error


class ClassMetrics(BaseModel):
    """Precision, recall and F1 of one label on the held-out split."""

    model_config = ConfigDict(frozen=True)

    label: str
    precision: float
    recall: float
    f1: float
    support: int = Field(description="Held-out samples whose true label is this one.")


class Evaluation(BaseModel):
    """The held-out evaluation of one model version."""

    model_config = ConfigDict(frozen=True)

    split: str = Field(description="Which split was scored, normally 'test'.")
    samples: int
    accuracy: float
    labels: tuple[str, ...]
    per_class: tuple[ClassMetrics, ...]
    confusion_matrix: tuple[tuple[int, ...], ...] = Field(
        description="Row = true label, column = predicted label, in the order of ``labels``."
    )
    expected_calibration_error: float | None = Field(
        default=None, description="ECE of the probabilities this version returns, on this split (15 bins)."
    )
    calibration: Calibration | None = Field(
        default=None, description="The temperature built into the graph at export, and ECE before and after it."
    )

    def predicted_shares(self) -> tuple[float, ...]:
        """Share of each label among the predictions, in label order (the spec's drift baseline)."""
        columns = np.asarray(self.confusion_matrix, dtype=np.float64).sum(axis=0)
        total = columns.sum()
        if total == 0:
            return tuple(1.0 / len(self.labels) for _ in self.labels)
        return tuple(float(v) for v in columns / total)


def evaluate_predictions(
    y_true: npt.ArrayLike,
    probabilities: npt.ArrayLike,
    labels: Sequence[str],
    *,
    split: str = "test",
    calibration: Calibration | None = None,
) -> Evaluation:
    """Score softmax outputs (what the version returns) against true label indices."""
    truth = np.asarray(y_true, dtype=np.int64)
    predicted = np.asarray(probabilities).argmax(axis=1)
    n = len(labels)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    per_class = []
    for i, label in enumerate(labels):
        hits = int(matrix[i, i])
        predicted_as = int(matrix[:, i].sum())
        support = int(matrix[i, :].sum())
        precision = hits / predicted_as if predicted_as else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassMetrics(label=label, precision=precision, recall=recall, f1=f1, support=support))
    samples = int(truth.size)
    return Evaluation(
        split=split,
        samples=samples,
        accuracy=float(np.trace(matrix)) / samples if samples else 0.0,
        labels=tuple(labels),
        per_class=tuple(per_class),
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in matrix),
        expected_calibration_error=expected_calibration_error(probabilities, truth) if samples else None,
        calibration=calibration,
    )


def render_confusion_matrix(evaluation: Evaluation, path: Path, *, title: str = "") -> Path:
    """Draw the confusion matrix as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(evaluation.confusion_matrix, dtype=np.int64)
    n = len(evaluation.labels)
    size = max(4.0, 0.55 * n + 2.5)
    figure = Figure(figsize=(size, size), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    axes.set_xticks(ticks, labels=evaluation.labels, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=evaluation.labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    heading = f"{title} " if title else ""
    axes.set_title(f"{heading}{evaluation.split} accuracy {evaluation.accuracy:.2%} (n={evaluation.samples})")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if count > threshold else "black",
        )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
