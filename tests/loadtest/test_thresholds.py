"""The threshold checker on crafted locust stats CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from loadtest.thresholds import check, load_thresholds, read_stats, summary_table

REPO_THRESHOLDS = Path(__file__).resolve().parents[2] / "loadtest" / "thresholds.toml"
HEADER = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
    "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
]  # fmt: skip


def write_stats(path: Path, rows: list[tuple[str, str, int, int, float, float]]) -> Path:
    """Rows of (type, name, requests, failures, p50, p95) in locust's stats CSV layout."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for kind, name, requests, failures, p50, p95 in rows:
            figures = [p50, p50, p50, p50, p95, p95, p95, p95 * 1.2, p95 * 1.5, p95 * 1.5, p95 * 1.5]
            p = ["N/A"] * 11 if requests == 0 else [f"{v:.0f}" for v in figures]
            writer.writerow(
                [kind, name, requests, failures, p[0], p[0], 1, p[-1], 900, requests / 60, failures / 60, *p]
            )
    return path


@pytest.fixture
def thresholds_file(tmp_path: Path) -> Path:
    path = tmp_path / "thresholds.toml"
    path.write_text(
        """
[default]
failure_ratio_max = 0.01
p95_ms = 500

[aggregated]
p95_ms = 800
min_requests = 10

[endpoints."REST text json"]
p95_ms = 100
""",
        encoding="utf-8",
    )
    return path


def test_check_passes_when_every_row_is_within_limits(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(
        tmp_path / "ok_stats.csv",
        [
            ("POST", "REST text json", 500, 0, 20, 90),
            ("grpc", "gRPC image", 400, 2, 50, 400),
            ("", "Aggregated", 900, 2, 30, 300),
        ],
    )

    verdicts = check(read_stats(stats), load_thresholds(thresholds_file))

    assert [v.stats.name for v in verdicts] == ["REST text json", "gRPC image", "Aggregated"]
    assert all(v.passed for v in verdicts)


def test_check_fails_an_endpoint_over_its_own_p95(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(
        tmp_path / "slow_stats.csv",
        [("POST", "REST text json", 500, 0, 20, 150), ("", "Aggregated", 500, 0, 20, 150)],
    )

    verdicts = {v.stats.name: v for v in check(read_stats(stats), load_thresholds(thresholds_file))}

    assert not verdicts["REST text json"].passed
    assert "p95 150 ms > 100 ms" in verdicts["REST text json"].problems[0]
    assert verdicts["Aggregated"].passed


def test_check_fails_a_failure_ratio_over_the_default(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(
        tmp_path / "failing_stats.csv",
        [("POST", "REST audio raw", 100, 5, 20, 60), ("", "Aggregated", 100, 5, 20, 60)],
    )

    verdicts = {v.stats.name: v for v in check(read_stats(stats), load_thresholds(thresholds_file))}

    assert not verdicts["REST audio raw"].passed
    assert "failure ratio 0.0500 > 0.01" in verdicts["REST audio raw"].problems[0]


def test_check_fails_a_run_without_enough_requests(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(tmp_path / "empty_stats.csv", [("", "Aggregated", 0, 0, 0, 0)])

    verdicts = check(read_stats(stats), load_thresholds(thresholds_file))

    assert not verdicts[0].passed
    assert verdicts[0].problems == ("0 requests < 10",)


def test_check_fails_a_csv_without_the_aggregated_row(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(tmp_path / "cut_stats.csv", [("POST", "REST image json", 100, 0, 20, 60)])

    verdicts = check(read_stats(stats), load_thresholds(thresholds_file))

    assert verdicts[0].passed
    assert not verdicts[-1].passed
    assert "incomplete" in verdicts[-1].problems[0]


def test_summary_table_shows_each_row_and_its_verdict(tmp_path: Path, thresholds_file: Path) -> None:
    stats = write_stats(
        tmp_path / "mixed_stats.csv",
        [("POST", "REST text json", 50, 0, 20, 150), ("", "Aggregated", 50, 0, 20, 150)],
    )

    table = summary_table(check(read_stats(stats), load_thresholds(thresholds_file)))

    lines = table.splitlines()
    assert lines[0].split()[:3] == ["name", "reqs", "fails"]
    assert "FAIL: p95 150 ms > 100 ms" in lines[2]
    assert lines[3].startswith("Aggregated") and lines[3].endswith("ok")


def test_load_thresholds_refuses_an_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[default]\np59_ms = 100\n", encoding="utf-8")

    with pytest.raises(ValueError, match="unknown keys"):
        load_thresholds(path)


def test_repository_thresholds_parse_and_cover_text() -> None:
    thresholds = load_thresholds(REPO_THRESHOLDS)

    assert thresholds.default.failure_ratio_max is not None
    assert thresholds.for_name("REST text json").p95_ms is not None
    assert thresholds.aggregated.min_requests >= 1
