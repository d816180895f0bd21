"""Replays findings 1-3 of issue 10 against a gateway and prints what each costs it.

Per finding: the attack request's status and latency, how long the gateway stayed busy with it
(until its CPU use falls below 10%: work can outlive a 504), the worst ``/healthz`` latency seen
meanwhile (is the process frozen?), and the gateway process's peak and retained RSS (psutil). Either
point it at a running gateway (``--url`` and ``--pid``) or let it start one from a source tree
(``--serve-from DIR``, which runs ``python -m service`` there, so the base commit can be measured
with the same script)::

    python scripts/attack_findings.py --serve-from . --models-dir /work/main/models
    python scripts/attack_findings.py --url http://127.0.0.1:8000 --pid 1234 --text-model spam

Findings: 1 = 100,000 combining marks in one text; 2 = four 25 KB RLE8 BMPs of 6,324 x 6,324 with
``X-Request-Timeout: 5``; 3 = ICOs whose directory says 256 x 256 around a 13,000 x 13,000 PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "hostile"))
from hostile_corpus import ico_wrapping, png_bomb, rle8_bmp

PIPE = asyncio.subprocess.PIPE
_LISTENING = re.compile(r"REST listening on (http://\S+)")
#: Seconds RSS is left to settle before "retained" is read.
SETTLE_S = 5.0
#: Below this CPU share (of one core, sampled over 0.5 s) the gateway counts as done with the attack.
IDLE_CPU_PERCENT = 10.0
#: The longest wait for it.
IDLE_WAIT_S = 300.0


@dataclass
class Figures:
    """What one finding cost the gateway."""

    finding: str
    status: int | str
    latency_s: float
    busy_s: float
    worst_healthz_s: float
    rss_before_mb: float
    rss_peak_mb: float
    rss_retained_mb: float


async def measure(
    client: httpx.AsyncClient, process: psutil.Process, finding: str, path: str, body: bytes, headers: dict[str, str]
) -> Figures:
    """Send one attack request while polling /healthz and the process's RSS every 50 ms."""
    mb = 1024 * 1024
    before = process.memory_info().rss / mb
    peak = before
    worst = 0.0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak, worst
        async with httpx.AsyncClient(base_url=str(client.base_url), timeout=120) as probe:
            while not done.is_set():
                started = time.perf_counter()
                await probe.get("/healthz")
                worst = max(worst, time.perf_counter() - started)
                peak = max(peak, process.memory_info().rss / mb)
                await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    try:
        response = await client.post(path, content=body, headers=headers)
        status: int | str = response.status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    latency = time.perf_counter() - started
    # Keep watching until the process is idle again: decoding may outlive the answer (a 504).
    process.cpu_percent()
    idle_deadline = time.monotonic() + IDLE_WAIT_S
    while time.monotonic() < idle_deadline:
        await asyncio.sleep(0.5)
        if process.cpu_percent() < IDLE_CPU_PERCENT:
            break
    busy = time.perf_counter() - started
    done.set()
    await watcher
    await asyncio.sleep(SETTLE_S)
    retained = process.memory_info().rss / mb
    return Figures(finding, status, latency, busy, worst, before, peak, retained)


def attacks(text_model: str, image_model: str, ico_count: int) -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(finding, path, body, headers) of findings 1-3."""
    import orjson

    text = "a" + "\u0301" * 49_999 + "\u0316" * 50_000
    rle = base64.b64encode(rle8_bmp(6_324, 6_324)).decode()
    ico = base64.b64encode(ico_wrapping(png_bomb(13_000, 13_000))).decode()
    json_type = {"content-type": "application/json"}
    return [
        (
            "1: 100k combining marks",
            f"/v1/models/{text_model}:classify",
            orjson.dumps({"instances": [{"text": text}]}),
            json_type,
        ),
        (
            "2: 4 x RLE8 BMP 6324^2, 5 s deadline",
            f"/v1/models/{image_model}:classify",
            orjson.dumps({"instances": [{"b64": rle}] * 4}),
            {**json_type, "X-Request-Timeout": "5"},
        ),
        (
            f"3: {ico_count} x ICO around a 13000^2 PNG",
            f"/v1/models/{image_model}:classify",
            orjson.dumps({"instances": [{"b64": ico}] * ico_count}),
            json_type,
        ),
    ]


@asynccontextmanager
async def served_from(tree: Path, models_dir: Path, models: list[str]) -> AsyncIterator[tuple[str, int]]:
    """``python -m service`` run from ``tree`` on a free port: yields (url, pid), then stops it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLASSIFIER_")}
    env |= {
        "PYTHONPATH": str(tree),
        "CLASSIFIER_MODELS_DIR": str(models_dir),
        "CLASSIFIER_MODELS": "[" + ",".join(f'"{m}"' for m in models) + "]",
        "CLASSIFIER_PORT": "0",
        "CLASSIFIER_GRPC_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        cwd=tree,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        url = None
        while url is None:
            line = await asyncio.wait_for(process.stderr.readline(), timeout=300)
            if not line:
                raise RuntimeError("the gateway exited before listening")
            match = _LISTENING.search(line.decode(errors="replace"))
            url = match.group(1) if match else None
        drain = asyncio.create_task(_drain(process.stderr))
        yield url, process.pid
        drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def run(args: argparse.Namespace) -> None:
    """Measure every finding asked for and print one row each."""
    if args.serve_from:
        context = served_from(
            Path(args.serve_from).resolve(), Path(args.models_dir), [args.text_model, args.image_model]
        )
    else:
        context = _given(args.url, args.pid)
    async with context as (url, pid), httpx.AsyncClient(base_url=url, timeout=300) as client:
        deadline = time.monotonic() + 300
        while (await client.get("/readyz")).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not become ready")
            await asyncio.sleep(0.5)
        process = psutil.Process(pid)
        print(f"gateway {url} pid {pid}, tree {args.serve_from or '(given)'}")
        rss_title = "RSS MB before/peak/retained"
        columns = f"{'status':>6} {'latency s':>9} {'busy s':>7} {'worst healthz s':>15} {rss_title:>27}"
        print(f"{'finding':40} {columns}")
        for finding, path, body, headers in attacks(args.text_model, args.image_model, args.ico_count):
            if finding[0] not in args.findings:
                continue
            f = await measure(client, process, finding, path, body, headers)
            rss = f"{f.rss_before_mb:.0f}/{f.rss_peak_mb:.0f}/{f.rss_retained_mb:.0f}"
            row = f"{f.status!s:>6} {f.latency_s:9.2f} {f.busy_s:7.1f} {f.worst_healthz_s:15.3f} {rss:>27}"
            print(f"{f.finding:40} {row}", flush=True)


@asynccontextmanager
async def _given(url: str, pid: int) -> AsyncIterator[tuple[str, int]]:
    yield url, pid


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="REST URL of a running gateway")
    parser.add_argument("--pid", type=int, help="process id of that gateway (for RSS)")
    parser.add_argument("--serve-from", help="start `python -m service` from this source tree instead")
    parser.add_argument("--models-dir", default="/work/main/models", help="model repository (with --serve-from)")
    parser.add_argument("--text-model", default="spam")
    parser.add_argument("--image-model", default="digits")
    parser.add_argument("--findings", default="123", help="which findings to replay, e.g. 13")
    parser.add_argument("--ico-count", type=int, default=8, help="ICOs in finding 3's request (each ~0.8 GB decoded)")
    args = parser.parse_args()
    if not args.serve_from and (args.url is None or args.pid is None):
        parser.error("give --url and --pid, or --serve-from")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
