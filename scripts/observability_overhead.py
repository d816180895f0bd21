"""Gateway CPU per request with the observability features off and on: anyone can rerun it, it is not a test.

Starts ``python -m service`` (REST only, one model) once per configuration, sends sequential keep-alive
requests of one short text, and reads the gateway process's CPU time (user + system, psutil) around them:

- ``base``: a tree given with ``--base-tree`` (e.g. ``git archive <commit> | tar -x -C DIR``), everything off;
- ``off``: this tree, tracing and the prediction log off (request ids, confidence and drift metrics on);
- ``predlog``: the prediction log on, every request sampled, raw inputs stored;
- ``tracing``: tracing on, 100% sampling, exported over OTLP/gRPC to a receiver in this script.

Rounds alternate the configurations so that machine noise spreads over all of them; the median is shown.

    .venv/bin/python scripts/observability_overhead.py --models-dir models --model spam --base-tree /tmp/base
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"REST listening on (http://[^\s\"]+)")


class _Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0

    def Export(self, request: Any, _context: Any) -> Any:
        self.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


def _run(tree: Path, env: dict[str, str], text: str, model: str, requests: int, warmup: int) -> tuple[float, float]:
    """CPU microseconds and wall microseconds per request of one gateway run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            if match := _LISTENING.search(line):
                url = match.group(1)
                break
        assert url, "the gateway did not start"
        # Keep reading its log so that a full pipe never stalls it.
        threading.Thread(target=lambda: [None for _ in process.stderr or ()], daemon=True).start()
        body = {"instances": [{"text": text}]}
        with httpx.Client(base_url=url, timeout=60) as client:
            while client.get("/readyz").status_code != 200:
                time.sleep(0.1)
            for _ in range(warmup):
                client.post(f"/v1/models/{model}:classify", json=body).raise_for_status()
            gateway = psutil.Process(process.pid)
            cpu0, wall0 = sum(gateway.cpu_times()[:2]), time.perf_counter()
            for _ in range(requests):
                client.post(f"/v1/models/{model}:classify", json=body).raise_for_status()
            cpu1, wall1 = sum(gateway.cpu_times()[:2]), time.perf_counter()
        return (cpu1 - cpu0) / requests * 1e6, (wall1 - wall0) / requests * 1e6
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--model", required=True, help="a text model")
    parser.add_argument("--text", default="win a free prize now, reply to claim your reward")
    parser.add_argument("--base-tree", type=Path, help="the tree of the base commit (optional)")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    receiver = _Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    scratch = Path(tempfile.mkdtemp(prefix="observability-overhead-"))
    common = {key: value for key, value in os.environ.items() if not key.startswith(("CLASSIFIER_", "OTEL_"))}
    common |= {
        "CLASSIFIER_MODELS_DIR": str(args.models_dir.resolve()),
        "CLASSIFIER_MODELS": f'["{args.model}"]',
        "CLASSIFIER_PORT": "0",
        "CLASSIFIER_GRPC_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    configs: dict[str, tuple[Path, dict[str, str]]] = {}
    if args.base_tree:
        configs["base"] = (args.base_tree, common | {"PYTHONPATH": str(args.base_tree)})
    here = common | {"PYTHONPATH": str(ROOT)}
    configs["off"] = (ROOT, here)
    configs["predlog"] = (
        ROOT,
        here
        | {
            "CLASSIFIER_PREDICTION_LOG__PATH": str(scratch / "predictions.jsonl"),
            "CLASSIFIER_PREDICTION_LOG__RAW_INPUTS": "true",
        },
    )
    configs["tracing"] = (
        ROOT,
        here
        | {
            "CLASSIFIER_TRACING__ENABLED": "true",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}",
        },
    )
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    for round_ in range(args.rounds):
        for name, (tree, env) in configs.items():
            results[name].append(_run(tree, env, args.text, args.model, args.requests, args.warmup))
            cpu, wall = results[name][-1]
            print(f"round {round_ + 1} {name:<8} CPU {cpu:8.0f} us/request  wall {wall:8.0f} us/request", flush=True)
    server.stop(None)
    reference = statistics.median(cpu for cpu, _ in results["base" if args.base_tree else "off"])
    print(f"\nmedian of {args.rounds} rounds, {args.requests} requests each (spans received: {receiver.spans})")
    for name, runs in results.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(
            f"{name:<8} CPU {cpu:8.0f} us/request ({(cpu / reference - 1) * 100:+5.1f}%)  wall {wall:8.0f} us/request"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
