"""Held-out evaluation numbers and the confusion matrix picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluate import evaluate_predictions, render_confusion_matrix


def test_evaluate_predictions_counts_per_class():
    truth = [0, 0, 0, 1, 1, 2]
    predicted = np.eye(3)[[0, 0, 1, 1, 1, 0]]

    evaluation = evaluate_predictions(truth, predicted, ("a", "b", "c"))

    assert evaluation.samples == 6
    assert evaluation.accuracy == pytest.approx(4 / 6)
    assert evaluation.confusion_matrix == ((2, 1, 0), (0, 2, 0), (1, 0, 0))
    a, b, c = evaluation.per_class
    assert (a.precision, a.recall, a.support) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (b.precision, b.recall) == (pytest.approx(2 / 3), 1.0)
    assert (c.precision, c.recall, c.f1) == (0.0, 0.0, 0.0)


def test_render_confusion_matrix_writes_png(tmp_path: Path):
    evaluation = evaluate_predictions([0, 1], np.eye(2), ("ham", "spam"))

    path = render_confusion_matrix(evaluation, tmp_path / "cm.png", title="spam")

    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
