"""The reliability scenarios of ``loadtest.scenarios``, each a real gateway process under load.

The one-minute soak runs in the default suite; the others are marked ``scenario`` (``make overload``,
``make memory``, ``make sigterm`` run them with their figures).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_scenario(name: str, models: Path, **env: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest.scenarios", name, "--models", str(models)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(completed.stdout)
    return completed


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models) -> Path:  # type: ignore[no-untyped-def]
    return copy_tiny_models(tmp_path_factory.mktemp("scenario-models"))  # type: ignore[no-any-return]


def test_soak_for_a_minute_has_no_errors_few_refusals_and_flat_memory(models: Path) -> None:
    completed = run_scenario("soak", models, SOAK_SECONDS="60")
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert "soak: PASS" in completed.stdout


@pytest.mark.scenario
@pytest.mark.parametrize("name", ["overload", "memory", "sigterm"])
def test_scenario_keeps_its_promise(models: Path, name: str) -> None:
    completed = run_scenario(name, models)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
