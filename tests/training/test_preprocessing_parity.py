"""Serving path == training path: shared preprocessing + exported SavedModel matches the Keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
from training.calibration import apply_temperature
from training.loading import EXTENSIONS, preprocessor, read_raw
from training.pipeline import TrainingResult


def test_saved_model_matches_keras_model_on_raw_files(tiny: TrainingResult, tiny_data_dir: Path):
    features = tiny.spec.features
    files = sorted(p for p in (tiny_data_dir / tiny.name).rglob("*") if p.suffix in EXTENSIONS[features.modality])[::5]
    transform = preprocessor(features)
    batch = np.stack([transform(read_raw(path, features.modality)) for path in files])
    assert batch.dtype == np.dtype(features.input_dtype)

    served = tf.saved_model.load(str(tiny.version_dir)).signatures[SERVING_SIGNATURE]
    from_saved_model = served(**{features.input_name: tf.constant(batch)})[PROBABILITIES_OUTPUT].numpy()
    calibration = tiny.evaluation.calibration  # the serving graph applies the fitted temperature
    from_keras = apply_temperature(np.asarray(tiny.model(batch, training=False)), calibration.temperature)

    assert from_saved_model.shape == (len(files), len(tiny.spec.labels))
    np.testing.assert_allclose(from_saved_model, from_keras, atol=1e-5, rtol=0)


def test_tiny_model_predicts_fresh_samples(tiny: TrainingResult):
    from training.testing import tiny_input

    features = tiny.spec.features
    transform = preprocessor(features)
    served = tf.saved_model.load(str(tiny.version_dir)).signatures[SERVING_SIGNATURE]
    labels = tiny.spec.labels
    seeds = range(900, 905)
    batch = np.stack([transform(tiny_input(tiny.name, label, seed=s)) for label in labels for s in seeds])

    probabilities = served(**{features.input_name: tf.constant(batch)})[PROBABILITIES_OUTPUT].numpy()

    predicted = [labels[i] for i in probabilities.argmax(axis=1)]
    assert predicted == [label for label in labels for _ in seeds]
