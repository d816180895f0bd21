"""Temperature scaling: fitting, ECE, and the temperature built into the exported serving graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
from training.calibration import (
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_temperature,
)
from training.export import export_version
from training.pipeline import TrainingResult
from training.reliability import render_reliability_diagram
from training.train import predict


def _overconfident(rng: np.random.Generator, n: int, sharpen: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(sharpen * z): over-confident by ``sharpen``."""
    logits = rng.normal(scale=2.0, size=(n, 4))
    truth = apply_temperature(np.exp(logits), 1.0)
    labels = np.array([rng.choice(4, p=row) for row in truth])
    return apply_temperature(np.exp(logits), 1.0 / sharpen), labels


def test_fit_temperature_recovers_the_sharpening_and_lowers_ece():
    rng = np.random.default_rng(0)
    val_p, val_y = _overconfident(rng, 4000, 3.0)
    test_p, test_y = _overconfident(rng, 4000, 3.0)

    assert fit_temperature(val_p, val_y) == pytest.approx(3.0, rel=0.1)
    result = calibrate(val_p, val_y, test_p, test_y)
    assert result.ece_before > 0.1
    assert result.ece_after < 0.03
    assert result.nll_after < result.nll_before


def test_apply_temperature_keeps_the_winner_and_sums_to_one():
    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9], [1.0, 0.0, 0.0]])

    for temperature in (0.5, 1.0, 2.5):
        q = apply_temperature(p, temperature)
        assert (q.argmax(axis=1) == p.argmax(axis=1)).all()
        assert q.sum(axis=1) == pytest.approx(np.ones(3))
    assert apply_temperature(p, 2.0)[2, 1] > 0  # an underflowed zero becomes small, not NaN


def test_expected_calibration_error_of_confident_mistakes_is_one():
    assert expected_calibration_error(np.eye(3)[[1, 2, 0]], [0, 1, 2]) == pytest.approx(1.0)
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == pytest.approx(0.0)


def test_fit_temperature_keeps_one_without_data():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)) == 1.0


def test_exported_graph_serves_the_calibrated_probabilities(tiny_results: dict[str, TrainingResult], tmp_path: Path):
    tiny = tiny_results["tiny-image"]
    x = np.random.default_rng(1).integers(0, 256, size=(6, *tiny.spec.features.input_shape), dtype=np.uint8)

    version = export_version(
        tiny.model, tiny.spec, tmp_path, warmup_inputs=x[:2], temperature=2.5, refresh_serving=False
    )

    serve = tf.saved_model.load(str(version)).signatures[SERVING_SIGNATURE]
    served = serve(**{tiny.spec.features.input_name: tf.constant(x)})[PROBABILITIES_OUTPUT].numpy()
    assert served.dtype == np.float32
    np.testing.assert_allclose(served, apply_temperature(predict(tiny.model, x), 2.5), atol=1e-5)


def test_render_reliability_diagram_writes_png(tmp_path: Path):
    rng = np.random.default_rng(2)
    p, y = _overconfident(rng, 300, 2.0)

    path = render_reliability_diagram(y, {"before": p, "after": apply_temperature(p, 2.0)}, tmp_path / "r.png")

    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
