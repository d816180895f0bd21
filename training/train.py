"""Fit a compiled Keras model: seeded, with progress, early stopping on the validation split."""

from __future__ import annotations

import math
import os
from typing import Any

import keras
import numpy as np

from training.augment import Augmenter
from training.loading import Arrays
from training.progress import EpochLog, ProgressMode, TimeBudget, resolve_progress


def configure_runtime(seed: int, *, threads: int | None = None) -> None:
    """Seed Python, NumPy and TensorFlow, and cap TF's thread pools (the machine is shared).

    Call before the first model is built; TF fixes its thread pools on first use.
    """
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    count = threads if threads is not None else min(2, os.cpu_count() or 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:
        pass  # the runtime is already initialised (e.g. a second model in one process); keep its pools


def fit(
    model: Any,
    train: Arrays,
    val: Arrays,
    *,
    epochs: int,
    batch_size: int = 32,
    patience: int = 3,
    progress: ProgressMode = "auto",
    max_seconds: float | None = None,
    augment: Augmenter | None = None,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train until ``epochs``, until validation loss stops improving or ``max_seconds`` are spent.

    The best weights (lowest validation loss) are kept. ``augment``, when given, varies each
    training batch (never the validation data).
    """
    initial_rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    callbacks: list[keras.callbacks.Callback] = [
        # Cosine decay over the epoch budget: large steps early, small steps that settle the weights late.
        keras.callbacks.LearningRateScheduler(lambda epoch: cosine_rate(initial_rate, epoch, epochs)),
    ]
    shown = resolve_progress(progress)
    if shown == "lines":
        callbacks.append(EpochLog(epochs))
    if max_seconds is not None:
        callbacks.append(TimeBudget(max_seconds))
    has_val = len(val.y) > 0
    if has_val:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    fit_args: dict[str, Any] = {"x": train.x, "y": train.y, "batch_size": batch_size, "shuffle": True}
    if augment is not None:
        fit_args = {"x": augment.dataset(train, batch_size=batch_size, seed=seed), "shuffle": False}
    history = model.fit(
        **fit_args,
        validation_data=(val.x, val.y) if has_val else None,
        epochs=epochs,
        callbacks=callbacks,
        verbose=1 if shown == "bar" else 0,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def cosine_rate(initial: float, epoch: int, epochs: int, *, floor: float = 0.05) -> float:
    """The learning rate of ``epoch`` (0-based): ``initial`` decayed along a half cosine to ``floor * initial``."""
    progress = min(1.0, epoch / max(1, epochs - 1))
    return initial * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def predict(model: Any, x: np.ndarray[Any, Any], *, batch_size: int = 256) -> np.ndarray[Any, Any]:
    """Softmax outputs for ``x``, computed eagerly batch by batch (no per-shape graph retracing)."""
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    batches = [model(x[i : i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    return np.concatenate([np.asarray(batch) for batch in batches])
