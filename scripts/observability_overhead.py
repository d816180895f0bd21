"""Gateway CPU per request with the observability features off and on: anyone can rerun it, it is not a test.

Every configuration runs at the same time, each a ``python -m service`` (REST only, one text model) pinned
to the same core, each driven by a closed loop of the bench's generator (``loadtest.bench.loadgen``) from
the other core; a window measures all of them at once, and each one's CPU per request is divided by the
reference's of the same window. On a shared machine, CPU per request of one run moves by tens of percent
with the neighbours' load; within a window every configuration sees the same load, so the ratios hold
to a few percent (back-to-back runs of the bench cannot resolve a 5% target there).

- ``base``: a tree given with ``--base-tree`` (e.g. ``git worktree add --detach DIR COMMIT``), all off;
- ``off``: this tree, tracing and the prediction log off (request ids, confidence and drift metrics on);
- ``tracing``: tracing on, 100% sampling, OTLP/gRPC to ``loadtest.bench.otlp_sink`` on the generator's core;
- ``predlog``: the prediction log on, every request;
- ``both``: tracing and the prediction log on.

``--tree NAME=DIR`` adds another tree (an earlier commit of this branch, say), and ``--configs`` picks what
runs: ``CONFIG`` in this tree or ``CONFIG@NAME`` in tree NAME (``base`` is ``off@base``); the first is the
reference of the ratios.

    .venv/bin/python scripts/observability_overhead.py --models-dir models --data data --base-tree /tmp/base
    .venv/bin/python scripts/observability_overhead.py ... --tree before=/tmp/before \\
        --configs base,off,tracing,tracing@before,both,both@before
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest.bench import extras  # noqa: E402  (the repository is made importable just above)
from loadtest.bench.loadgen import CellResult, encode_http_request, run_http  # noqa: E402
from loadtest.samples import json_body, load_samples  # noqa: E402
from loadtest.stack import ProcessGroup, Server, free_port, wait_ready  # noqa: E402

SERVER_CPUS, GENERATOR_CPUS = {1}, {0}
#: The extras each configuration turns on (``loadtest.bench.extras``).
CONFIGS = {"off": (), "tracing": ("tracing",), "predlog": ("predlog",), "both": ("tracing", "predlog")}


def _start(group: ProcessGroup, name: str, tree: Path, models_dir: Path, model: str, env: dict[str, str]) -> Server:
    port = free_port()
    settings = {
        "CLASSIFIER_HOST": "127.0.0.1",
        "CLASSIFIER_PORT": str(port),
        "CLASSIFIER_GRPC_ENABLED": "false",
        "CLASSIFIER_MODELS_DIR": str(models_dir.resolve()),
        "CLASSIFIER_MODELS": f'["{model}"]',
        "PYTHONPATH": str(tree),
    }
    # ``env -C``: the tree is the child's working directory, first on its sys.path under ``-m``.
    argv = ["env", "-C", str(tree), sys.executable, "-m", "service"]
    return group.start(name, argv, env=settings | env, cpus=SERVER_CPUS, rest_url=f"http://127.0.0.1:{port}")


async def _window(
    servers: dict[str, Server], bodies: dict[str, list[bytes]], level: int, seconds: float
) -> dict[str, CellResult]:
    async def one(name: str) -> CellResult:
        server = servers[name]
        port = int((server.rest_url or "").rsplit(":", 1)[1])
        return await run_http(
            "127.0.0.1",
            port,
            bodies[name],
            concurrency=level,
            duration_s=seconds,
            warmup_s=1.0,
            server_cpu=lambda: (server.cpu_seconds(), server.cpu_seconds()),
        )

    results = await asyncio.gather(*(one(name) for name in servers))
    return dict(zip(servers, results, strict=True))


def _batch_totals(server: Server) -> tuple[float, float]:
    """The gateway's ``classifier_batch_size`` sum and count (rows and model calls) so far."""
    with urllib.request.urlopen(f"{server.rest_url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    totals = {"classifier_batch_size_sum": 0.0, "classifier_batch_size_count": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals["classifier_batch_size_sum"], totals["classifier_batch_size_count"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the datasets folder (texts of MODEL)")
    parser.add_argument("--model", default="spam", help="a text model")
    parser.add_argument("--base-tree", type=Path, help="the tree of the base commit (optional)")
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR: another tree (repeatable)")
    parser.add_argument(
        "--configs", help="comma-separated CONFIG or CONFIG@TREE (default: base if given, off, tracing, predlog, both)"
    )
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--levels", default="32,1", help="concurrency per configuration, comma-separated")
    args = parser.parse_args()

    tree_dirs = {"this": ROOT} | ({"base": args.base_tree} if args.base_tree else {})
    tree_dirs |= {name: Path(folder) for name, _, folder in (t.partition("=") for t in args.tree)}
    chosen = args.configs or ",".join((["base"] if args.base_tree else []) + list(CONFIGS))
    trees: dict[str, tuple[Path, tuple[str, ...]]] = {}
    for name in (c.strip() for c in chosen.split(",") if c.strip()):
        config, _, tree = ("off@base" if name == "base" else name).partition("@")
        trees[name] = (tree_dirs[tree or "this"], CONFIGS[config])
    samples = load_samples(args.data / args.model, "text", limit=64)
    scratch = Path(tempfile.mkdtemp(prefix="observability-overhead-"))
    with ExitStack() as stack:
        sinks = stack.enter_context(ProcessGroup(scratch / "logs"))
        group = stack.enter_context(ProcessGroup(scratch / "logs"))
        servers: dict[str, Server] = {}
        for name, (tree, features) in trees.items():
            env: dict[str, str] = {}
            for feature in features:
                env |= extras.prepare(feature, scratch / name / feature, sinks, GENERATOR_CPUS).env
            servers[name] = _start(group, name, tree.resolve(), args.models_dir, args.model, env)
        for server in servers.values():
            wait_ready(server, f"{server.rest_url}/readyz", timeout_s=600)
        os.sched_setaffinity(0, GENERATOR_CPUS)
        path = f"/v1/models/{args.model}:classify"
        bodies = {}
        for name, server in servers.items():
            port = int((server.rest_url or "").rsplit(":", 1)[1])
            bodies[name] = [
                encode_http_request("127.0.0.1", port, path, body.content, body.content_type)
                for body in (json_body(sample, 1) for sample in samples)
            ]
        asyncio.run(_window(servers, bodies, 4, 2.0))  # first calls' one-time costs
        reference = next(iter(servers))
        for level in (int(v) for v in args.levels.split(",")):
            cpu: dict[str, list[float]] = {name: [] for name in servers}
            ratio: dict[str, list[float]] = {name: [] for name in servers}
            answered = dict.fromkeys(servers, 0)
            failed = dict.fromkeys(servers, 0)
            before = {name: _batch_totals(server) for name, server in servers.items()}
            for _ in range(args.windows):
                results = asyncio.run(_window(servers, bodies, level, args.seconds))
                for name, result in results.items():
                    cpu[name].append(result.cpu_per_request_us)
                    ratio[name].append(result.cpu_per_request_us / results[reference].cpu_per_request_us)
                    answered[name] += result.completed
                    failed[name] += result.errors
            after = {name: _batch_totals(server) for name, server in servers.items()}
            print(f"\n{level} clients each, {args.windows} windows of {args.seconds:g} s, all at once on one core")
            print(
                f"{'config':<16} {'CPU us/request':>15} {'ratio to ' + reference:>18} {'requests':>9} {'errors':>6}"
                f" {'rows/call':>9}  ratio per window"
            )
            for name in servers:
                per_window = " ".join(f"{r:.3f}" for r in ratio[name])
                rows, calls = (a - b for a, b in zip(after[name], before[name], strict=True))
                rows_per_call = rows / calls if calls else 0.0
                print(
                    f"{name:<16} {statistics.median(cpu[name]):>15.0f} {statistics.median(ratio[name]):>18.3f}"
                    f" {answered[name]:>9} {failed[name]:>6} {rows_per_call:>9.2f}  {per_window}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
