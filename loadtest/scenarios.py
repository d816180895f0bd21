"""Reliability scenarios against a real gateway process on loopback; each prints its figures and exits
non-zero when its promise (RELIABILITY.md) is not kept.

    python -m loadtest.scenarios overload   # open loop at 5x measured capacity: admitted p99, 429 share and latency
    python -m loadtest.scenarios memory     # concurrent 15 MB bodies, then 31 MB gRPC messages: peak and retained RSS
    python -m loadtest.scenarios sigterm    # a slow-body client, then SIGTERM: time until the process exits
    python -m loadtest.scenarios soak       # mixed traffic at ~70% of capacity: errors, 429s, RSS growth (SOAK_SECONDS)

The gateway serves the tiny real models of ``training.testing`` (built once into a temporary folder).
The load generator speaks HTTP/1.1 over raw asyncio streams with prepared request bytes: a Python HTTP
client costs more CPU per request than the gateway does, and an open-loop generator must report the rate
it actually sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from prometheus_client.parser import text_string_to_metric_families

LATENCY_TARGET_S = 1.0
#: The soak's refusals allowed at 70% of capacity: a stall of the shared machine (a 200 p99 of 327 ms in one
#: CI run, where one request of 15,893 got 429) may be shed, a lane that sheds a backlog may not.
SOAK_REFUSED_SHARE = 0.001


@dataclass
class Gateway:
    """A gateway process and its REST port."""

    process: asyncio.subprocess.Process
    port: int

    def rss_by_process(self) -> str:
        """Each process's resident memory in MB (the gateway first, then its children)."""
        parent = psutil.Process(self.process.pid)
        parts = [parent, *parent.children(recursive=True)]
        return ", ".join(f"{p.pid}: {p.memory_info().rss / 1e6:.0f}" for p in parts)

    @property
    def rss_mb(self) -> float:
        """Resident memory of the process and its children (decode workers), in MB."""
        try:
            parent = psutil.Process(self.process.pid)
            total = parent.memory_info().rss
            children = parent.children(recursive=True)
        except psutil.NoSuchProcess:
            raise SystemExit("the gateway process is gone (killed?)") from None
        for child in children:
            with suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return float(total) / 1e6


