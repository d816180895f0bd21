"""The bench's results: the table, the targets, the extras' cost, ``bench.json`` and ``bench.png``.

Targets (issue 12; C is the highest concurrency level, 1 the lowest; "REST" is the gateway (c), CPU per
request is the servers' CPU seconds over the window divided by the requests completed in it):

- REST at C: text >= 0.45x the ceiling app (a), image >= 0.35x (a), audio >= 3x the naive app (b), every
  modality >= 2.5x (b)
- one client: REST p50 <= (b)'s p50, and within 0.5 ms of the in-process floor, for every modality
- gRPC unary (d) >= 1.2x REST at C, ``ClassifyStream`` (h) >= 2x REST at C, for every modality
- CPU per request at C: the gateway (c) <= 2.5x the ceiling app's (a)
- TF Serving mode (e) at C: the gateway's own CPU per request (the model server's left out) <= the embedded
  gateway's (c)

Each is printed as met or missed with the figures it compares; a target whose cells were not measured is
printed as such.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.bench.runner import ALL_SYSTEMS, EXTRA_SYSTEMS, SYSTEM_LETTERS, Bench
from loadtest.samples import MODALITIES

MODALITIES_ORDER = MODALITIES
Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One target: what was compared, the measured value, the goal, and whether it was met."""

    name: str
    measured: float
    goal: str
    met: bool | None  # None: not measured in this run
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """For bench.json."""
        return {
            "name": self.name,
            "measured": None if math.isnan(self.measured) else round(self.measured, 3),
            "goal": self.goal,
            "met": self.met,
            "detail": self.detail,
        }


class Cells:
    """The measured rows, looked up by system, modality and concurrency."""

    def __init__(self, bench: Bench) -> None:
        self.rows = {(r["system"], r["modality"], r["concurrency"]): r for r in (c.row() for c in bench.cells)}
        self.top = max(bench.config.levels)
        self.low = min(bench.config.levels)

    def get(self, system: str, modality: str, level: int) -> Row | None:
        """One cell's row, None when it was not measured."""
        return self.rows.get((system, modality, level))


def _compare(
    name: str,
    a: Row | None,
    b: Row | None,
    figure: Callable[[Row], float | None],
    goal: str,
    met: Callable[[float], bool],
) -> tuple[str, float, str, bool | None]:
    # (name, value, goal, met) from figure(a) / figure(b); not measured when a cell or a figure is missing.
    fa, fb = (figure(a) if a else None), (figure(b) if b else None)
    if fa is None or fb is None or not fb or math.isnan(fa) or math.isnan(fb):
        return name, math.nan, goal, None
    value = fa / fb
    return name, value, goal, met(value)


def _rps(row: Row) -> float:
    return float(row["rps"])


def _cpu(row: Row) -> float | None:
    return row["cpu_per_request_us"]  # type: ignore[no-any-return]


def _gateway_cpu(row: Row) -> float | None:
    return row["gateway_cpu_per_request_us"]  # type: ignore[no-any-return]


