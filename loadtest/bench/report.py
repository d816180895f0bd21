"""The bench's results: the table, the ratios against the targets, ``bench.json`` and ``bench.png``.

Targets (throughput at the highest concurrency level, C):

- T1 text over REST (c) >= 0.5x the ceiling (a)
- T2 image and audio over REST (c) >= 3x the naive baseline (b), with p99 no worse than (b)'s
- T3 gRPC (d) >= 1.2x REST (c), per modality
- T4 added latency at one client, text: gateway median (c) - in-process median <= 2 ms
- T5 TF Serving mode (e) >= 0.7x the embedded gateway (c), per modality
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.bench.runner import ALL_SYSTEMS, SYSTEM_LETTERS, Bench
from loadtest.samples import MODALITIES

MODALITIES_ORDER = MODALITIES


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


def evaluate(bench: Bench) -> list[Target]:
    """Each target's ratio (or difference) from the cells."""
    rows = [c.row() for c in bench.cells]
    top = max(bench.config.levels)
    low = min(bench.config.levels)

    def cell(system: str, modality: str, level: int) -> dict[str, Any] | None:
        return next(
            (r for r in rows if r["system"] == system and r["modality"] == modality and r["concurrency"] == level),
            None,
        )

    def ratio(name: str, num: str, den: str, modality: str, goal: float) -> Target:
        a, b = cell(num, modality, top), cell(den, modality, top)
        if a is None or b is None or not b["rps"]:
            return Target(name, math.nan, f">= {goal}x", None, "not measured")
        value = a["rps"] / b["rps"]
        detail = f"{a['rps']:.1f} / {b['rps']:.1f} req/s at c={top}"
        return Target(name, value, f">= {goal}x", value >= goal, detail)

    targets = []
    targets.append(ratio("T1 text REST (c) / ceiling (a)", "gateway-rest", "ceiling", "text", 0.5))
    for modality in ("image", "audio"):
        throughput = ratio(f"T2 {modality} REST (c) / naive (b)", "gateway-rest", "naive", modality, 3.0)
        c, b = cell("gateway-rest", modality, top), cell("naive", modality, top)
        if throughput.met is not None and c is not None and b is not None:
            tail_ok = c["p99_ms"] <= b["p99_ms"]
            throughput = Target(
                throughput.name + " and p99",
                throughput.measured,
                ">= 3.0x and p99 <= naive p99",
                bool(throughput.met and tail_ok),
                f"{throughput.detail}; p99 {c['p99_ms']:.1f} vs {b['p99_ms']:.1f} ms",
            )
        targets.append(throughput)
    for modality in MODALITIES_ORDER:
        targets.append(ratio(f"T3 {modality} gRPC (d) / REST (c)", "gateway-grpc", "gateway-rest", modality, 1.2))
    for modality in MODALITIES_ORDER:
        floor = bench.inprocess.get(modality, {}).get("gateway_path_median_ms")
        for system in ("gateway-rest", "gateway-grpc"):
            gateway = cell(system, modality, low)
            name = f"T4 {modality} added median at c={low}, {system} - in-process"
            goal = "<= 2 ms" if modality == "text" and system == "gateway-rest" else "(info)"
            if gateway is None or floor is None:
                targets.append(Target(name, math.nan, goal, None, "not measured"))
                continue
            added = gateway["p50_ms"] - floor
            met = added <= 2.0 if goal != "(info)" else None
            detail = f"{gateway['p50_ms']:.2f} - {floor:.2f} ms"
            targets.append(Target(name, added, goal, met, detail))
    for modality in MODALITIES_ORDER:
        targets.append(
            ratio(f"T5 {modality} TF Serving (e) / embedded (c)", "tfserving-rest", "gateway-rest", modality, 0.7)
        )
    return targets


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
    header += f" {'srv cpu':>7} {'gen cpu':>7}"
    lines = [header, "-" * len(header)]
    order = {s: i for i, s in enumerate(ALL_SYSTEMS)}
    for cell in sorted(
        bench.cells, key=lambda c: (MODALITIES_ORDER.index(c.modality), order[c.system], c.result.concurrency)
    ):
        r = cell.row()
        lines.append(
            f"{r['modality']:<8} ({r['letter']}) {r['system']:<13} {r['concurrency']:>3} {r['rps']:>9.1f}"
            f" {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6} {r['server_cpu_cores']:>7.2f}"
            f" {r['generator_cpu_cores']:>7.2f}"
        )
    return "\n".join(lines)


def targets_table(targets: list[Target]) -> str:
    """One line per target."""
    width = max(len(t.name) for t in targets)
    lines = []
    for t in targets:
        verdict = {True: "MET", False: "MISSED", None: "-"}[t.met]
        value = "n/a" if math.isnan(t.measured) else f"{t.measured:.2f}"
        lines.append(f"{t.name:<{width}}  {value:>7}  {t.goal:<27} {verdict:<6}  {t.detail}")
    return "\n".join(lines)


def write_json(bench: Bench, targets: list[Target], path: Path, meta: dict[str, Any]) -> None:
    """``bench.json``: the settings, every cell, the in-process floor and the targets."""
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
