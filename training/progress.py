"""Training progress that suits both a terminal and a log file, and a wall-clock budget for ``fit``.

Keras' own progress bar redraws itself with carriage returns and escape codes once per batch: on a
terminal that is what people want, in a log file it is hundreds of kilobytes of noise. ``Progress``
picks the bar only when the stream is a terminal and otherwise logs one plain line per epoch.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Literal, TextIO

import keras

logger = logging.getLogger(__name__)

#: ``auto``: a bar on a terminal, one line per epoch otherwise; ``bar``, ``lines``, ``none`` force one.
ProgressMode = Literal["auto", "bar", "lines", "none"]


def resolve_progress(mode: ProgressMode, stream: TextIO | None = None) -> Literal["bar", "lines", "none"]:
    """What ``auto`` means for ``stream`` (standard output by default): a bar only on a terminal."""
    if mode != "auto":
        return mode
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return "bar" if callable(isatty) and isatty() else "lines"


class EpochLog(keras.callbacks.Callback):  # type: ignore[misc]
    """Logs one line per epoch: its number, every metric Keras reports, the learning rate, the seconds."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:  # noqa: ARG002
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logger.info("%s", format_epoch(epoch, self.epochs, logs or {}, time.perf_counter() - self._started))


def format_epoch(epoch: int, epochs: int, logs: dict[str, Any], seconds: float) -> str:
    """``epoch 3/16  loss 0.1234  accuracy 0.9812  val_loss …  lr 1.2e-03  4.1s`` (``epoch`` is 0-based)."""
    parts = [f"epoch {epoch + 1}/{epochs}"]
    for key, value in logs.items():
        if key == "learning_rate":
            parts.append(f"lr {float(value):.1e}")
        else:
            parts.append(f"{key} {float(value):.4f}")
    parts.append(f"{seconds:.1f}s")
    return "  ".join(parts)


class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
    """Stops training before the epoch that would end past ``seconds`` of wall-clock time.

    The check runs after each epoch with the slowest epoch so far as the estimate of the next one, so
    a budget is kept rather than overrun by one epoch. The first epoch always runs. EarlyStopping's
    best weights are still restored at the end, so a stopped run exports its best epoch.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.stopped_after: int | None = None
        self._began = 0.0
        self._epoch_began = 0.0
        self._slowest = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:  # noqa: ARG002
        self._began = time.perf_counter()
        self._slowest = 0.0
        self.stopped_after = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:  # noqa: ARG002
        self._epoch_began = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:  # noqa: ARG002
        now = time.perf_counter()
        self._slowest = max(self._slowest, now - self._epoch_began)
        if now - self._began + self._slowest > self.seconds:
            self.stopped_after = epoch + 1
            self.model.stop_training = True
            logger.info(
                "time budget: stopping after epoch %d (%.0fs used of %.0fs)", epoch + 1, now - self._began, self.seconds
            )
