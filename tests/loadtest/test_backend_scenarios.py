"""The TF Serving scenarios of ``loadtest.backend_scenarios``: a gateway and a model server process under
steady load while the model server is stopped, frozen or killed, or a version rolls out.

Minutes each (the model server restarts): marked ``scenario``; ``make backend-scenarios`` runs them with
their figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, copy_tiny_models) -> Path:  # type: ignore[no-untyped-def]
    return copy_tiny_models(tmp_path_factory.mktemp("backend-scenario-models"))  # type: ignore[no-any-return]


@pytest.mark.scenario
@pytest.mark.parametrize("name", ["stopped", "frozen", "killed", "rollout"])
def test_backend_scenario_keeps_its_promise(models: Path, name: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "loadtest.backend_scenarios", name, "--models", str(models)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    print(completed.stdout)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    assert f"{name}: PASS" in completed.stdout
