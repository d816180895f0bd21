"""``python -m loadtest.bench`` (``make bench``): measure, print the table and the targets, write the files.

Settings come from ``BENCH_*`` environment variables (see ``BenchConfig.from_env``); ``BENCH_QUICK=1``
is a smoke run of a few seconds per system. Writes ``results/bench/bench.json`` and ``bench.png``.
Exit status 0 once the files are written, whatever the targets say (they are figures, not tests);
1 when a system could not be started or measured.
"""

from __future__ import annotations

import os
import sys
import time

from loadtest.bench.report import (
    evaluate,
    extra_costs,
    extras_table,
    headroom,
    table,
    targets_table,
    write_chart,
    write_json,
)
from loadtest.bench.runner import Bench, BenchConfig
from loadtest.stack import StackError, interrupts_as_exit


def main() -> int:
    """Run the bench described by the environment."""
    try:
        config = BenchConfig.from_env()
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    load_before = os.getloadavg()
    bench = Bench(config, log=lambda line: print(line, flush=True))
    workers = f"; {config.workers} gateway workers" if config.workers > 1 else ""
    print(
        f"bench: systems {', '.join(config.systems)}; modalities {', '.join(config.modalities)};"
        f" concurrency {config.levels}; {config.cell_s:g}s per cell after {config.warmup_s:g}s warm-up;"
        f" load average before {load_before[0]:.2f}{workers}",
        flush=True,
    )
    try:
        with interrupts_as_exit():
            bench.run()
    except (StackError, RuntimeError, OSError, ValueError) as exc:
        print(f"bench: failed: {exc}", file=sys.stderr)
        return 1
    load_after = os.getloadavg()
    targets = evaluate(bench)
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
        "gateway_workers": config.workers,
    }
    json_path = config.out_dir / "bench.json"
    chart_path = config.out_dir / "bench.png"
    write_json(bench, targets, json_path, meta)
    write_chart(bench, chart_path)
    print()
    print(f"placement: {bench.placement.describe()}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(headroom(bench))
    print()
    print(table(bench))
    print()
    print(targets_table(targets))
    costs = extra_costs(bench)
    if costs:
        print()
        print(extras_table(costs))
    print(f"\nbench: {json_path} and {chart_path} ({meta['wall_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
