"""The supervisor's own rules with stand-in workers (short Python commands): a crash loop is not hidden,
and workers mode refuses port 0. The real gateways under a supervisor: tfserving/test_tfserving_workers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from service.settings import Settings
from service.workers import Supervisor

#: A worker that records its id and pid, then crashes at once.
CRASHING = "import os, sys; open(sys.argv[1], 'a').write(os.environ['CLASSIFIER_WORKER_ID'] + '\\n'); sys.exit(3)"


def test_a_crash_loop_is_restarted_a_bounded_number_of_times_then_stops_with_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starts = tmp_path / "starts"
    settings = Settings(workers=2, port=18080, grpc_port=18081, worker_restarts_per_minute=3)
    code = Supervisor(settings, command=[sys.executable, "-c", CRASHING, str(starts)]).run()

    assert code == 1
    deaths = [r for r in caplog.records if "exited unexpectedly" in r.getMessage()]
    assert len(deaths) == 3 + 1  # 3 restarted; the 4th death within the minute stops everything
    assert set(starts.read_text().split()) == {"0", "1"}  # each worker with its own id


def test_workers_need_fixed_ports() -> None:
    assert Supervisor(Settings(workers=2, port=0)).run() == 2
    assert Supervisor(Settings(workers=2, port=8000, grpc_port=0)).run() == 2
