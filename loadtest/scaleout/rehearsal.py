"""The scale-out rehearsal: replicas come and go behind a DNS name while two gateways serve steady load.

    python -m loadtest.scaleout [--models-dir DIR] [--resolve-interval S] [--timeout S]

Topology (what Kubernetes creates, as local processes): model-server replicas A-C on 127.0.0.2-127.0.0.4
(a fourth, D, on 127.0.0.5 later), a DNS server of the rehearsal's own on 127.0.0.1 answering
``tfserving.rehearsal`` with the live set (a headless Service), two gateways with the target
``dns://127.0.0.1:PORT/tfserving.rehearsal:PORT`` and load from closed-loop REST clients on both gateways.

Under load: SIGKILL replica B (it stays in DNS, as a crashed pod's address does until its endpoint goes), start
it again; remove C from DNS (it keeps running, as a terminating pod does during its preStop pause), then stop
it; start D and add it to DNS. Prints requests sent and failed, the time until a restarted or added replica
receives traffic and the time until a removed one stops receiving it. Exit status 1 when a request failed or a
change took longer than ``TARGET_S``, 2 when the rehearsal itself could not run. Stops by itself within
``--timeout`` seconds and ends every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from loadtest.scaleout.dns_server import ReplicaDNS

NAME = "tfserving.rehearsal"
ADDRESSES = {"A": "127.0.0.2", "B": "127.0.0.3", "C": "127.0.0.4", "D": "127.0.0.5"}
MODEL = "tiny-text"
#: New replicas must get traffic, and removed ones lose it, within this many seconds (the issue's bound).
TARGET_S = 10.0
#: Concurrent closed-loop clients per gateway.
CLIENTS_PER_GATEWAY = 4
#: Steady load between two changes.
SETTLE_S = 5.0


@dataclass
class Replica:
    """One model-server process and what it reported: when it was ready, when calls reached it."""

    name: str
    host: str
    port: int
    process: asyncio.subprocess.Process | None = None
    ready_at: float | None = None
    traffic: list[tuple[float, int]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def calls(self) -> int:
        """Predict calls received in all."""
        return sum(n for _, n in self.traffic)

    def first_traffic_after(self, moment: float) -> float | None:
        """When the first call after ``moment`` arrived (report granularity)."""
        return next((t for t, _ in self.traffic if t > moment), None)

    def last_traffic(self) -> float | None:
        """When the last call arrived."""
        return self.traffic[-1][0] if self.traffic else None


@dataclass
class Load:
    """Closed-loop REST clients; every answer that is not 200 counts as failed."""

    sent: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, base_url: str, seed: int) -> None:
        """Send classify requests one after the other until told to stop."""
        from training.testing import TINY_LABELS, tiny_input

        labels = TINY_LABELS[MODEL]
        texts = [tiny_input(MODEL, labels[i % len(labels)], seed=seed + i) for i in range(16)]
        bodies = [{"instances": [{"text": text}]} for text in texts]
        async with httpx.AsyncClient(base_url=base_url, timeout=15.0) as http:
            i = 0
            while not self.stop.is_set():
                self.sent += 1
                try:
                    body, timeout = bodies[i % len(bodies)], {"X-Request-Timeout": "10"}
                    response = await http.post(f"/v1/models/{MODEL}:classify", json=body, headers=timeout)
                    ok, detail = response.status_code == 200, f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, repr(exc)
                if not ok:
                    self.failed += 1
                    if len(self.failures) < 10:
                        self.failures.append(f"{base_url}: {detail}")
                i += 1


class Rehearsal:
    """Starts the processes, changes the replica set under load, measures, and cleans up."""

    def __init__(self, models_dir: Path, workdir: Path, resolve_interval_s: float) -> None:
        self.models_dir = models_dir
        self.workdir = workdir
        self.resolve_interval_s = resolve_interval_s
        port = _free_port_on(list(ADDRESSES.values()))
        self.replicas = {name: Replica(name, host, port) for name, host in ADDRESSES.items()}
        self.dns: ReplicaDNS | None = None
        self.gateways: list[tuple[asyncio.subprocess.Process, str]] = []
        self.load = Load()
        self.figures: dict[str, float | None] = {}
        self._logs: list[IO[bytes]] = []
        self._readers: list[asyncio.Task[None]] = []
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        """One progress line, with seconds since the start."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def show_logs(self) -> None:
        """The last lines of every process's log, on stderr (when something went wrong)."""
        for log in sorted(self.workdir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)

    # -- processes ------------------------------------------------------------------------------------

    def _log(self, name: str) -> IO[bytes]:
        handle = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(handle)
        return handle

    async def start_replica(self, name: str) -> Replica:
        """Start a replica and wait until it reports ready."""
        replica = self.replicas[name]
        replica.ready.clear()
        replica.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loadtest.scaleout.replica",
            "--models-dir",
            str(self.models_dir),
            "--host",
            replica.host,
            "--port",
            str(replica.port),
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log(f"replica-{name}"),
            start_new_session=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CLASSIFIER_LOG_LEVEL": "warning"},
        )
        self._readers.append(asyncio.create_task(self._read(replica, replica.process)))
        await replica.ready.wait()
        return replica

    async def _read(self, replica: Replica, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            words = raw.decode().split()
            if words == ["ready"]:
                replica.ready_at = time.monotonic()
                replica.ready.set()
            elif len(words) == 3 and words[0] == "traffic":
                replica.traffic.append((float(words[1]), int(words[2])))
        if not replica.ready.is_set():
            raise RuntimeError(f"replica {replica.name} exited before it was ready (see {self.workdir})")

    async def start_gateway(self, index: int, dns_port: int) -> str:
        """Start a gateway on the dns:// target; returns its REST URL once /readyz answers 200."""
        rest, grpc_port = _free_port_on(["127.0.0.1"]), _free_port_on(["127.0.0.1"])
        port = self.replicas["A"].port
        env = {
            **os.environ,
            "CLASSIFIER_BACKEND": "tfserving",
            "CLASSIFIER_TFSERVING_TARGET": f"dns://127.0.0.1:{dns_port}/{NAME}:{port}",
            "CLASSIFIER_TFSERVING_RESOLVE_INTERVAL_S": str(self.resolve_interval_s),
            "CLASSIFIER_MODELS_DIR": str(self.models_dir),
            "CLASSIFIER_PORT": str(rest),
            "CLASSIFIER_GRPC_PORT": str(grpc_port),
            "CLASSIFIER_LOG_LEVEL": "info",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service",
            stdout=self._log(f"gateway-{index}"),
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        url = f"http://127.0.0.1:{rest}"
        self.gateways.append((process, url))
        async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"gateway {index} exited with {process.returncode} (see {self.workdir})")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return url
                await asyncio.sleep(0.2)

    async def stop_replica(self, name: str, signum: int) -> None:
        """Send ``signum`` to a replica and wait until it has exited."""
        process = self.replicas[name].process
        if process is not None and process.returncode is None:
            process.send_signal(signum)
            await process.wait()

    async def cleanup(self) -> None:
        """End every process started here (SIGTERM, then SIGKILL after a grace period) and close the logs."""
        self.load.stop.set()
        processes = [p for p, _ in self.gateways] + [r.process for r in self.replicas.values() if r.process]
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        if self.dns is not None:
            self.dns.close()
        for handle in self._logs:
            handle.close()

    # -- the scenario ---------------------------------------------------------------------------------

    async def run(self) -> bool:
        """The whole rehearsal; True when every request succeeded and every change was quick enough."""
        self.dns, dns_port = await ReplicaDNS.start(NAME)
        self.say(f"DNS server on 127.0.0.1:{dns_port}; starting replicas A-C")
        await asyncio.gather(*(self.start_replica(n) for n in "ABC"))
        self.dns.addresses = [ADDRESSES[n] for n in "ABC"]
        self.say("replicas ready; starting 2 gateways")
        urls = await asyncio.gather(*(self.start_gateway(i, dns_port) for i in range(2)))
        self.say(f"gateways ready at {', '.join(urls)}; steady load")
        clients = [
            asyncio.create_task(self.load.client(url, seed=1000 * g + c))
            for g, url in enumerate(urls)
            for c in range(CLIENTS_PER_GATEWAY)
        ]
        try:
            await self._scenario()
        finally:
            self.load.stop.set()
            await asyncio.gather(*clients, return_exceptions=True)
        return self._report()

    async def _scenario(self) -> None:
        assert self.dns is not None
        await asyncio.sleep(SETTLE_S)

        self.say("SIGKILL replica B (its address stays in DNS)")
        await self.stop_replica("B", signal.SIGKILL)
        await asyncio.sleep(SETTLE_S)

        self.say("starting replica B again at the same address")
        replica = await self.start_replica("B")
        assert replica.ready_at is not None
        self.figures["restarted B: first call after ready (s)"] = await self._first_call(replica, replica.ready_at)

        removed_at = time.monotonic()
        self.dns.addresses = [ADDRESSES[n] for n in "AB"]
        self.say("removed replica C from DNS (still running); starting replica D meanwhile")
        starting = asyncio.create_task(self.start_replica("D"))
        await asyncio.sleep(TARGET_S + 1)
        last = self.replicas["C"].last_traffic()
        self.figures["removed C: last call after removal (s)"] = None if last is None else max(0.0, last - removed_at)
        self.say("stopping replica C (SIGTERM)")
        await self.stop_replica("C", signal.SIGTERM)

        replica = await starting
        self.say("replica D ready")
        added_at = time.monotonic()
        self.dns.addresses = [ADDRESSES[n] for n in "ABD"]
        self.say("added replica D to DNS")
        self.figures["added D: first call after DNS add (s)"] = await self._first_call(replica, added_at)
        await asyncio.sleep(SETTLE_S)

    async def _first_call(self, replica: Replica, since: float) -> float | None:
        deadline = since + TARGET_S + 5
        while time.monotonic() < deadline:
            first = replica.first_traffic_after(since)
            if first is not None:
                return max(0.0, first - since)
            await asyncio.sleep(0.05)
        return None

    def _report(self) -> bool:
        load = self.load
        print("\n== scale-out rehearsal ==")
        print(f"requests sent: {load.sent}")
        print(f"requests failed: {load.failed}")
        for failure in load.failures:
            print(f"  failed: {failure}")
        for replica in self.replicas.values():
            print(f"calls received by replica {replica.name} ({replica.host}): {replica.calls}")
        ok = load.failed == 0
        for name, value in self.figures.items():
            shown = "never" if value is None else f"{value:.2f}"
            print(f"{name}: {shown}")
            ok = ok and value is not None and value <= TARGET_S
        print(f"result: {'PASS' if ok else 'FAIL'} (0 failed requests, every change within {TARGET_S:.0f}s)")
        return ok


def _free_port_on(hosts: list[str]) -> int:
    """A TCP port free on every one of ``hosts`` now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        if all(_bindable(host, port) for host in hosts[1:]):
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _models(models_dir: Path | None) -> Iterator[Path]:
    if models_dir is not None:
        yield models_dir
        return
    from training.testing import build_tiny_models

    with tempfile.TemporaryDirectory(prefix="scaleout-models-") as scratch:
        print("building the tiny text model (training.testing)…", flush=True)
        build_tiny_models(Path(scratch), names=(MODEL,))
        yield Path(scratch)


@contextlib.asynccontextmanager
async def _rehearsal(models_dir: Path, resolve_interval_s: float) -> AsyncIterator[Rehearsal]:
    with tempfile.TemporaryDirectory(prefix="scaleout-logs-") as logs:
        rehearsal = Rehearsal(models_dir, Path(logs), resolve_interval_s)
        try:
            yield rehearsal
        except BaseException:
            rehearsal.show_logs()
            raise
        finally:
            await rehearsal.cleanup()


async def rehearse(models_dir: Path, resolve_interval_s: float, timeout_s: float) -> int:
    """Run the rehearsal within ``timeout_s``; returns the exit status."""
    async with _rehearsal(models_dir, resolve_interval_s) as rehearsal:
        try:
            async with asyncio.timeout(timeout_s):
                return 0 if await rehearsal.run() else 1
        except TimeoutError:
            print(f"rehearsal: not done within {timeout_s:.0f}s", file=sys.stderr)
            rehearsal.show_logs()
            return 2


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="models with tiny-text (default: build it)")
    parser.add_argument("--resolve-interval", type=float, default=2.0, help="the gateways' re-resolution interval")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the rehearsal may take in all")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _models(args.models_dir) as models_dir:
        try:
            return asyncio.run(rehearse(models_dir, args.resolve_interval, args.timeout))
        except RuntimeError as exc:
            print(f"rehearsal: {exc}", file=sys.stderr)
            return 2
