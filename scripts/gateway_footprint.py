"""Start-up time and resident memory of the gateway process, in TF Serving mode against embedded mode.

    python scripts/gateway_footprint.py --models-dir models [--requests 30] [--runs 2] [--modes tfserving]

For each mode, starts ``python -m service`` as a fresh process on free loopback ports and measures the
seconds until ``/healthz`` answers (the process serves) and until ``/readyz`` answers 200 (every model
classified its self-check sample), then sends ``--requests`` classify calls per model and reads the
process's resident memory (VmRSS) and peak (VmHWM) from /proc. TF Serving mode needs a TF Serving: the
script starts the local model server (``python -m service.modelserver``) first and does not count it;
its own memory is printed apart. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from features.contract import newest_version_dir, read_spec
from service.core.selfcheck import sample_input
from service.errors import ServiceError
from service.tfserving_config import discover_models

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Footprint:
    """What one gateway start measured."""

    mode: str
    serving_s: float
    ready_s: float
    rss_ready_mib: float
    rss_after_mib: float
    peak_mib: float


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Seconds until ``check()`` is true; fails if the process exits first."""
    started = time.perf_counter()
    while not check():
        if process.poll() is not None:
            raise SystemExit(f"process exited with {process.returncode}")
        if time.perf_counter() - started > timeout_s:
            raise SystemExit(f"not done within {timeout_s}s")
        time.sleep(0.02)
    return time.perf_counter() - started


def answers(url: str, status: int) -> bool:
    """Whether GET ``url`` answers ``status`` now."""
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.HTTPError:
        return False


def wait_model_server(port: int, names: list[str], process: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    """Until the model server reports an AVAILABLE version of every model (so it is not timed with the gateway)."""
    from service.backends.tfserving.backend import TFServingBackend
    from service.metrics import Metrics
    from service.settings import Settings

    async def available() -> bool:
        backend = TFServingBackend(Settings(tfserving_target=f"127.0.0.1:{port}", models=names), Metrics())
        await backend.start()
        try:
            return all(s.available() for s in await backend.list_models())
        except ServiceError:
            return False
        finally:
            await backend.close()

    wait_for(lambda: asyncio.run(available()), process, timeout_s)


def instances(models_dir: Path) -> dict[str, dict[str, object]]:
    """One JSON classify body per model, from the sample input of its newest version's spec."""
    bodies: dict[str, dict[str, object]] = {}
    for name in discover_models(models_dir):
        spec = read_spec(newest_version_dir(models_dir / name))
        raw = sample_input(spec)
        instance = {"text": raw} if isinstance(raw, str) else {"b64": base64.b64encode(raw).decode()}
        bodies[name] = {"instances": [instance]}
    return bodies


def measure(mode: str, env: dict[str, str], bodies: dict[str, dict[str, object]], requests: int) -> Footprint:
    """Start one gateway process, measure it, stop it."""
    port = free_port()
    env = env | {
        "CLASSIFIER_PORT": str(port),
        "CLASSIFIER_GRPC_PORT": str(free_port()),
        "CLASSIFIER_LOG_LEVEL": "warning",
    }
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: answers(f"{base}/healthz", 200), process, 120)
        serving_s = time.perf_counter() - started
        wait_for(lambda: answers(f"{base}/readyz", 200), process, 300)
        ready_s = time.perf_counter() - started
        rss_ready, _ = memory_mib(process.pid)
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(requests):
                for name, body in bodies.items():
                    response = client.post(f"/v1/models/{name}:classify", json=body)
                    response.raise_for_status()
        rss_after, peak = memory_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return Footprint(mode, serving_s, ready_s, rss_ready, rss_after, peak)


def main(argv: list[str] | None = None) -> int:
    """Measure both modes and print a table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--requests", type=int, default=30, help="classify calls per model after ready")
    parser.add_argument("--runs", type=int, default=1, help="starts per mode")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON too")
    parser.add_argument(
        "--modes", nargs="+", choices=("tfserving", "embedded"), default=["tfserving", "embedded"], help="what to start"
    )
    args = parser.parse_args(argv)
    models_dir = args.models_dir.resolve()
    bodies = instances(models_dir)
    if not bodies:
        raise SystemExit(f"no model in {models_dir}")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
    base_env |= {"TF_CPP_MIN_LOG_LEVEL": "2", "CLASSIFIER_MODELS_DIR": str(models_dir)}

    server_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.modelserver", "--models-dir", str(models_dir), "--port", str(server_port)],
        cwd=ROOT,
        env=base_env,
        stderr=subprocess.DEVNULL,
    )
    results: list[Footprint] = []
    try:
        wait_model_server(server_port, sorted(bodies), server)
        tfserving_env = base_env | {
            "CLASSIFIER_BACKEND": "tfserving",
            "CLASSIFIER_TFSERVING_TARGET": f"127.0.0.1:{server_port}",
        }
        embedded_env = base_env | {"CLASSIFIER_BACKEND": "embedded"}
        envs = {"tfserving": tfserving_env, "embedded": embedded_env}
        for _ in range(args.runs):
            results.extend(measure(mode, envs[mode], bodies, args.requests) for mode in args.modes)
        server_rss, server_peak = memory_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    print(f"gateway footprint, models {sorted(bodies)}, {args.requests} classify calls per model after ready")
    print(f"{'mode':<10} {'serving s':>9} {'ready s':>8} {'RSS ready MiB':>14} {'RSS after MiB':>14} {'peak MiB':>9}")
    for r in results:
        print(
            f"{r.mode:<10} {r.serving_s:>9.2f} {r.ready_s:>8.2f} {r.rss_ready_mib:>14.0f}"
            f" {r.rss_after_mib:>14.0f} {r.peak_mib:>9.0f}"
        )
    print(f"(local model server used by tfserving mode: RSS {server_rss:.0f} MiB, peak {server_peak:.0f} MiB)")
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
