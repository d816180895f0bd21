"""Scenarios of the TF Serving topology under steady load: the model server stopped, frozen or killed, and a
version rolled out; each prints its figures and exits non-zero when its promise (RELIABILITY.md) is not kept.

    python -m loadtest.backend_scenarios stopped   # SIGTERM the model server, start it again
    python -m loadtest.backend_scenarios frozen    # SIGSTOP it for a while, then SIGCONT
    python -m loadtest.backend_scenarios killed    # SIGKILL it, start it again
    python -m loadtest.backend_scenarios rollout   # copy version 2 in under load, then remove version 1

The gateway (``python -m service``, REST only) talks to the project's TF-Serving-compatible model server
(``python -m service.modelserver``), both real processes on loopback over the tiny models of
``training.testing``. An open-loop generator sends ``BACKEND_RATE`` requests per second (default 20)
with a 10 s deadline each, and ``/readyz`` is polled every 0.1 s. The promise: while the backend is away,
every request gets an answer (200, or 503 with a generic detail: no address, path or trace), the 503s
come at once rather than at the deadline, ``/readyz`` says not ready and then ready again, and the gateway
answers 200 again within a few seconds of the backend's return. A rollout fails no request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from loadtest.scenarios import _free_port, _response, gateway, mixed_requests, request
from service.tfserving_wire import GET_MODEL_STATUS_METHOD
from service.tfserving_wire.get_model_status_pb2 import (
    GetModelStatusRequest,
    GetModelStatusResponse,
    ModelVersionStatus,
)

#: Requests per second of the steady load (a fraction of the gateway's capacity on a shared 2-core machine).
RATE = float(os.environ.get("BACKEND_RATE", "20"))
#: The deadline each request carries.
DEADLINE_S = 10.0
#: A non-200 answer slower than this waited for a backend that was not there (half the deadline: on a
#: shared 2-core machine a prompt 503 still takes a second or two when the load average is high).
PROMPT_S = DEADLINE_S / 2
#: The gateway must answer 200 again this soon after the backend is back.
RECOVERY_S = 10.0
#: Text that no public answer may carry: loopback addresses, ports, file paths, traces, gRPC internals.
LEAK = re.compile(r"127\.0\.0\.1|localhost|:\d{4,5}\b|/tmp/|/work/|Traceback|grpc|ipv4:|\.py\b", re.IGNORECASE)


@dataclass
class Answer:
    """One request of the steady load."""

    sent: float  # seconds since the load began
    status: int  # 599: the connection failed or no answer came
    seconds: float
    version: int | None = None
    body: bytes = b""


@dataclass
class Timeline:
    """Everything the load and the readiness poller saw, in seconds since the load began."""

    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    ready: list[tuple[float, int]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, name: str) -> None:
        self.marks[name] = self.now()
        print(f"  {self.marks[name]:6.2f}s {name}", flush=True)


class Pool:
    """Keep-alive connections to the gateway; an answer's status and body (599 when the connection failed)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, raw: bytes, timeout_s: float) -> tuple[int, bytes]:
        while self.idle:
            reader, writer = self.idle.pop()
            answer = await self._exchange(reader, writer, raw, timeout_s)
            if answer[0] != 599:
                return answer
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return 599, b""
        return await self._exchange(reader, writer, raw, timeout_s)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes, timeout_s: float
    ) -> tuple[int, bytes]:
        try:
            writer.write(raw)
            answer = await asyncio.wait_for(_response(reader), timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            writer.close()
            return 599, b""
        self.idle.append((reader, writer))
        return answer

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def load_requests() -> list[bytes]:
    """Text and image requests of the tiny models with a ``DEADLINE_S`` deadline (prepared before any timing:
    building them imports TensorFlow)."""
    requests = [r for r in mixed_requests() if b"tiny-text" in r[:64] or b"tiny-image" in r[:64]]
    return [r.replace(b"X-Request-Timeout: 30", f"X-Request-Timeout: {DEADLINE_S:g}".encode()) for r in requests]


async def steady_load(port: int, requests: list[bytes], timeline: Timeline, stop: asyncio.Event) -> None:
    """Poisson arrivals at ``RATE`` until ``stop``; waits for every answer."""
    pool = Pool(port)
    tasks: set[asyncio.Task[None]] = set()

    async def one(raw: bytes) -> None:
        sent = timeline.now()
        # The client waits past the deadline: a gateway that hangs shows as a 599 after DEADLINE_S + 5.
        status, body = await pool.send(raw, DEADLINE_S + 5)
        answer = Answer(sent, status, timeline.now() - sent, body=body if status != 200 else b"")
        if status == 200:
            with suppress(ValueError, KeyError):
                answer.version = int(json.loads(body)["version"])
        timeline.answers.append(answer)

    due = time.monotonic()
    while not stop.is_set():
        due += random.expovariate(RATE)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
        if stop.is_set():
            break
        task = asyncio.create_task(one(random.choice(requests)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    pool.close()


async def poll_ready(port: int, timeline: Timeline, stop: asyncio.Event) -> None:
    """``/readyz`` every 0.1 s (599: no answer within 2 s)."""
    while not stop.is_set():
        at = timeline.now()
        try:
            status, _ = await request(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", timeout_s=2)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            status = 599
        timeline.ready.append((at, status))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


# -- the model server --------------------------------------------------------------------------------


class ModelServer:
    """``python -m service.modelserver`` on a fixed loopback port, restartable on the same port."""

    def __init__(self, models: Path, port: int) -> None:
        self.models = models
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            "CLASSIFIER_POLL_INTERVAL_S": "0.5",
            "CLASSIFIER_LOG_LEVEL": "warning",
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        argv = ["-m", "service.modelserver", "--models-dir", str(self.models), "--port", str(self.port)]
        self.process = await asyncio.create_subprocess_exec(sys.executable, *argv, env=env)
        deadline = time.monotonic() + 300
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.returncode is not None:
                    raise SystemExit("the model server did not start") from None
                await asyncio.sleep(0.1)

    async def serving(self, timeout_s: float = 300) -> None:
        """Wait until GetModelStatus says every model of the repository has an AVAILABLE version."""
        names = sorted(p.name for p in self.models.iterdir() if p.is_dir() and not p.name.startswith("."))
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            status = channel.unary_unary(
                GET_MODEL_STATUS_METHOD,
                request_serializer=GetModelStatusRequest.SerializeToString,
                response_deserializer=GetModelStatusResponse.FromString,
            )
            for name in names:
                while True:
                    request = GetModelStatusRequest()
                    request.model_spec.name = name
                    with suppress(grpc.aio.AioRpcError):
                        answer = await status(request, timeout=5)
                        if any(v.state == ModelVersionStatus.AVAILABLE for v in answer.model_version_status):
                            break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the model server did not serve {name} within {timeout_s:.0f}s")
                    await asyncio.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self) -> None:
        assert self.process is not None
        await self.process.wait()

    async def stop(self) -> None:
        """Whatever its state (frozen too): SIGCONT, SIGTERM, SIGKILL after 30 s."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


@asynccontextmanager
async def tfserving_stack(models: Path, **env: str) -> AsyncIterator[tuple[ModelServer, int]]:
    """A model server and a ready gateway in TF Serving mode: (model server, gateway REST port)."""
    server = ModelServer(models, _free_port())
    await server.start()
    try:
        variables = {
            "CLASSIFIER_BACKEND": "tfserving",
            "CLASSIFIER_TFSERVING_TARGET": f"127.0.0.1:{server.port}",
            "CLASSIFIER_POLL_INTERVAL_S": "0.5",
            **env,
        }
        async with gateway(models, **variables) as gw:
            yield server, gw.port
    finally:
        await server.stop()


async def under_load(
    port: int,
    requests: list[bytes],
    fault: Callable[[Timeline], Coroutine[Any, Any, None]],
    *,
    settle_s: float = 10.0,
) -> Timeline:
    """Steady load and the readiness poller; ``fault`` after 5 s; ``settle_s`` more after it returns."""
    timeline = Timeline()
    stop = asyncio.Event()
    load = asyncio.create_task(steady_load(port, requests, timeline, stop))
    poller = asyncio.create_task(poll_ready(port, timeline, stop))
    try:
        await asyncio.sleep(5)
        await fault(timeline)
        await asyncio.sleep(settle_s)
    finally:
        stop.set()
        await asyncio.gather(load, poller)
    timeline.mark("load stopped")
    return timeline


# -- figures -----------------------------------------------------------------------------------------


def _quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def outage_figures(name: str, timeline: Timeline, down: float, back: float) -> bool:
    """Print what the load and ``/readyz`` saw around an outage from ``down`` to ``back``; True: promise kept."""
    answers = timeline.answers
    statuses = Counter(a.status for a in answers)
    print(f"{name}: {len(answers)} requests at {RATE:g}/s; statuses {dict(sorted(statuses.items()))}")
    during = [a for a in answers if down <= a.sent < back]
    refused = [a.seconds for a in during if a.status == 503]
    slow = [a for a in during if a.status != 200 and a.seconds > PROMPT_S]
    if refused:
        print(
            f"  503 while the backend was away: {len(refused)}; answered in"
            f" p50 {_quantile(refused, 0.5) * 1000:.0f} ms, p99 {_quantile(refused, 0.99) * 1000:.0f} ms,"
            f" max {max(refused) * 1000:.0f} ms"
        )
    served = [a.seconds for a in answers if a.status == 200]
    p50, p99 = _quantile(served, 0.5) * 1000, _quantile(served, 0.99) * 1000
    longest_served = max((a.seconds for a in during if a.status == 200), default=0.0)
    print(f"  200 (for scale: the machine's noise): p50 {p50:.0f} ms, p99 {p99:.0f} ms;", end="")
    print(f" longest 200 sent while the backend was away {longest_served:.1f}s")
    by_status = Counter(a.status for a in slow)
    longest = max((a.seconds for a in slow), default=0.0)
    print(f"  non-200 answers slower than {PROMPT_S:g}s: {len(slow)} {dict(by_status)} (longest {longest:.1f}s)")
    not_ready = next((t for t, s in timeline.ready if t >= down and s != 200), None)
    ready_again = next((t for t, s in timeline.ready if t >= back and s == 200), None)
    ready_text = "never" if not_ready is None else f"{not_ready - down:.2f}s after the fault"
    again_text = "never" if ready_again is None else f"{ready_again - back:.2f}s after the backend returned"
    print(f"  /readyz: not ready {ready_text}; ready again {again_text}")
    failed_after = [a.sent for a in answers if a.sent >= back and a.status != 200]
    recovered = max(failed_after, default=back) - back
    print(f"  recovery: every request sent later than {recovered:.2f}s after the backend returned got 200")
    # 429 is admission refusing work whose expected wait passes its deadline: an answer, not a loss.
    lost = [a for a in answers if a.status not in (200, 429, 503)]
    print(f"  lost (no answer, 5xx other than 503, 4xx but 429): {len(lost)} {dict(Counter(a.status for a in lost))}")
    leaks = [a.body for a in answers if a.status != 200 and LEAK.search(a.body.decode("utf-8", "replace"))]
    details = {json.loads(a.body).get("detail", "") for a in answers if a.status == 503 and a.body.startswith(b"{")}
    print(f"  503 details: {sorted(details)[:3]}; answers naming internals: {len(leaks)}")
    for body in leaks[:3]:
        print(f"    {body[:300]!r}")
    kept = not lost and not leaks and ready_again is not None and recovered <= RECOVERY_S
    return kept and not_ready is not None and not slow


# -- scenarios ---------------------------------------------------------------------------------------

#: How long the backend stays away.
OUTAGE_S = 8.0


async def restart(server: ModelServer, timeline: Timeline) -> None:
    """Start the stopped model server again and mark when it listens and when it serves every model."""
    timeline.mark("starting the model server again")
    await server.start()
    timeline.mark("model server listens")
    await server.serving()
    timeline.mark("model server serves every model")


async def stopped(models: Path, requests: list[bytes]) -> bool:
    """SIGTERM the model server (it stops gracefully), start it again on the same port after OUTAGE_S."""
    async with tfserving_stack(models) as (server, port):

        async def fault(timeline: Timeline) -> None:
            timeline.mark("SIGTERM to the model server")
            server.signal(signal.SIGTERM)
            await server.wait()
            timeline.mark("model server exited")
            await asyncio.sleep(OUTAGE_S)
            await restart(server, timeline)

        timeline = await under_load(port, requests, fault)
    return outage_figures(
        "backend stopped",
        timeline,
        timeline.marks["SIGTERM to the model server"],
        timeline.marks["model server serves every model"],
    )


async def frozen(models: Path, requests: list[bytes]) -> bool:
    """SIGSTOP the model server for OUTAGE_S (connections stay open, nothing answers), then SIGCONT."""
    async with tfserving_stack(models) as (server, port):

        async def fault(timeline: Timeline) -> None:
            timeline.mark("SIGSTOP to the model server")
            server.signal(signal.SIGSTOP)
            await asyncio.sleep(OUTAGE_S)
            timeline.mark("SIGCONT to the model server")
            server.signal(signal.SIGCONT)

        timeline = await under_load(port, requests, fault)
    return outage_figures(
        "backend frozen",
        timeline,
        timeline.marks["SIGSTOP to the model server"],
        timeline.marks["SIGCONT to the model server"],
    )


async def killed(models: Path, requests: list[bytes]) -> bool:
    """SIGKILL the model server (connections reset, calls in flight lost), start it again after OUTAGE_S."""
    async with tfserving_stack(models) as (server, port):

        async def fault(timeline: Timeline) -> None:
            timeline.mark("SIGKILL to the model server")
            server.signal(signal.SIGKILL)
            await server.wait()
            await asyncio.sleep(OUTAGE_S)
            await restart(server, timeline)

        timeline = await under_load(port, requests, fault)
    return outage_figures(
        "backend killed",
        timeline,
        timeline.marks["SIGKILL to the model server"],
        timeline.marks["model server serves every model"],
    )


async def rollout(models: Path, requests: list[bytes]) -> bool:
    """Copy version 2 of every model in (hidden name, then rename), wait, then remove version 1."""
    async with tfserving_stack(models) as (_server, port):

        async def fault(timeline: Timeline) -> None:
            names = [p.name for p in models.iterdir() if (p / "1").is_dir()]
            for name in names:
                staging = models / name / ".incoming-2"
                await asyncio.to_thread(shutil.copytree, models / name / "1", staging)
                staging.rename(models / name / "2")
            timeline.mark(f"version 2 of {len(names)} models copied in")
            await asyncio.sleep(8)
            for name in names:
                await asyncio.to_thread(shutil.rmtree, models / name / "1")
            timeline.mark("version 1 removed")

        timeline = await under_load(port, requests, fault)
    answers = timeline.answers
    statuses = Counter(a.status for a in answers)
    print(f"rollout: {len(answers)} requests at {RATE:g}/s; statuses {dict(sorted(statuses.items()))}")
    print("  versions that answered, per 2-second window (errors as status:count):")
    for start in range(0, int(timeline.marks["load stopped"]) + 1, 2):
        window = [a for a in answers if start <= a.sent < start + 2]
        versions = Counter(f"v{a.version}" for a in window if a.status == 200)
        failed = Counter(str(a.status) for a in window if a.status != 200)
        events = [name for name, t in timeline.marks.items() if start <= t < start + 2]
        print(f"    {start:3d}-{start + 2:3d}s {dict(sorted(versions.items()))} {dict(failed)} {' '.join(events)}")
    errors = [a for a in answers if a.status != 200]
    for answer in errors[:3]:
        print(f"    e.g. {answer.status}: {answer.body[:200]!r}")
    last = [a.version for a in answers if a.sent > timeline.marks["version 1 removed"] + 2 and a.status == 200]
    print(f"  errors {len(errors)}; after the removal only version 2 answered: {set(last) == {2}}")
    return not errors and set(last) == {2}


SCENARIOS = {"stopped": stopped, "frozen": frozen, "killed": killed, "rollout": rollout}


def main() -> int:
    """Run the named scenarios (all by default); exit 1 when one of them did not keep its promise."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.backend_scenarios")
    parser.add_argument("scenarios", nargs="*", help=f"some of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--models", type=Path, help="model repository to copy (default: tiny models, built now)")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    failed = []
    requests = load_requests()
    with tempfile.TemporaryDirectory() as scratch:
        source = args.models
        if source is None:
            from training.testing import build_tiny_models

            source = Path(scratch) / "source"
            build_tiny_models(source)
        for name in args.scenarios or list(SCENARIOS):
            # A fresh copy each: the rollout changes the repository.
            models = Path(scratch) / name
            shutil.copytree(source, models)
            kept = asyncio.run(SCENARIOS[name](models, requests))
            print(f"{name}: {'PASS' if kept else 'FAIL'}", flush=True)
            if not kept:
                failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
