"""``python -m loadtest.run`` end to end over tiny models: the stack starts, locust runs headless for a few
seconds, the CSV and HTML files appear, every request succeeds, and everything started is stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from loadtest.thresholds import read_stats

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
EVERY_NAME = {
    *(f"REST {m} {f}" for m in ("image", "text", "audio") for f in ("json", "multipart", "raw")),
    *(f"gRPC {m}" for m in ("image", "text", "audio")),
}


def run_loadtest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.run", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_loadtest_runs_every_scenario_without_failures(
    tmp_path: Path, models_dir: Path, loadtest_env: dict[str, str], no_latency_thresholds: Path
) -> None:
    out = tmp_path / "results"

    done = run_loadtest(
        loadtest_env,
        *("--users", "6", "--spawn-rate", "6", "--run-time", "6s"),
        *("--out", str(out), "--thresholds", str(no_latency_thresholds)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row.name: row for row in read_stats(out / "locust_stats.csv")}
    assert set(rows) >= {"Aggregated"}
    assert {name for name, row in rows.items() if row.requests > 0} - {"Aggregated"} <= EVERY_NAME
    assert rows["Aggregated"].requests >= 5
    assert all(row.failures == 0 for row in rows.values())
    assert (out / "report.html").stat().st_size > 0
    assert "every threshold holds" in done.stdout
    assert not _leftover_servers(models_dir)


def test_loadtest_tags_select_grpc_text_in_tfserving_topology(
    tmp_path: Path, models_dir: Path, loadtest_env: dict[str, str], no_latency_thresholds: Path
) -> None:
    out = tmp_path / "results"

    done = run_loadtest(
        {**loadtest_env, "LOADTEST_TOPOLOGY": "tfserving"},
        *("--users", "2", "--spawn-rate", "2", "--run-time", "3s", "--tags", "grpc"),
        *("--exclude-tags", "image", "audio"),
        *("--out", str(out), "--thresholds", str(no_latency_thresholds)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row.name: row for row in read_stats(out / "locust_stats.csv")}
    assert set(rows) == {"gRPC text", "Aggregated"}
    assert rows["gRPC text"].requests > 0 and rows["gRPC text"].failures == 0
    assert {p.name for p in (out / "logs").iterdir()} == {"gateway.log", "gateway-modelserver.log"}
    assert not _leftover_servers(models_dir)


def test_loadtest_v2_users_through_tritonclient_are_opt_in(
    tmp_path: Path, models_dir: Path, loadtest_env: dict[str, str], no_latency_thresholds: Path
) -> None:
    out = tmp_path / "results"

    done = run_loadtest(
        {**loadtest_env, "LOADTEST_WEIGHT_V2_REST": "1", "LOADTEST_WEIGHT_V2_GRPC": "1"},
        *("--users", "4", "--spawn-rate", "4", "--run-time", "5s", "--tags", "v2"),
        *("--out", str(out), "--thresholds", str(no_latency_thresholds)),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row.name: row for row in read_stats(out / "locust_stats.csv")}
    v2 = {name for name, row in rows.items() if row.requests > 0} - {"Aggregated"}
    assert v2 and all(name.startswith(("V2 REST ", "V2 gRPC ")) for name in v2), v2
    assert {name.split()[1] for name in v2} == {"REST", "gRPC"}
    assert all(row.failures == 0 for row in rows.values())
    assert not _leftover_servers(models_dir)


def test_loadtest_exits_1_when_a_threshold_fails(
    tmp_path: Path, models_dir: Path, loadtest_env: dict[str, str]
) -> None:
    out = tmp_path / "results"
    impossible = tmp_path / "impossible.toml"
    impossible.write_text("[aggregated]\nmin_requests = 1000000000\n", encoding="utf-8")

    done = run_loadtest(
        loadtest_env,
        *("--users", "1", "--spawn-rate", "1", "--run-time", "2s", "--tags", "text", "--exclude-tags", "grpc"),
        *("--out", str(out), "--thresholds", str(impossible)),
    )

    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAIL" in done.stdout
    assert not _leftover_servers(models_dir)


def _leftover_servers(models_dir: Path) -> list[psutil.Process]:
    # Any process still serving this session's tiny models (the gateway by its environment, the model
    # server by its command line): run.py must have stopped them all before it returned.
    marker = str(models_dir)
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        info = process.info
        if marker in " ".join(info["cmdline"] or ()) or (info["environ"] or {}).get("CLASSIFIER_MODELS_DIR") == marker:
            found.append(process)
    return found
