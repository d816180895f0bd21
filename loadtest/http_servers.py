"""HTTP server comparison: the bench's ceiling app under uvicorn (httptools, uvloop) and under granian.

    python -m loadtest.http_servers [--rounds 3] [--seconds 5] [--connections 32]

Both servers serve ``loadtest.bench.ceiling_app`` (FastAPI + pydantic, parse only: the request path
without the gateway's work) and run at once, pinned to core 0; ``wrk`` (core 1) posts the bench's text
JSON body to one of them at a time, alternating uvicorn, granian, uvicorn, ... so drift on a shared
machine hits both alike. For every run it prints req/s and the server's CPU per request (user + system
time of the server's process tree over the run / requests), then the medians. granian is not a
dependency of the project: install it to reproduce (``pip install granian==2.5.0``). Needs ``wrk`` and
two cores; run it under the bench lock on a shared machine (``flock /tmp/bench.lock ...``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from loadtest.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
APP = "loadtest.bench.ceiling_app:create_app"
BODY = '{"instances": [{"text": "WIN a FREE prize now, click here to claim your reward"}]}'
SERVER_CORE, GENERATOR_CORE = 0, 1


def server_commands(port: int) -> dict[str, list[str]]:
    """The command line of each server: one process, one event loop (uvloop), HTTP/1.1, no access log."""
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", APP, "--port", str(port)]
    uvicorn += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    granian = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--port", str(port + 1)]
    granian += ["--workers", "1", "--runtime-threads", "1", "--runtime-mode", "st", "--loop", "uvloop"]
    granian += ["--http", "1", "--no-ws", "--no-access-log", "--log-level", "warning", APP]
    return {"uvicorn": uvicorn, "granian": granian}


@dataclass
class Run:
    """One wrk run against one server."""

    server: str
    requests: int
    seconds: float
    cpu_s: float

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU time per request, microseconds."""
        return self.cpu_s / self.requests * 1e6


def tree_cpu(process: psutil.Process) -> float:
    """User + system seconds of a process and its children (granian serves from a child process)."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def wait_serving(url: str, timeout_s: float = 60) -> None:
    """Until a classify POST answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            headers = {"Content-Type": "application/json"}
            if httpx.post(url, content=BODY, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} not serving after {timeout_s}s")
        time.sleep(0.1)


def wrk(url: str, script: Path, connections: int, seconds: float) -> int:
    """Requests wrk completed (non-2xx or socket errors end the comparison)."""
    command = ["taskset", "-c", str(GENERATOR_CORE), "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s"]
    output = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"wrk saw errors:\n{output}")
    match = re.search(r"(\d+) requests in", output)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    """Start both servers, alternate wrk runs, print each run and the medians."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per server, alternating")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores: servers on core 0, wrk on core 1")
    port = free_port()
    commands = server_commands(port)
    urls = {"uvicorn": f"http://127.0.0.1:{port}", "granian": f"http://127.0.0.1:{port + 1}"}
    path = "/v1/models/spam:classify"
    processes: dict[str, psutil.Popen] = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{BODY}'\nwrk.headers['Content-Type'] = 'application/json'\n"
        )
        try:
            for name, command in commands.items():
                processes[name] = psutil.Popen(
                    ["taskset", "-c", str(SERVER_CORE), *command], cwd=ROOT, stderr=subprocess.DEVNULL
                )
            for url in urls.values():
                wait_serving(url + path)
                wrk(url + path, script, args.connections, 1.0)  # warm-up
            runs: list[Run] = []
            for _ in range(args.rounds):
                for name, url in urls.items():
                    before, started = tree_cpu(processes[name]), time.perf_counter()
                    done = wrk(url + path, script, args.connections, args.seconds)
                    run = Run(name, done, time.perf_counter() - started, tree_cpu(processes[name]) - before)
                    runs.append(run)
                    print(f"{name:8} {run.rps:8.0f} req/s  {run.cpu_us:6.0f} us CPU/request", flush=True)
        finally:
            for process in processes.values():
                for child in process.children(recursive=True):
                    child.terminate()
                process.terminate()
                process.wait(timeout=30)
    print(f"\nmedians over {args.rounds} runs each, {args.connections} connections, {args.seconds:g}s per run:")
    for name in commands:
        mine = [r for r in runs if r.server == name]
        rps = statistics.median(r.rps for r in mine)
        cpu = statistics.median(r.cpu_us for r in mine)
        print(f"{name:8} {rps:8.0f} req/s  {cpu:6.0f} us CPU/request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
