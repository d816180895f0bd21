"""Temperature scaling and expected calibration error.

A network trained with cross-entropy is usually over-confident: of the answers it gives with 0.99, fewer
than 99% are right. Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks")
divides the logits by one scalar ``T`` fitted on held-out data by minimising the negative log-likelihood;
it never changes which class wins, so accuracy is untouched. The exporter builds the same arithmetic into
the serving graph (``calibrate_tensor``), so every backend returns the calibrated probabilities.

The models end in a softmax, so the logits are recovered as log-probabilities (equal to the logits up to
a per-row constant, which the softmax ignores); ``PROBABILITY_FLOOR`` keeps a probability that underflowed
to zero finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

PROBABILITY_FLOOR = 1e-30
#: The search range for T: wide enough for any sane network, narrow enough to stay numerically tame.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
DEFAULT_BINS = 15

Floats = npt.NDArray[np.float64]


class Calibration(BaseModel):
    """The temperature a version's probabilities are divided by, and what it did to calibration."""

    model_config = ConfigDict(frozen=True)

    temperature: float = Field(description="Logits are divided by this before the softmax (1.0: unchanged).")
    fitted_on: str = Field(description="The split T was fitted on (the validation split).")
    fitted_samples: int
    ece_before: float = Field(description="Expected calibration error on the evaluated split, without T.")
    ece_after: float = Field(description="Expected calibration error on the evaluated split, with T.")
    nll_before: float = Field(description="Mean negative log-likelihood on the evaluated split, without T.")
    nll_after: float = Field(description="Mean negative log-likelihood on the evaluated split, with T.")
    bins: int = DEFAULT_BINS


def apply_temperature(probabilities: npt.ArrayLike, temperature: float) -> Floats:
    """``softmax(log(p) / T)`` row by row: the exported graph computes exactly this."""
    logits = np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    result: Floats = exp / exp.sum(axis=1, keepdims=True)
    return result


def calibrate_tensor(probabilities: Any, temperature: float) -> Any:
    """The TensorFlow twin of ``apply_temperature``, for the serving graph (identity when ``T == 1``)."""
    import tensorflow as tf

    if temperature == 1.0:
        return probabilities
    floor = tf.constant(PROBABILITY_FLOOR, dtype=probabilities.dtype)
    logits = tf.math.log(tf.maximum(probabilities, floor))
    return tf.nn.softmax(logits / tf.constant(temperature, dtype=probabilities.dtype), axis=-1)


def negative_log_likelihood(probabilities: npt.ArrayLike, y_true: npt.ArrayLike) -> float:
    """Mean ``-log p(true class)``."""
    probs = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(y_true, dtype=np.int64)
    if truth.size == 0:
        return 0.0
    picked = probs[np.arange(truth.size), truth]
    return float(-np.log(np.maximum(picked, PROBABILITY_FLOOR)).mean())


def fit_temperature(probabilities: npt.ArrayLike, y_true: npt.ArrayLike) -> float:
    """The ``T`` that minimises the negative log-likelihood of ``y_true``; 1.0 when there is nothing to fit."""
    from scipy.optimize import minimize_scalar

    probs = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(y_true, dtype=np.int64)
    if truth.size == 0:
        return 1.0

    def loss(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(probs, float(np.exp(log_t))), truth)

    found = minimize_scalar(
        loss, bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)), method="bounded", options={"xatol": 1e-4}
    )
    temperature = float(np.exp(found.x))
    # Keep T = 1 unless fitting actually helps on the fitting split (a flat optimum is no reason to change).
    return temperature if loss(float(found.x)) < loss(0.0) else 1.0


def reliability_bins(
    probabilities: npt.ArrayLike, y_true: npt.ArrayLike, *, bins: int = DEFAULT_BINS
) -> tuple[Floats, Floats, npt.NDArray[np.int64]]:
    """Per confidence bin (equal width over [0, 1]): mean confidence, accuracy, and sample count."""
    probs = np.asarray(probabilities, dtype=np.float64)
    truth = np.asarray(y_true, dtype=np.int64)
    confidence = probs.max(axis=1) if probs.size else np.zeros(0)
    correct = (probs.argmax(axis=1) == truth).astype(np.float64) if probs.size else np.zeros(0)
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    return np.nan_to_num(mean_confidence), np.nan_to_num(accuracy), counts


def expected_calibration_error(
    probabilities: npt.ArrayLike, y_true: npt.ArrayLike, *, bins: int = DEFAULT_BINS
) -> float:
    """ECE: the sample-weighted mean gap between confidence and accuracy over ``bins`` confidence bins."""
    confidence, accuracy, counts = reliability_bins(probabilities, y_true, bins=bins)
    total = counts.sum()
    if total == 0:
        return 0.0
    return float((counts * np.abs(confidence - accuracy)).sum() / total)


def calibrate(
    val_probabilities: npt.ArrayLike,
    val_true: npt.ArrayLike,
    test_probabilities: npt.ArrayLike,
    test_true: npt.ArrayLike,
    *,
    fitted_on: str = "val",
) -> Calibration:
    """Fit ``T`` on the validation outputs and measure ECE and NLL on the held-out outputs before and after."""
    temperature = fit_temperature(val_probabilities, val_true)
    after = apply_temperature(test_probabilities, temperature)
    return Calibration(
        temperature=temperature,
        fitted_on=fitted_on,
        fitted_samples=int(np.asarray(val_true).size),
        ece_before=expected_calibration_error(test_probabilities, test_true),
        ece_after=expected_calibration_error(after, test_true),
        nll_before=negative_log_likelihood(test_probabilities, test_true),
        nll_after=negative_log_likelihood(after, test_true),
    )
