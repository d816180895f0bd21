"""The bench's report from measured cells: CPU per request in every row and in bench.json, each of issue 12's
targets met or missed with the figures it compares, and the extras' cost against the plain gateway.

The cells are built here (what a run would measure), so every branch of the report is checked in a second;
the run itself is ``test_bench_quick``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.bench.loadgen import CellResult
from loadtest.bench.report import evaluate, extra_costs, extras_table, table, targets_table, write_json
from loadtest.bench.runner import Bench, BenchConfig, Cell
from training.testing import TINY_MODALITIES

MODELS = {modality: name for name, modality in TINY_MODALITIES.items()}


def _result(level: int, rps: float, p50_ms: float, cpu_us: float, front_us: float | None = None) -> CellResult:
    completed = int(rps * 2)
    return CellResult(
        concurrency=level,
        duration_s=2.0,
        completed=completed,
        errors=0,
        latencies_ms=[p50_ms] * 10,
        generator_cpu_s=0.1,
        server_cpu_s=cpu_us * completed / 1e6,
        front_cpu_s=(cpu_us if front_us is None else front_us) * completed / 1e6,
    )


@pytest.fixture
def bench(samples_dir: Path) -> Bench:
    config = BenchConfig(models=dict(MODELS), samples={m: samples_dir / n for m, n in MODELS.items()})
    config.levels = (1, 32)
    measured = Bench(config, log=lambda _: None)
    #         system            rps at 1, p50 at 1, rps at 32, CPU us at 32, gateway's own CPU us at 32
    figures = {
        "ceiling": (2000.0, 0.4, 4000.0, 200.0, None),
        "naive": (500.0, 1.9, 300.0, 2000.0, None),
        "gateway-rest": (800.0, 1.0, 1900.0, 450.0, None),
        "gateway-grpc": (900.0, 0.9, 2000.0, 430.0, None),
        "gateway-stream": (900.0, 0.9, 4000.0, 240.0, None),
        "tfserving-rest": (600.0, 1.5, 1500.0, 700.0, 400.0),
        "gateway-tracing": (700.0, 1.1, 1600.0, 540.0, None),
    }
    for system, (rps1, p50, rps32, cpu32, front32) in figures.items():
        for modality in ("text",):
            measured.cells.append(Cell(system, modality, _result(1, rps1, p50, cpu32 * 1.2)))
            measured.cells.append(Cell(system, modality, _result(32, rps32, p50 * 10, cpu32, front32)))
    measured.inprocess = {"text": {"gateway_path_median_ms": 0.7}}
    return measured


def _by_name(bench: Bench) -> dict[str, dict[str, object]]:
    return {t.name: t.as_dict() for t in evaluate(bench)}


def test_every_target_of_issue_12_is_met_or_missed_with_its_figures(bench: Bench) -> None:
    targets = _by_name(bench)

    assert targets["REST text / ceiling (c/a)"] == {
        "name": "REST text / ceiling (c/a)",
        "measured": 0.475,
        "goal": ">= 0.45x",
        "met": True,
        "detail": "1900.0 / 4000.0 req/s at c=32",
    }
    assert targets["REST text / naive (c/b), every modality"]["met"] is True  # 6.3x
    assert targets["one client text: REST p50 - naive p50 (c-b)"]["measured"] == pytest.approx(-0.9)
    assert targets["one client text: REST p50 - naive p50 (c-b)"]["met"] is True
    assert targets["one client text: REST p50 - in-process floor"]["measured"] == pytest.approx(0.3)
    assert targets["one client text: REST p50 - in-process floor"]["met"] is True
    assert targets["gRPC unary text / REST (d/c)"]["met"] is False  # 1.05x
    assert targets["gRPC unary text / REST (d/c)"]["detail"] == "2000.0 / 1900.0 req/s at c=32"
    assert targets["ClassifyStream text / REST (h/c)"]["met"] is True  # 2.1x
    cpu = targets["CPU/request text REST / ceiling (c/a)"]
    assert (cpu["measured"], cpu["goal"], cpu["met"]) == (pytest.approx(2.25), "<= 2.5x", True)
    assert cpu["detail"] == "450.0 / 200.0 us CPU/request at c=32"
    tfs = targets["CPU/request text TF Serving mode gateway / embedded (e/c)"]
    assert (tfs["measured"], tfs["met"]) == (pytest.approx(400 / 450, abs=1e-3), True)  # the gateway's own CPU, not 700
    assert "with the model server 700.0" in str(tfs["detail"])
    # Modalities that were not measured say so instead of passing or failing.
    assert targets["REST image / ceiling (c/a)"]["met"] is None
    assert targets["REST image / ceiling (c/a)"]["detail"] == "not measured"


def test_a_missed_target_prints_missed_and_a_met_one_met(bench: Bench) -> None:
    lines = {line.split("  ")[0].strip(): line for line in targets_table(evaluate(bench)).splitlines()}

    assert " met " in lines["REST text / ceiling (c/a)"]
    assert " missed " in lines["gRPC unary text / REST (d/c)"]
    assert " not measured " in lines["REST image / ceiling (c/a)"]


def test_table_and_bench_json_carry_cpu_per_request(bench: Bench, tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    write_json(bench, evaluate(bench), path, {})
    document = json.loads(path.read_text(encoding="utf-8"))

    rows = {(c["system"], c["concurrency"]): c for c in document["cells"]}
    assert rows[("gateway-rest", 32)]["cpu_per_request_us"] == pytest.approx(450.0, abs=0.1)
    assert rows[("tfserving-rest", 32)]["cpu_per_request_us"] == pytest.approx(700.0, abs=0.1)
    assert rows[("tfserving-rest", 32)]["gateway_cpu_per_request_us"] == pytest.approx(400.0, abs=0.1)
    assert rows[("gateway-stream", 32)]["letter"] == "h"
    rendered = table(bench)
    assert "us/req" in rendered.splitlines()[1]
    stream_row = next(line for line in rendered.splitlines() if "gateway-stream" in line and " 32 " in line)
    assert " 240 " in stream_row


def test_extras_cost_is_against_the_plain_gateway_at_the_same_cell(bench: Bench, tmp_path: Path) -> None:
    costs = {(c.system, c.concurrency): c for c in extra_costs(bench)}

    tracing = costs[("gateway-tracing", 32)]
    assert tracing.cpu_ratio == pytest.approx(540 / 450, rel=1e-3)
    assert (tracing.rps, tracing.base_rps) == (1600.0, 1900.0)
    assert set(costs) == {("gateway-tracing", 1), ("gateway-tracing", 32)}  # only extras, no plain systems
    assert "1.20x" in extras_table(list(costs.values()))
    path = tmp_path / "bench.json"
    write_json(bench, evaluate(bench), path, {})
    extras = json.loads(path.read_text(encoding="utf-8"))["extras"]
    assert {(e["system"], e["concurrency"], e["cpu_ratio"]) for e in extras} == {
        ("gateway-tracing", 1, 1.2),
        ("gateway-tracing", 32, 1.2),
    }


def test_no_extras_says_how_to_add_them() -> None:
    assert "BENCH_EXTRAS" in extras_table([])
