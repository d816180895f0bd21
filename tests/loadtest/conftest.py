"""Fixtures for the load-test tooling: tiny real models, tiny sample folders, and the environment that
points the locustfile and the bench at them.

models_dir, samples_dir -> loadtest_env / bench_env (passed to child processes)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from training.testing import TINY_MODALITIES, write_tiny_dataset

REPO = Path(__file__).resolve().parents[2]
PREFIXES = ("CLASSIFIER_", "LOADTEST_", "BENCH_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's CLASSIFIER_*, LOADTEST_* or BENCH_* variables must not change what the tests run."""
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models: Callable[[Path], Path]) -> Path:
    """``tiny-image``, ``tiny-text`` and ``tiny-audio`` version 1."""
    root = tmp_path_factory.mktemp("models")
    copy_tiny_models(root)
    return root


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fresh samples of every tiny model: ``ROOT/NAME/LABEL/NNN.ext``."""
    root = tmp_path_factory.mktemp("samples")
    for name in TINY_MODALITIES:
        write_tiny_dataset(name, root / name, per_label=6, seed=7)
    return root


def _child_env(prefix: str, models_dir: Path, samples_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    for name, modality in TINY_MODALITIES.items():
        env[f"{prefix}_{modality.upper()}_MODEL"] = name
        env[f"{prefix}_{modality.upper()}_SAMPLES"] = str(samples_dir / name)
    return env


@pytest.fixture
def loadtest_env(models_dir: Path, samples_dir: Path) -> dict[str, str]:
    """The environment of ``python -m loadtest.run`` over the tiny models."""
    env = _child_env("LOADTEST", models_dir, samples_dir)
    env["LOADTEST_MODELS_DIR"] = str(models_dir)
    return env


@pytest.fixture
def bench_env(models_dir: Path, samples_dir: Path) -> dict[str, str]:
    """The environment of ``python -m loadtest.bench`` in quick mode over the tiny models."""
    env = _child_env("BENCH", models_dir, samples_dir)
    env.update(BENCH_QUICK="1", BENCH_LEVELS="2", BENCH_MODELS_DIR=str(models_dir))
    return env


@pytest.fixture
def no_latency_thresholds(tmp_path: Path) -> Path:
    """Thresholds that check failures and request counts only: speed is shown by `make bench`, not tested."""
    path = tmp_path / "thresholds.toml"
    path.write_text(
        "[default]\nfailure_ratio_max = 0.0\n\n[aggregated]\nfailure_ratio_max = 0.0\nmin_requests = 5\n",
        encoding="utf-8",
    )
    return path