def evaluate(bench: Bench) -> list[Target]:
    """Each target's ratio (or difference) from the cells."""
    cells = Cells(bench)
    top, low = cells.top, cells.low
    targets: list[Target] = []

    def ratio(
        name: str,
        num: str,
        den: str,
        modality: str,
        goal: float,
        figure: Callable[[Row], float | None] = _rps,
        at_most: bool = False,
    ) -> None:
        a, b = cells.get(num, modality, top), cells.get(den, modality, top)
        sign = "<=" if at_most else ">="
        label, value, goal_text, met = _compare(
            name, a, b, figure, f"{sign} {goal}x", (lambda v: v <= goal) if at_most else (lambda v: v >= goal)
        )
        if met is None:
            targets.append(Target(label, value, goal_text, None, "not measured"))
            return
        assert a is not None and b is not None
        unit = "req/s" if figure is _rps else "us CPU/request"
        detail = f"{figure(a):.1f} / {figure(b):.1f} {unit} at c={top}"
        targets.append(Target(label, value, goal_text, met, detail))

    ratio("REST text / ceiling (c/a)", "gateway-rest", "ceiling", "text", 0.45)
    ratio("REST image / ceiling (c/a)", "gateway-rest", "ceiling", "image", 0.35)
    ratio("REST audio / naive (c/b)", "gateway-rest", "naive", "audio", 3.0)
    for modality in MODALITIES_ORDER:
        ratio(f"REST {modality} / naive (c/b), every modality", "gateway-rest", "naive", modality, 2.5)
    for modality in MODALITIES_ORDER:
        gateway, naive = cells.get("gateway-rest", modality, low), cells.get("naive", modality, low)
        name = f"one client {modality}: REST p50 - naive p50 (c-b)"
        if gateway is None or naive is None:
            targets.append(Target(name, math.nan, "<= 0 ms", None, "not measured"))
        else:
            added = gateway["p50_ms"] - naive["p50_ms"]
            detail = f"{gateway['p50_ms']:.2f} vs {naive['p50_ms']:.2f} ms at c={low}"
            targets.append(Target(name, added, "<= 0 ms", added <= 0, detail))
        floor = bench.inprocess.get(modality, {}).get("gateway_path_median_ms")
        name = f"one client {modality}: REST p50 - in-process floor"
        if gateway is None or floor is None:
            targets.append(Target(name, math.nan, "<= 0.5 ms", None, "not measured"))
        else:
            added = gateway["p50_ms"] - floor
            detail = f"{gateway['p50_ms']:.2f} - {floor:.2f} ms at c={low}"
            targets.append(Target(name, added, "<= 0.5 ms", added <= 0.5, detail))
    for modality in MODALITIES_ORDER:
        ratio(f"gRPC unary {modality} / REST (d/c)", "gateway-grpc", "gateway-rest", modality, 1.2)
    for modality in MODALITIES_ORDER:
        ratio(f"ClassifyStream {modality} / REST (h/c)", "gateway-stream", "gateway-rest", modality, 2.0)
    for modality in MODALITIES_ORDER:
        ratio(f"CPU/request {modality} REST / ceiling (c/a)", "gateway-rest", "ceiling", modality, 2.5, _cpu, True)
    for modality in MODALITIES_ORDER:
        a, b = cells.get("tfserving-rest", modality, top), cells.get("gateway-rest", modality, top)
        name = f"CPU/request {modality} TF Serving mode gateway / embedded (e/c)"
        front = _gateway_cpu(a) if a else None
        embedded = _cpu(b) if b else None
        if a is None or front is None or not embedded:
            targets.append(Target(name, math.nan, "<= 1.0x", None, "not measured"))
            continue
        value = front / embedded
        detail = f"gateway {front:.1f} (with the model server {_cpu(a) or 0:.1f}) / {embedded:.1f} us CPU/request"
        targets.append(Target(name, value, "<= 1.0x", value <= 1.0, f"{detail} at c={top}"))
    return targets


@dataclass(frozen=True)
class ExtraCost:
    """One extra's cell against the plain gateway's (c) at the same modality and concurrency."""

    system: str
    modality: str
    concurrency: int
    cpu_us: float | None
    base_cpu_us: float | None
    rps: float
    base_rps: float | None

    @property
    def cpu_ratio(self) -> float | None:
        """The extra's CPU per request over the plain gateway's."""
        if self.cpu_us is None or not self.base_cpu_us:
            return None
        return self.cpu_us / self.base_cpu_us

    def as_dict(self) -> dict[str, Any]:
        """For bench.json."""
        ratio = self.cpu_ratio
        return {
            "system": self.system,
            "modality": self.modality,
            "concurrency": self.concurrency,
            "cpu_per_request_us": self.cpu_us,
            "plain_gateway_cpu_per_request_us": self.base_cpu_us,
            "cpu_ratio": None if ratio is None else round(ratio, 3),
            "rps": self.rps,
            "plain_gateway_rps": self.base_rps,
        }


def extra_costs(bench: Bench) -> list[ExtraCost]:
    """Every extra's cell beside the plain gateway's."""
    cells = Cells(bench)
    costs = []
    for cell in bench.cells:
        if cell.system not in EXTRA_SYSTEMS:
            continue
        row = cell.row()
        base = cells.get("gateway-rest", cell.modality, row["concurrency"])
        costs.append(
            ExtraCost(
                cell.system,
                cell.modality,
                row["concurrency"],
                row["cpu_per_request_us"],
                base["cpu_per_request_us"] if base else None,
                row["rps"],
                base["rps"] if base else None,
            )
        )
    return costs


def extras_table(costs: list[ExtraCost]) -> str:
    """The extras' CPU per request against the plain gateway's (c)."""
    if not costs:
        return "extras: none measured (BENCH_EXTRAS=auth,tracing,predlog adds them)"
    header = f"{'extra':<16} {'modality':<8} {'c':>3} {'us CPU/req':>10} {'plain (c)':>10} {'ratio':>6}"
    header += f" {'req/s':>9} {'plain':>9}"
    lines = ["extras: CPU per request with one feature on, against the plain gateway (c)", header, "-" * len(header)]
    for c in costs:
        ratio = "n/a" if c.cpu_ratio is None else f"{c.cpu_ratio:.2f}x"
        cpu = "n/a" if c.cpu_us is None else f"{c.cpu_us:.0f}"
        base = "n/a" if c.base_cpu_us is None else f"{c.base_cpu_us:.0f}"
        base_rps = "n/a" if c.base_rps is None else f"{c.base_rps:.1f}"
        lines.append(
            f"{c.system:<16} {c.modality:<8} {c.concurrency:>3} {cpu:>10} {base:>10} {ratio:>6}"
            f" {c.rps:>9.1f} {base_rps:>9}"
        )
    return "\n".join(lines)


