"""Helpers of the embedded runtime tests: placing version folders, settings, waiting, reference outputs."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
from service.backends.base import VersionState
from service.backends.embedded import EmbeddedBackend
from service.settings import BatchingSettings, Settings

RepoMaker = Callable[[dict[str, dict[int, str]]], Path]
BackendRunner = Callable[..., Awaitable[EmbeddedBackend]]
VersionPlacer = Callable[[Path, int, str], Path]


def place_version(model_dir: Path, number: int, sources: dict[str, Path], source: str) -> Path:
    """Put a version folder in place atomically: build under a hidden name, then rename."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = model_dir / f".incoming-{number}"
    if source == "garbage":
        staging.mkdir()
        (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    else:
        shutil.copytree(sources[source], staging)
    target = model_dir / str(number)
    if target.exists():
        shutil.rmtree(target)
    os.rename(staging, target)
    return target


def settings_for(models_dir: Path, **overrides: Any) -> Settings:
    """Test settings: fast polling, short unload grace, small batches."""
    values: dict[str, Any] = {
        "models_dir": models_dir,
        "poll_interval_s": 0.1,
        "request_timeout_s": 2.0,
        "inference_threads": 2,
        "batching": BatchingSettings(max_batch_size=16, batch_timeout_ms=5, max_queued_rows=512),
    }
    values.update(overrides)
    return Settings(**values)


async def wait_for_states(
    backend: EmbeddedBackend, name: str, want: dict[int, VersionState], *, timeout: float = 60.0
) -> None:
    """Wait until model ``name`` lists exactly the versions of ``want`` in those states."""
    deadline = time.monotonic() + timeout
    seen: dict[int, VersionState] = {}
    while time.monotonic() < deadline:
        try:
            status = await backend.model_status(name)
        except Exception:
            status = None
        if status is not None:
            seen = {v.version: v.state for v in status.versions}
            if seen == want:
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name}: wanted {want}, still {seen} after {timeout}s")


class DirectModel:
    """The reference: a version loaded on its own and called the documented way, one row at a time."""

    def __init__(self, path: Path) -> None:
        self._saved = tf.saved_model.load(str(path))
        self._function = self._saved.signatures[SERVING_SIGNATURE]
        _, inputs = self._function.structured_input_signature
        (self.input_name,) = inputs

    def per_row(self, batch: np.ndarray) -> np.ndarray:
        rows = [self._function(**{self.input_name: tf.constant(row[None])}) for row in batch]
        return np.concatenate([r[PROBABILITIES_OUTPUT].numpy() for r in rows])
