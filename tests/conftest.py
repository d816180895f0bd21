"""Fixtures every suite shares: a clean environment and one build of the tiny real models."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from training.testing import build_tiny_models


@pytest.fixture(scope="session", autouse=True)
def _clean_classifier_environment() -> Iterator[None]:
    """No CLASSIFIER_* variable of the developer's shell leaks into the settings under test."""
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("CLASSIFIER_")}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def tiny_models_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny-image, tiny-text and tiny-audio version 1 (real SavedModels), trained once per run.

    Suites copy it (``copy_tiny_models``) rather than use it, since several add or remove versions.
    """
    root = tmp_path_factory.mktemp("tiny-models-template")
    build_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def copy_tiny_models(tiny_models_template: Path) -> Iterator[Callable[[Path], Path]]:
    """A function that fills a folder with a private copy of the tiny model repository."""

    def copy(root: Path) -> Path:
        shutil.copytree(tiny_models_template, root, dirs_exist_ok=True)
        return root

    yield copy
