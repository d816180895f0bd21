"""The scale-out rehearsal (``make scaleout-rehearsal``) passes: no failed request while replicas are killed,
restarted, removed from DNS and added, and the gateways follow each change within the target."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.scenario
def test_scaleout_rehearsal_fails_no_request_and_follows_every_change(copy_tiny_models, tmp_path):
    models = copy_tiny_models(tmp_path / "models")
    command = [sys.executable, "-m", "loadtest.scaleout", "--models-dir", str(models), "--timeout", "420"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=480, check=False)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    figures = dict(re.findall(r"^(.+): (\S+)$", done.stdout, flags=re.M))  # split at the last ": "
    assert int(figures["requests sent"]) > 0
    assert figures["requests failed"] == "0"
    for change in ("restarted B", "removed C", "added D"):
        (value,) = [v for k, v in figures.items() if k.startswith(change)]
        assert value != "never"
    assert int(figures["calls received by replica D (127.0.0.5)"]) > 0
