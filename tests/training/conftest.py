"""Fixtures for the training tests: tiny datasets and tiny trained, exported models (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.pipeline import TrainingResult
from training.testing import train_tiny_models


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tiny datasets are written (class-per-folder, one folder per model)."""
    return tmp_path_factory.mktemp("tiny-data")


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model repository the tiny models are exported to."""
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_results(tiny_models_dir: Path, tiny_data_dir: Path) -> dict[str, TrainingResult]:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio``, trained end to end and exported as version 1."""
    return train_tiny_models(tiny_models_dir, data_dir=tiny_data_dir)


@pytest.fixture(params=["tiny-image", "tiny-text", "tiny-audio"])
def tiny(request: pytest.FixtureRequest, tiny_results: dict[str, TrainingResult]) -> TrainingResult:
    """Each tiny model in turn."""
    return tiny_results[request.param]
