"""Pass/fail limits for a locust run: read ``thresholds.toml``, check locust's stats CSV against it.

A row of ``<prefix>_stats.csv`` is one request name; its limits are the ``[endpoints."NAME"]`` table,
else ``[default]``; locust's ``Aggregated`` row is checked against ``[aggregated]``. A run with no
request at all fails (``min_requests``, default 1), so a load test that never reached the server
cannot pass.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class Limits:
    """The limits of one request name; None: not checked."""

    failure_ratio_max: float | None = None
    p95_ms: float | None = None
    min_requests: int = 0

    @classmethod
    def from_table(cls, table: Mapping[str, Any], base: Limits | None = None, *, where: str) -> Limits:
        """Limits from a TOML table, falling back to ``base`` for keys it lacks."""
        unknown = set(table) - {"failure_ratio_max", "p95_ms", "min_requests"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        base = base or cls()
        return cls(
            failure_ratio_max=_number(table, "failure_ratio_max", base.failure_ratio_max, where),
            p95_ms=_number(table, "p95_ms", base.p95_ms, where),
            min_requests=int(table.get("min_requests", base.min_requests)),
        )


@dataclass(frozen=True)
class Thresholds:
    """Per request name limits, with a default and limits of the aggregated row."""

    default: Limits
    aggregated: Limits
    endpoints: Mapping[str, Limits]

    def for_name(self, name: str) -> Limits:
        """The limits that apply to request ``name``."""
        if name == AGGREGATED:
            return self.aggregated
        return self.endpoints.get(name, self.default)


@dataclass(frozen=True)
class EndpointStats:
    """One row of locust's stats CSV, the columns that the thresholds and the summary use."""

    type: str
    name: str
    requests: int
    failures: int
    median_ms: float
    p95_ms: float
    p99_ms: float
    rps: float

    @property
    def failure_ratio(self) -> float:
        """Failures over requests (0 for a row without requests)."""
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Verdict:
    """The outcome for one row: the problems found, none when it passed."""

    stats: EndpointStats
    limits: Limits
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """No limit was passed."""
        return not self.problems


def load_thresholds(path: Path) -> Thresholds:
    """Parse ``thresholds.toml``; raises ValueError on unknown keys or wrong types."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(document) - {"default", "aggregated", "endpoints"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}")
    default = Limits.from_table(document.get("default", {}), Limits(min_requests=0), where="[default]")
    aggregated = Limits.from_table(
        document.get("aggregated", {}),
        Limits(failure_ratio_max=default.failure_ratio_max, min_requests=1),
        where="[aggregated]",
    )
    endpoints = {
        name: Limits.from_table(table, default, where=f'[endpoints."{name}"]')
        for name, table in document.get("endpoints", {}).items()
    }
    return Thresholds(default, aggregated, endpoints)


def read_stats(path: Path) -> list[EndpointStats]:
    """The rows of locust's ``<prefix>_stats.csv``, the ``Aggregated`` row last."""
    with path.open(newline="", encoding="utf-8") as file:
        return [_row(record) for record in csv.DictReader(file)]


def check(rows: Iterable[EndpointStats], thresholds: Thresholds) -> list[Verdict]:
    """A verdict per row; a missing ``Aggregated`` row is itself a failure (the CSV was cut short)."""
    verdicts = []
    seen_aggregated = False
    for stats in rows:
        seen_aggregated |= stats.name == AGGREGATED
        limits = thresholds.for_name(stats.name)
        verdicts.append(Verdict(stats, limits, tuple(_problems(stats, limits))))
    if not seen_aggregated:
        empty = EndpointStats("", AGGREGATED, 0, 0, math.nan, math.nan, math.nan, 0.0)
        verdicts.append(Verdict(empty, thresholds.aggregated, ("no Aggregated row: the stats CSV is incomplete",)))
    return verdicts


def summary_table(verdicts: Iterable[Verdict]) -> str:
    """A fixed-width table: one line per request name, its figures, its limits and the verdict."""
    header = ("name", "reqs", "fails", "fail%", "median", "p95", "p99", "req/s", "p95 max", "result")
    lines = [header]
    for v in verdicts:
        s = v.stats
        lines.append(
            (
                s.name,
                str(s.requests),
                str(s.failures),
                f"{100 * s.failure_ratio:.2f}",
                _ms(s.median_ms),
                _ms(s.p95_ms),
                _ms(s.p99_ms),
                f"{s.rps:.1f}",
                _ms(v.limits.p95_ms) if v.limits.p95_ms is not None else "-",
                "ok" if v.passed else "FAIL: " + "; ".join(v.problems),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    rendered = []
    for line in lines:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=False))
        ]
        rendered.append("  ".join([*cells, line[-1]]))
    rendered.insert(1, "-" * len(rendered[0]))
    return "\n".join(rendered)


def _problems(stats: EndpointStats, limits: Limits) -> list[str]:
    problems = []
    if stats.requests < limits.min_requests:
        problems.append(f"{stats.requests} requests < {limits.min_requests}")
    if limits.failure_ratio_max is not None and stats.failure_ratio > limits.failure_ratio_max:
        problems.append(f"failure ratio {stats.failure_ratio:.4f} > {limits.failure_ratio_max}")
    if limits.p95_ms is not None and stats.requests and not stats.p95_ms <= limits.p95_ms:
        problems.append(f"p95 {_ms(stats.p95_ms)} ms > {_ms(limits.p95_ms)} ms")
    return problems


def _row(record: Mapping[str, str]) -> EndpointStats:
    return EndpointStats(
        type=record.get("Type", ""),
        name=record["Name"],
        requests=int(record["Request Count"]),
        failures=int(record["Failure Count"]),
        median_ms=_float(record.get("50%") or record.get("Median Response Time")),
        p95_ms=_float(record.get("95%")),
        p99_ms=_float(record.get("99%")),
        rps=_float(record.get("Requests/s")),
    )


def _float(text: str | None) -> float:
    # locust writes "N/A" for percentiles of a row without requests.
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


def _number(table: Mapping[str, Any], key: str, fallback: float | None, where: str) -> float | None:
    value = table.get(key, fallback)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{where}: {key} must be a number, not {value!r}")
    return None if value is None else float(value)


def _ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"
