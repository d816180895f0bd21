"""``python -m loadtest.bench`` in BENCH_QUICK mode over tiny models: every system of the table is started,
measured and stopped, and bench.json and bench.png are written. Figures are not checked (speed is shown
by `make bench`, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.bench.runner import SYSTEMS

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_quick_bench_measures_every_system_and_writes_its_files(tmp_path: Path, bench_env: dict[str, str]) -> None:
    out = tmp_path / "bench"

    done = subprocess.run(
        [sys.executable, "-m", "loadtest.bench"],
        cwd=REPO,
        env={**bench_env, "BENCH_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    cells = report["cells"]
    assert {(c["system"], c["modality"], c["concurrency"]) for c in cells} == {
        (s, m, level) for s in SYSTEMS for m in ("image", "text", "audio") for level in report["meta"]["levels"]
    }
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [c for c in cells if c["errors"]]
    assert set(report["inprocess"]) == {"image", "text", "audio"}
    assert {t["name"].split()[0] for t in report["targets"]} == {"T1", "T2", "T3", "T4", "T5"}
    assert (out / "bench.png").read_bytes().startswith(b"\x89PNG")
    assert "T1 text REST (c) / ceiling (a)" in done.stdout


def test_quick_bench_v2_cells_are_opt_in(tmp_path: Path, bench_env: dict[str, str]) -> None:
    out = tmp_path / "bench"
    env = {**bench_env, "BENCH_OUT": str(out), "BENCH_V2": "1"}
    env["BENCH_SYSTEMS"] = "gateway-rest,gateway-v2-rest,gateway-v2-grpc"

    done = subprocess.run(
        [sys.executable, "-m", "loadtest.bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cells = json.loads((out / "bench.json").read_text(encoding="utf-8"))["cells"]
    assert {c["system"] for c in cells} == {"gateway-rest", "gateway-v2-rest", "gateway-v2-grpc"}
    assert {c["letter"] for c in cells} == {"c", "f", "g"}
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [c for c in cells if c["errors"]]
    assert done.stdout.count("ready after") == 1  # one gateway served every cell


def test_quick_bench_stream_cells_are_opt_in_and_batch_without_errors(
    tmp_path: Path, bench_env: dict[str, str]
) -> None:
    out = tmp_path / "bench"
    env = {**bench_env, "BENCH_OUT": str(out), "BENCH_SYSTEMS": "gateway-grpc,gateway-grpc-stream"}

    done = subprocess.run(
        [sys.executable, "-m", "loadtest.bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cells = json.loads((out / "bench.json").read_text(encoding="utf-8"))["cells"]
    assert {c["system"] for c in cells} == {"gateway-grpc", "gateway-grpc-stream"}
    assert {c["letter"] for c in cells if c["system"] == "gateway-grpc-stream"} == {"h"}
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [c for c in cells if c["errors"]]
