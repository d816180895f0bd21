"""The process group behind `make loadtest` and `make bench` stops what it started, however its block ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loadtest.stack import ProcessGroup, StackError, free_port, wait_ready

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
IGNORES_SIGTERM = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(120)",
]


def test_process_group_stops_its_children_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), ProcessGroup(tmp_path / "logs") as group:
        server = group.start("sleeper", SLEEPER)
        raise RuntimeError("boom")

    assert server.process.poll() is not None


def test_process_group_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs", stop_timeout_s=1.0) as group:
        server = group.start("stubborn", IGNORES_SIGTERM)
        while "up" not in server.tail():
            assert server.process.poll() is None

    assert server.process.returncode is not None


def test_wait_ready_reports_a_server_that_exited_with_its_log(tmp_path: Path) -> None:
    with ProcessGroup(tmp_path / "logs") as group:
        server = group.start("crash", [sys.executable, "-c", "raise SystemExit('no models here')"])

        with pytest.raises(StackError, match="no models here"):
            wait_ready(server, f"http://127.0.0.1:{free_port()}/readyz", timeout_s=30)
