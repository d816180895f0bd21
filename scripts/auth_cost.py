"""What authentication costs per request: the check alone, and the gateway's CPU per request with it off and on.

    .venv/bin/python scripts/auth_cost.py --models-dir models --model spam

1. ``AccessControl.check`` in a loop (header split, dict lookup, SHA-256, compare_digest, token bucket).
2. ``AuthMiddleware`` in front of an empty ASGI app, against the empty app alone.
3. A real gateway process (``python -m service``) answering ``POST /v1/models/NAME:classify`` with auth off,
   then on: its CPU seconds (utime + stime from /proc) per request, over the same sequential requests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from service.auth import cli
from service.auth.access import AccessControl
from service.rest.auth import AuthMiddleware

ROOT = Path(__file__).resolve().parents[1]


def new_key(keys_file: Path) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["add", "--file", str(keys_file), "--name", "bench", "--scope", "classify", "--rate", "1e9"])
    return out.getvalue().strip().splitlines()[-1]


def check_cost(keys_file: Path, key: str, n: int) -> float:
    access = AccessControl(keys_file, poll_interval_s=2)
    header = f"Bearer {key}"
    started = time.perf_counter()
    for _ in range(n):
        access.check(header, "classify")
    return (time.perf_counter() - started) / n * 1e6


async def middleware_cost(keys_file: Path, key: str, n: int) -> tuple[float, float]:
    async def empty(_scope: Any, _receive: Any, _send: Any) -> None:
        return None

    guarded = AuthMiddleware(empty, access=AccessControl(keys_file, poll_interval_s=2), open_paths=())
    scope = {
        "type": "http",
        "path": "/v1/models/spam:classify",
        "headers": [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())],
    }

    async def timed(app: Any) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), None, None)
        return (time.perf_counter() - started) / n * 1e6

    return await timed(empty), await timed(guarded)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_cpu_per_request(models_dir: Path, model: str, keys_file: Path | None, key: str, n: int) -> float:
    port = free_port()
    env = {
        **os.environ,
        "CLASSIFIER_MODELS_DIR": str(models_dir),
        "CLASSIFIER_MODELS": f'["{model}"]',
        "CLASSIFIER_PORT": str(port),
        "CLASSIFIER_GRPC_ENABLED": "false",
        "CLASSIFIER_LOG_LEVEL": "warning",
    }
    if keys_file is not None:
        env["CLASSIFIER_AUTH__KEYS_FILE"] = str(keys_file)
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=env)
    try:
        headers = {"Authorization": f"Bearer {key}"} if keys_file is not None else {}
        body = {"instances": [{"text": "WIN a FREE prize now, click here"}], "top_k": 1}
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("gateway not ready")
                time.sleep(0.2)
            for _ in range(200):  # warm up
                assert client.post(f"/v1/models/{model}:classify", json=body, headers=headers).status_code == 200
            before = cpu_seconds(process.pid)
            for _ in range(n):
                client.post(f"/v1/models/{model}:classify", json=body, headers=headers)
            return (cpu_seconds(process.pid) - before) / n * 1e6
    finally:
        process.terminate()
        process.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="spam")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.json"
        key = new_key(keys_file)
        print(f"AccessControl.check:        {check_cost(keys_file, key, 200_000):6.2f} µs per request")
        bare, guarded = asyncio.run(middleware_cost(keys_file, key, 200_000))
        print(f"AuthMiddleware (ASGI):      {guarded - bare:6.2f} µs per request ({bare:.2f} → {guarded:.2f})")
        off = gateway_cpu_per_request(args.models_dir, args.model, None, key, args.requests)
        on = gateway_cpu_per_request(args.models_dir, args.model, keys_file, key, args.requests)
        print(
            f"gateway CPU per classify:   auth off {off:7.1f} µs, on {on:7.1f} µs ({on - off:+.1f} µs,"
            f" {args.requests} sequential requests)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