def headroom(bench: Bench) -> str:
    """How hard the generator worked while driving the ceiling at the top level (its fastest target)."""
    top = max(bench.config.levels)
    rows = [c.row() for c in bench.cells if c.system == "ceiling" and c.result.concurrency == top]
    if not rows:
        return "generator headroom: not measured (no ceiling cells)"
    parts = [f"{r['modality']} {r['rps']:.0f} req/s with {r['generator_cpu_cores']:.2f} core" for r in rows]
    return f"generator CPU while driving the ceiling at c={top}: " + "; ".join(parts)


def table(bench: Bench) -> str:
    """Every cell, grouped by modality then system."""
    header = f"{'modality':<8} {'system':<17} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    header += f" {'srv cpu':>7} {'us/req':>7} {'gw us/req':>9} {'gen cpu':>7}"
    lines = ["us/req: the servers' CPU microseconds per request; gw us/req: the gateway's alone", header]
    lines.append("-" * len(header))
    order = {s: i for i, s in enumerate(ALL_SYSTEMS)}
    for cell in sorted(
        bench.cells, key=lambda c: (MODALITIES_ORDER.index(c.modality), order[c.system], c.result.concurrency)
    ):
        r = cell.row()
        lines.append(
            f"{r['modality']:<8} ({r['letter']}) {r['system']:<13} {r['concurrency']:>3} {r['rps']:>9.1f}"
            f" {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6} {r['server_cpu_cores']:>7.2f}"
            f" {_us(r['cpu_per_request_us']):>7} {_us(r['gateway_cpu_per_request_us']):>9}"
            f" {r['generator_cpu_cores']:>7.2f}"
        )
    return "\n".join(lines)


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def targets_table(targets: list[Target]) -> str:
    """One line per target."""
    width = max(len(t.name) for t in targets)
    lines = []
    for t in targets:
        verdict = {True: "met", False: "missed", None: "not measured"}[t.met]
        value = "n/a" if math.isnan(t.measured) else f"{t.measured:.2f}"
        lines.append(f"{t.name:<{width}}  {value:>7}  {t.goal:<10} {verdict:<12}  {t.detail}")
    return "\n".join(lines)


def write_json(bench: Bench, targets: list[Target], path: Path, meta: dict[str, Any]) -> None:
    """``bench.json``: the settings, every cell, the in-process floor, the targets and the extras' costs."""
    config = bench.config
    document = {
        "meta": {
            **meta,
            "placement": bench.placement.describe(),
            "cpu_count": os.cpu_count(),
            "levels": list(config.levels),
            "cell_seconds": config.cell_s,
            "warmup_seconds": config.warmup_s,
            "quick": config.quick,
            "models": config.models,
            "samples_per_modality": config.samples_per_modality,
            "systems": {s: SYSTEM_LETTERS[s] for s in config.systems},
        },
        "cells": [c.row() for c in bench.cells],
        "inprocess": bench.inprocess,
        "targets": [t.as_dict() for t in targets],
        "extras": [c.as_dict() for c in extra_costs(bench)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def write_chart(bench: Bench, path: Path) -> None:
    """Requests/s (top row) and p99 latency (bottom row) against concurrency, one column per modality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modalities = [m for m in MODALITIES_ORDER if any(c.modality == m for c in bench.cells)]
    figure, axes = plt.subplots(2, max(1, len(modalities)), figsize=(5 * max(1, len(modalities)), 8), squeeze=False)
    for column, modality in enumerate(modalities):
        for system in ALL_SYSTEMS:
            cells = sorted(
                (c for c in bench.cells if c.system == system and c.modality == modality),
                key=lambda c: c.result.concurrency,
            )
            if not cells:
                continue
            levels = [c.result.concurrency for c in cells]
            label = f"({SYSTEM_LETTERS[system]}) {system}"
            axes[0][column].plot(levels, [c.result.rps for c in cells], marker="o", label=label)
            axes[1][column].plot(levels, [c.result.percentile(99) for c in cells], marker="o", label=label)
        axes[0][column].set_title(f"{modality} ({bench.config.models[modality]})")
        axes[0][column].set_ylabel("requests/s")
        axes[1][column].set_ylabel("p99 latency, ms")
        axes[1][column].set_yscale("log")
        levels = list(bench.config.levels)
        for row in (0, 1):
            axes[row][column].set_xscale("log", base=2)
            axes[row][column].set_xticks(levels, [str(level) for level in levels])
            axes[row][column].set_xlabel("concurrent clients")
            axes[row][column].grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(f"classifier gateway bench - {bench.placement.describe()}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
