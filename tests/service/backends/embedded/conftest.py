"""Fixtures of the embedded runtime tests: real tiny SavedModels, repositories built from them, backends.

Chained: ``tiny_versions`` (trained once per session: tiny-image 1 and a differently trained 2,
tiny-text 1, tiny-audio 1) -> ``make_repo`` (a fresh ``models_dir`` holding copies) ->
``run_backend`` (a started ``EmbeddedBackend``, closed after the test).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from embedded_support import BackendRunner, DirectModel, RepoMaker, VersionPlacer, place_version

from service.backends.embedded import EmbeddedBackend
from service.metrics import Metrics
from service.settings import Settings
from training.testing import build_tiny_models


@pytest.fixture(scope="session", autouse=True)
def _clean_environment() -> Iterator[None]:
    """No CLASSIFIER_* variable of the developer's shell leaks into the settings under test."""
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.startswith("CLASSIFIER_")}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def tiny_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Source version folders by key: 'image-1', 'image-2' (other weights), 'text-1', 'audio-1'."""
    root = tmp_path_factory.mktemp("embedded-sources")
    built = build_tiny_models(root)
    second = build_tiny_models(root, names=("tiny-image",), epochs=2)  # exported as tiny-image/2
    return {
        "image-1": built["tiny-image"],
        "image-2": second["tiny-image"],
        "text-1": built["tiny-text"],
        "audio-1": built["tiny-audio"],
    }


@pytest.fixture
def make_repo(tmp_path: Path, tiny_versions: dict[str, Path]) -> RepoMaker:
    """Builds ``models_dir`` from ``{model: {version: source key or 'garbage'}}``; returns it."""

    def make(layout: dict[str, dict[int, str]]) -> Path:
        root = tmp_path / "models"
        for model, versions in layout.items():
            for number, source in versions.items():
                place_version(root / model, number, tiny_versions, source)
        root.mkdir(exist_ok=True)
        return root

    return make


@pytest.fixture
def place(tiny_versions: dict[str, Path]) -> VersionPlacer:
    """Puts a version folder (a source key or 'garbage') into a model folder atomically, as an exporter does."""

    def put(model_dir: Path, number: int, source: str) -> Path:
        return place_version(model_dir, number, tiny_versions, source)

    return put


@pytest.fixture
async def run_backend() -> AsyncIterator[BackendRunner]:
    """Starts ``EmbeddedBackend(settings)``s for a test and closes each at its end."""
    started: list[EmbeddedBackend] = []

    async def run(settings: Settings, metrics: Metrics | None = None) -> EmbeddedBackend:
        backend = EmbeddedBackend(settings, metrics or Metrics())
        await backend.start()
        started.append(backend)
        return backend

    yield run
    for backend in started:
        await backend.close()


@pytest.fixture(scope="session")
def direct_models(tiny_versions: dict[str, Path]) -> dict[str, DirectModel]:
    """A DirectModel per source version key."""
    return {key: DirectModel(path) for key, path in tiny_versions.items()}
