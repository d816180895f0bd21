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
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    cells = report["cells"]
    assert {(c["system"], c["modality"], c["concurrency"]) for c in cells} == {
        (s, m, level) for s in SYSTEMS for m in ("image", "text", "audio") for level in report["meta"]["levels"]
    }
    # Every cell measured something: the naive app's audio calls are slow, hence quick cells of 1.5 s.
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [
        c for c in cells if c["errors"] or not c["requests"]
    ]
    assert set(report["inprocess"]) == {"image", "text", "audio"}
    assert all(c["cpu_per_request_us"] > 0 for c in cells)
    assert {t["met"] for t in report["targets"]} <= {True, False}  # every target's cells were measured
    assert len(report["targets"]) == 3 + 3 + 2 * 3 + 3 + 3 + 3 + 3
    assert report["extras"] == []  # opt-in only
    assert (out / "bench.png").read_bytes().startswith(b"\x89PNG")
    assert "REST text / ceiling (c/a)" in done.stdout
    assert "us/req" in done.stdout


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
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cells = json.loads((out / "bench.json").read_text(encoding="utf-8"))["cells"]
    assert {c["system"] for c in cells} == {"gateway-rest", "gateway-v2-rest", "gateway-v2-grpc"}
    assert {c["letter"] for c in cells} == {"c", "f", "g"}
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [c for c in cells if c["errors"]]
    assert done.stdout.count("ready after") == 1  # one gateway served every cell


def test_quick_bench_extras_measure_auth_tracing_and_predlog_against_the_plain_gateway(
    tmp_path: Path, bench_env: dict[str, str]
) -> None:
    out = tmp_path / "bench"
    env = {**bench_env, "BENCH_OUT": str(out), "BENCH_EXTRAS": "all", "BENCH_SYSTEMS": "gateway-rest"}
    env["BENCH_MODALITIES"] = "text"

    done = subprocess.run(
        [sys.executable, "-m", "loadtest.bench"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    cells = report["cells"]
    assert {c["system"] for c in cells} == {"gateway-rest", "gateway-auth", "gateway-tracing", "gateway-predlog"}
    # No errors: the auth extra's requests carried an accepted key.
    assert all(c["requests"] > 0 and c["errors"] == 0 for c in cells), [c for c in cells if c["errors"]]
    assert {e["system"] for e in report["extras"]} == {"gateway-auth", "gateway-tracing", "gateway-predlog"}
    assert all(e["cpu_ratio"] > 0 for e in report["extras"])
    assert "extras: CPU per request with one feature on" in done.stdout
    sink_log = (out / "logs" / "otlp-sink.log").read_text(encoding="utf-8")
    spans = int(sink_log.rsplit("otlp_sink: ", 1)[1].split()[0])
    assert spans > 0, sink_log
    logged = (out / "extras" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert logged and json.loads(logged[0])["model"] == "tiny-text"