def pinned() -> bool:
    """Whether the gateway runs pinned to core 0 and the generator to the other cores (``SCENARIO_PIN=0``
    turns it off): on a shared 2-core machine, an unpinned generator takes the gateway's CPU and the figures
    measure the contention instead of the gateway."""
    return os.environ.get("SCENARIO_PIN", "1") != "0" and len(os.sched_getaffinity(0)) >= 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def gateway(models: Path, **env: str) -> AsyncIterator[Gateway]:
    """``python -m service`` on a free port (REST only), ready; SIGTERM and wait on exit."""
    port = _free_port()
    variables = {
        **os.environ,
        "CLASSIFIER_MODELS_DIR": str(models),
        "CLASSIFIER_PORT": str(port),
        "CLASSIFIER_GRPC_ENABLED": "false",
        "CLASSIFIER_LOG_LEVEL": "warning",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **env,
    }
    argv = [sys.executable, "-m", "service"]
    if pinned():  # the gateway on the first core, this generator on the others (see ``pinned``)
        argv = ["taskset", "-c", "0", *argv]
    process = await asyncio.create_subprocess_exec(*argv, env=variables)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                status, _ = await request(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.returncode is not None:
                raise SystemExit("the gateway did not become ready")
            await asyncio.sleep(0.2)
        yield Gateway(process, port)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()


async def request(port: int, raw: bytes, timeout_s: float = 60) -> tuple[int, bytes]:
    """One request on a fresh connection: its status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        return await asyncio.wait_for(_response(reader), timeout_s)
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


class Connections:
    """Keep-alive connections reused by a generator; a new one when none is idle, at most ``limit`` open.

    The limit is what a client fleet's connection pools (or a load balancer in front) give a server: without
    it an open-loop generator opens a connection for every request in flight, and once answers slow down
    it floods the server's accept queue with thousands of new connections, each retried by the kernel after
    1, 3, 7 s (the scenario then measures SYN retries). A request that finds every connection busy waits
    here, and that wait counts in its latency, so a slow server still shows."""

    def __init__(self, port: int, limit: int | None = None) -> None:
        self.port = port
        self._slots = asyncio.Semaphore(limit) if limit else None
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        #: How long each new connection took to open: a wait the server cannot see (its accept queue, SYN retries).
        self.connect_s: list[float] = []
        #: How long each request waited for a free connection of the pool (all were busy: the server is behind).
        self.pool_wait_s: list[float] = []

    async def send(self, raw: bytes) -> int:
        """The status of ``raw``'s answer (599 when the connection failed)."""
        if self._slots is None:
            return await self._send(raw)
        asked = time.monotonic()
        async with self._slots:
            self.pool_wait_s.append(time.monotonic() - asked)
            return await self._send(raw)

    async def _send(self, raw: bytes) -> int:
        while self.idle:
            # A pooled connection the server closed for idleness fails before any answer: as any HTTP
            # client does, retry such a request on a fresh connection.
            reader, writer = self.idle.pop()
            status = await self._exchange(reader, writer, raw)
            if status != 599:
                return status
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return 599
        self.connect_s.append(time.monotonic() - started)
        return await self._exchange(reader, writer, raw)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
        try:
            writer.write(raw)
            status, _ = await _response(reader)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            return 599
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self.idle:
            writer.close()


def classify_request(model: str, body: dict[str, object], timeout_s: float = 30) -> bytes:
    """A prepared ``:classify`` request."""
    payload = json.dumps(body).encode()
    return (
        f"POST /v1/models/{model}:classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Request-Timeout: {timeout_s}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def mixed_requests() -> list[bytes]:
    """Real samples of every tiny model, as prepared requests."""
    from training.testing import TINY_LABELS, tiny_input

    requests = []
    for model, labels in TINY_LABELS.items():
        for seed, label in enumerate(labels):
            raw = tiny_input(model, label, seed=seed)
            instance = {"text": raw} if isinstance(raw, str) else {"b64": base64.b64encode(raw).decode()}
            requests.append(classify_request(model, {"instances": [instance]}))
    return requests


@dataclass
class Run:
    """What one load run saw."""

    sent: int = 0
    seconds: float = 0.0
    latencies: dict[int, list[float]] = field(default_factory=dict)
    #: The generator's own worst event-loop lateness: past a few tens of ms its latencies are its own.
    generator_lag_s: float = 0.0
    #: Seconds each new connection took to open (see ``Connections.connect_s``).
    connect_s: list[float] = field(default_factory=list)
    #: Seconds each request waited for a free connection (see ``Connections.pool_wait_s``).
    pool_wait_s: list[float] = field(default_factory=list)
    #: (arrival, status, seconds) of every request, for the figures per second of the run.
    timeline: list[tuple[float, int, float]] = field(default_factory=list)

    def add(self, status: int, seconds: float) -> None:
        self.latencies.setdefault(status, []).append(seconds)
        self.timeline.append((time.monotonic() - seconds, status, seconds))

    def per_second(self) -> list[str]:
        """One line per second of arrivals: how many got 200 and 429, and their p99 latencies."""
        if not self.timeline:
            return []
        start = min(arrival for arrival, _, _ in self.timeline)
        seconds: dict[int, dict[int, list[float]]] = {}
        for arrival, status, latency in self.timeline:
            seconds.setdefault(int(arrival - start), {}).setdefault(status, []).append(latency)
        lines = []
        for second, by_status in sorted(seconds.items()):
            parts = []
            for status in (200, 429):
                values = sorted(by_status.get(status, []))
                if values:
                    p99 = values[int(0.99 * (len(values) - 1))]
                    parts.append(f"{status} x {len(values)}, p99 {p99 * 1000:.0f} ms")
            lines.append(f"  second {second:2d}: " + "; ".join(parts))
        return lines

    def count(self, status: int) -> int:
        return len(self.latencies.get(status, []))

    def p(self, status: int, q: float) -> float:
        values = sorted(self.latencies.get(status, []))
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def closed_loop(port: int, requests: list[bytes], clients: int, seconds: float) -> Run:
    """``clients`` senders back to back for ``seconds``."""
    run = Run()
    end = time.monotonic() + seconds

    async def client() -> None:
        pool = Connections(port)
        while time.monotonic() < end:
            started = time.monotonic()
            status = await pool.send(random.choice(requests))
            run.add(status, time.monotonic() - started)
            run.sent += 1
        pool.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds = time.monotonic() - started
    return run


#: Connections an open-loop run may hold open (``SCENARIO_CONNECTIONS``; see ``Connections``).
OPEN_LOOP_CONNECTIONS = int(os.environ.get("SCENARIO_CONNECTIONS", "1536"))


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> Run:
    """Requests at ``rate`` per second (Poisson arrivals) for ``seconds``, whatever the answers take; each
    request's latency counts from its arrival, including any wait for one of the pool's connections."""
    run = Run()
    pool = Connections(port, OPEN_LOOP_CONNECTIONS)
    tasks: set[asyncio.Task[None]] = set()

    async def one(raw: bytes) -> None:
        started = time.monotonic()
        status = await pool.send(raw)
        run.add(status, time.monotonic() - started)

    loop = asyncio.get_running_loop()

    async def watch_lag() -> None:
        # Every late wake-up counts (not the gateway's smoothed ``LoopLag``): one pause of the generator
        # delays every request in flight and every arrival due during it.
        while True:
            due = loop.time() + 0.05
            await asyncio.sleep(0.05)
            run.generator_lag_s = max(run.generator_lag_s, loop.time() - due)

    watcher = asyncio.create_task(watch_lag())
    started = time.monotonic()
    due = started
    while due < started + seconds:
        due += random.expovariate(rate)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(random.choice(requests)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        run.sent += 1
    run.seconds = time.monotonic() - started
    await asyncio.gather(*tasks)
    watcher.cancel()
    pool.close()
    run.connect_s = pool.connect_s
    run.pool_wait_s = pool.pool_wait_s
    return run


def report(name: str, run: Run) -> None:
    statuses = ", ".join(f"{s}: {len(v)}" for s, v in sorted(run.latencies.items()))
    print(f"{name}: sent {run.sent} in {run.seconds:.1f}s = {run.sent / run.seconds:.0f} req/s; statuses {statuses}")
    if run.generator_lag_s:
        print(f"  generator's own event loop up to {run.generator_lag_s * 1000:.0f} ms late")
    if run.count(200):
        print(f"  200: p50 {run.p(200, 0.5) * 1000:.0f} ms, p99 {run.p(200, 0.99) * 1000:.0f} ms")
    if run.count(429):
        print(f"  429: p50 {run.p(429, 0.5) * 1000:.1f} ms, p99 {run.p(429, 0.99) * 1000:.1f} ms")
    if run.connect_s:
        opened = sorted(run.connect_s)
        slow = sum(1 for s in opened if s > 0.5)
        print(
            f"  {len(opened)} connections opened: p50 {opened[len(opened) // 2] * 1000:.1f} ms, "
            f"max {opened[-1] * 1000:.0f} ms, {slow} took over 0.5 s"
        )
    if run.pool_wait_s:
        waits = sorted(run.pool_wait_s)
        print(
            f"  waited for one of the pool's connections: p50 {waits[len(waits) // 2] * 1000:.1f} ms, "
            f"p99 {waits[int(0.99 * (len(waits) - 1))] * 1000:.1f} ms"
        )


async def refusal_reasons(port: int) -> str:
    """The gateway's 429s by reason, from its ``classifier_refused_total`` counter."""
    status, body = await request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    if status != 200:
        return f"/metrics answered {status}"
    reasons: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "classifier_refused_total":
                reason = sample.labels["reason"]
                reasons[reason] = reasons.get(reason, 0.0) + sample.value
    return ", ".join(f"{reason} {count:.0f}" for reason, count in sorted(reasons.items())) or "none"


# -- scenarios -----------------------------------------------------------------------------------------


async def overload(models: Path) -> bool:
    pin = pinned()
    async with gateway(models, CLASSIFIER_ADMISSION__LATENCY_TARGET_S=str(LATENCY_TARGET_S)) as gw:
        if pin:
            # Only now: ``gateway`` pins the gateway to core 0 while this process may still use it. Pinned
            # before (as until the eighth session), this process had one core left, ``gateway`` saw no
            # second core to pin to, and the gateway inherited this generator's core.
            os.sched_setaffinity(0, os.sched_getaffinity(0) - {0})
        # Speech: its decode (log-mel) costs more than HTTP handling, as real models' work does; with a
        # model cheaper than HTTP parsing, refusing costs as much as serving and no admission can help.
        requests = [r for r in mixed_requests() if b"tiny-audio" in r[:64]]
        capacity_run = await closed_loop(gw.port, requests, clients=32, seconds=8)
        capacity = capacity_run.count(200) / capacity_run.seconds
        report("capacity (closed loop, 32 clients)", capacity_run)
        run = await open_loop(gw.port, requests, rate=5 * capacity, seconds=15)
        report(f"open loop at 5x = {5 * capacity:.0f} req/s asked", run)
        print("by second of arrival (the onset, when the generator opens its connections, is the worst):")
        print("\n".join(run.per_second()))
        print(f"refusals by reason: {await refusal_reasons(gw.port)}")
    refused = run.count(429) / max(run.sent, 1)
    other = run.sent - run.count(200) - run.count(429)
    p99 = run.p(200, 0.99)
    print(f"admitted p99 {p99:.3f}s (target {LATENCY_TARGET_S}s); refused share {refused:.0%}; other answers {other}")
    # Goodput: shedding that refuses nearly everything also keeps p99 low; this says how much was served.
    admitted_rate = run.count(200) / max(run.seconds, 1e-9)
    print(f"admitted {admitted_rate:.0f} req/s = {admitted_rate / capacity:.0%} of the measured capacity")
    sent_rate = run.sent / max(run.seconds, 1e-9)
    if sent_rate < 0.9 * 5 * capacity:
        # An open-loop generator that cannot keep its rate measures its own backlog, not the gateway's.
        print(f"the generator sent {sent_rate:.0f} req/s of {5 * capacity:.0f} asked: figures not valid (busy machine)")
    return p99 <= LATENCY_TARGET_S and run.p(429, 0.99) <= 0.05 and other == 0


#: The memory scenario gives up (and kills the gateway) past this RSS: the machine is shared.
MEMORY_ABORT_MB = float(os.environ.get("MEMORY_ABORT_MB", "4000"))
#: gRPC codes that mean no answer came from the gateway (the connection or the process went away).
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)


async def _answer_or_599(port: int, raw: bytes) -> int:
    """The status of ``raw``'s answer; 599 when the connection ended without one."""
    try:
        status, _ = await request(port, raw, timeout_s=120)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        return 599
    return status


async def _spike(gw: Gateway, send: Callable[[], Awaitable[int | str]], concurrent: int, what: str) -> bool:
    """Three rounds of ``concurrent`` ``send`` calls: RSS before (after one ``send`` first, which starts
    the decode workers), at its peak, and 30 s after; the promise is retained growth within 15%."""
    await send()
    await asyncio.sleep(2)
    before = gw.rss_mb
    print(f"before, per process: {gw.rss_by_process()}")
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set() and gw.process.returncode is None:
            with suppress(SystemExit):  # gone: reported below, with how it ended
                peak = max(peak, gw.rss_mb)
            if peak > MEMORY_ABORT_MB:
                print(f"RSS {peak:.0f} MB passed {MEMORY_ABORT_MB:.0f} MB: killing the gateway")
                gw.process.kill()
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    statuses: list[int | str] = []
    for _ in range(3):
        statuses += await asyncio.gather(*(send() for _ in range(concurrent)))
    done.set()
    await sampler
    await asyncio.sleep(30)
    exited = gw.process.returncode
    after = gw.rss_mb if exited is None else float("nan")
    if exited is None:
        print(f"30 s later, per process: {gw.rss_by_process()}")
    counts = ", ".join(f"{s}: {statuses.count(s)}" for s in sorted(set(statuses), key=str))
    print(f"{what}, 3 rounds: answers {counts} (599: closed without answer)")
    if exited is not None:
        print(f"the gateway exited with {exited} (-9: SIGKILL, the kernel's OOM killer or this scenario's limit)")
        return False
    print(f"RSS before {before:.0f} MB, peak {peak:.0f} MB (+{peak - before:.0f}), 30 s later {after:.0f} MB")
    print(f"retained growth {after / before - 1:.0%}")
    return after <= before * 1.15 and 599 not in statuses


async def memory(models: Path) -> bool:
    """Finding 4, REST then gRPC: concurrent big bodies (one gateway each), peak and retained RSS."""
    body = classify_request("tiny-image", {"instances": [{"b64": base64.b64encode(os.urandom(11_000_000)).decode()}]})
    print("REST: 64 concurrent 15 MB JSON bodies (11 MB of random bytes as one image)")
    # A crash in native code prints its Python stack, so a lost gateway says why.
    async with gateway(models, PYTHONFAULTHANDLER="1") as gw:
        rest = await _spike(gw, lambda: _answer_or_599(gw.port, body), 64, "64 concurrent 15 MB bodies")
    print("gRPC: 16 concurrent 31 MB Classify messages (31 MB of random bytes as one image)")
    grpc_port = _free_port()
    environment = {"PYTHONFAULTHANDLER": "1", "CLASSIFIER_GRPC_ENABLED": "true", "CLASSIFIER_GRPC_PORT": str(grpc_port)}
    message = pb.ClassifyRequest(model="tiny-image", inputs=[pb.Input(image=os.urandom(31_000_000))])
    options = [("grpc.max_send_message_length", 64 << 20)]
    async with (
        gateway(models, **environment) as gw,
        grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}", options=options) as channel,
    ):
        classify = pb_grpc.ClassifierStub(channel).Classify  # type: ignore[no-untyped-call]

        async def send() -> int | str:
            try:
                await classify(message, timeout=120)
            except grpc.aio.AioRpcError as error:
                # UNAVAILABLE and friends: the call ended without the gateway's answer.
                return error.code().name if error.code() not in _NO_ANSWER else 599
            return "OK"

        over_grpc = await _spike(gw, send, 16, "16 concurrent 31 MB messages")
    print(f"REST {'PASS' if rest else 'FAIL'}, gRPC {'PASS' if over_grpc else 'FAIL'}")
    return rest and over_grpc


async def sigterm(models: Path) -> bool:
    async with gateway(models) as gw:
        _reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(
            b"POST /v1/models/tiny-text:classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )

        async def trickle() -> None:
            while not writer.is_closing():
                writer.write(b" ")
                await asyncio.sleep(0.5)

        sender = asyncio.create_task(trickle())
        await asyncio.sleep(1)
        signalled = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gw.process.wait(), 120)
        took = time.monotonic() - signalled
        sender.cancel()
        writer.close()
    print(f"SIGTERM with one slow-body client: the process exited after {took:.1f}s")
    return took < 10


async def soak(models: Path) -> bool:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    async with gateway(models) as gw:
        requests = mixed_requests()
        # The first calls of each model are slower (graphs traced, pools started): not part of capacity.
        await closed_loop(gw.port, requests, clients=16, seconds=2)
        capacity_run = await closed_loop(gw.port, requests, clients=16, seconds=5)
        capacity = capacity_run.count(200) / capacity_run.seconds
        report("capacity (closed loop, 16 clients, mixed)", capacity_run)
        await open_loop(gw.port, requests, rate=0.7 * capacity, seconds=min(10.0, seconds / 6))  # warm-up
        before = gw.rss_mb
        run = await open_loop(gw.port, requests, rate=0.7 * capacity, seconds=seconds)
        after = gw.rss_mb
        reasons = await refusal_reasons(gw.port)
    report(f"soak at 70% = {0.7 * capacity:.0f} req/s for {seconds:.0f}s", run)
    if run.count(200) < run.sent:
        print(f"refusals by reason (warm-up included): {reasons}")
        print("seconds with an answer other than 200, by second of arrival:")
        print("\n".join(line for line in run.per_second() if "429" in line or "other" in line))
    refused = run.count(429)
    errors = run.sent - run.count(200) - refused
    print(
        f"errors {errors}; refused {refused} (at most {SOAK_REFUSED_SHARE:.1%} of {run.sent}); "
        f"RSS after warm-up {before:.0f} MB, at the end {after:.0f} MB ({after / before - 1:+.1%})"
    )
    return errors == 0 and refused <= SOAK_REFUSED_SHARE * run.sent and after < before * 1.10


SCENARIOS = {"overload": overload, "memory": memory, "sigterm": sigterm, "soak": soak}


def main() -> int:
    """Run one scenario; exit 1 when its promise was not kept."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.scenarios")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--models", type=Path, help="model repository (default: tiny models, built now)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        models = args.models
        if models is None:
            from training.testing import build_tiny_models

            models = Path(scratch) / "models"
            build_tiny_models(models)
        # Building the models imported TensorFlow here: ~450,000 long-lived objects, which every full
        # collection walked (0.7-0.9 s pauses of this generator in the middle of a run, measured as the
        # gateway's latency). Out of the collector's way, as the gateway does with its own (service.heap).
        gc.collect()
        gc.freeze()
        kept = _run(SCENARIOS[args.scenario](models))
    print(f"{args.scenario}: {'PASS' if kept else 'FAIL'}")
    return 0 if kept else 1


def _run(scenario: Coroutine[Any, Any, bool]) -> bool:
    # The generator on uvloop when installed: an open loop of hundreds of requests a second must not
    # become the bottleneck it measures.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(scenario)
    return uvloop.run(scenario)


if __name__ == "__main__":
    sys.exit(main())
