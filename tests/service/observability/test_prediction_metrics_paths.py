"""A small answer is measured in plain Python, a large one with NumPy: both observe the same confidence and
entropy, count the same low-confidence rows and fill the window with the same classes; checked on real
prometheus_client registries against values computed by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from features.spec import ModelSpec
from service.observability.prediction_metrics import PYTHON_MAX_VALUES, PredictionMetrics

ROWS = np.array(
    [[0.7, 0.2, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0], [0.3, 0.4, 0.3, 0.0]], dtype=np.float32
)


def _spec() -> ModelSpec:
    # What PredictionMetrics reads of a spec: its labels and baseline.
    return SimpleNamespace(labels=["a", "b", "c", "d"], class_baseline=None)  # type: ignore[return-value]


def _record(probabilities: np.ndarray) -> CollectorRegistry:
    registry = CollectorRegistry()
    PredictionMetrics(registry, window=10_000).record("m", 1, _spec(), probabilities, threshold=0.5)
    return registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"model": "m", "version": "1", **labels})
    assert value is not None, name
    return value


@pytest.mark.parametrize("copies", [1, PYTHON_MAX_VALUES // ROWS.size + 1])
def test_small_and_large_answers_are_measured_alike(copies: int) -> None:
    probabilities = np.tile(ROWS, (copies, 1))  # 16 values: Python; above PYTHON_MAX_VALUES: NumPy
    registry = _record(probabilities)

    entropies = [-sum(p * math.log(p) for p in row if p > 0) / math.log(4) for row in ROWS.astype(np.float64)]
    assert _value(registry, "classifier_prediction_confidence_count") == 4 * copies
    assert _value(registry, "classifier_prediction_confidence_sum") == pytest.approx(
        copies * float(ROWS.astype(np.float64).max(axis=1).sum())
    )
    assert _value(registry, "classifier_prediction_entropy_sum") == pytest.approx(copies * sum(entropies))
    assert _value(registry, "classifier_prediction_entropy_bucket", le="0.1") == copies  # the one-hot row
    assert _value(registry, "classifier_prediction_entropy_bucket", le="1.0") == 4 * copies
    assert _value(registry, "classifier_low_confidence_predictions_total") == 2 * copies  # 0.25 and 0.4
    # Top classes 0, 0 (first of equal maxima), 2, 1.
    shares = {
        sample.labels["label"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "classifier_class_share"
    }
    assert shares == {"a": 0.5, "b": 0.25, "c": 0.25, "d": 0.0}
