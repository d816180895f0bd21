"""The bench's opt-in extras: the embedded gateway started again with one feature on, so the report can
show what that feature costs per request against the plain gateway (c).

- ``auth``: an API keys file made with ``python -m service.keys add`` (scope ``classify``, a rate limit far
  above what the bench sends, so the quota check runs but never refuses); every request carries
  ``Authorization: Bearer KEY``.
- ``tracing``: OpenTelemetry at 100% sampling (``parentbased_always_on``, the SDK's default), exported over
  OTLP/gRPC to a real receiver on loopback (``loadtest.bench.otlp_sink``), which runs on the load
  generator's core so its work is not counted as the gateway's.
- ``predlog``: the prediction log writing every request (sample rate 1) to a file.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.stack import ProcessGroup, StackError, free_port, python_env, wait_port

EXTRAS = ("auth", "tracing", "predlog")
#: Far above what one pinned gateway core serves: the limiter is consulted on every request, never refuses.
AUTH_RATE = 1_000_000


@dataclass
class Feature:
    """What turns one extra on: the gateway's environment and the headers each request sends."""

    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def chosen(value: str) -> tuple[str, ...]:
    """The extras named in ``BENCH_EXTRAS`` (comma-separated, or ``all``), in their fixed order."""
    names = {v.strip() for v in value.split(",") if v.strip()}
    if "all" in names:
        return EXTRAS
    unknown = names - set(EXTRAS)
    if unknown:
        raise ValueError(f"BENCH_EXTRAS: unknown {sorted(unknown)}; choose from {', '.join(EXTRAS)} or all")
    return tuple(e for e in EXTRAS if e in names)


def prepare(name: str, folder: Path, sinks: ProcessGroup, sink_cpus: set[int] | None) -> Feature:
    """Make what extra ``name`` needs under ``folder``; a receiver it needs is started in ``sinks``."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "auth":
        keys = folder / "keys.json"
        keys.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "service.keys", "add", "--file", str(keys), "--name", "bench"]
        argv += ["--scope", "classify", "--rate", str(AUTH_RATE)]
        done = subprocess.run(argv, env=python_env(), capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise StackError(f"python -m service.keys add failed: {done.stderr.strip()}")
        key = done.stdout.strip().splitlines()[-1]
        return Feature({"CLASSIFIER_AUTH__KEYS_FILE": str(keys)}, {"Authorization": f"Bearer {key}"})
    if name == "tracing":
        port = free_port()
        sink = sinks.start(
            "otlp-sink",
            [sys.executable, "-m", "loadtest.bench.otlp_sink", "--port", str(port)],
            cpus=sink_cpus,
            grpc_target=f"127.0.0.1:{port}",
        )
        wait_port(sink, port, timeout_s=60)
        env = {
            "CLASSIFIER_TRACING__ENABLED": "true",
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_SERVICE_NAME": "classifier-bench",
        }
        return Feature(env)
    if name == "predlog":
        log = folder / "predictions.jsonl"
        for old in folder.glob("predictions.jsonl*"):
            old.unlink()
        return Feature({"CLASSIFIER_PREDICTION_LOG__PATH": str(log), "CLASSIFIER_PREDICTION_LOG__SAMPLE_RATE": "1"})
    raise ValueError(f"unknown extra {name!r}")
