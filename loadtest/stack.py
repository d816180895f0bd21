"""Start and stop the servers under test on loopback: the gateway, the local model server, bench apps.

Each server is a child process in its own process group (so a Ctrl-C in the terminal reaches only the
orchestrator, which then stops its children in order), optionally pinned to CPU cores, with its output
in a log file. ``ProcessGroup`` stops everything it started when its ``with`` block ends, however it
ends: SIGTERM to each group, then SIGKILL to what is still there after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import psutil

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment with TensorFlow's start-up chatter off and the repository importable."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A started child process and what the caller needs to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    rest_url: str | None = None
    grpc_target: str | None = None

    @property
    def pid(self) -> int:
        """The child's process id (its process group id too)."""
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        """The last lines of its log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the process and every descendant alive now."""
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = process.cpu_times()
                total += times.user + times.system
        return total


class StackError(RuntimeError):
    """A server did not start or did not become ready; the message carries the end of its log."""


class ProcessGroup:
    """The servers of one run; a context manager that stops all of them on exit."""

    def __init__(self, log_dir: Path, *, stop_timeout_s: float = 20.0) -> None:
        self.log_dir = log_dir
        self.stop_timeout_s = stop_timeout_s
        self.servers: list[Server] = []

    def __enter__(self) -> ProcessGroup:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cpus: set[int] | None = None,
        rest_url: str | None = None,
        grpc_target: str | None = None,
    ) -> Server:
        """Start ``argv`` (a Python module run, usually) in its own process group, pinned to ``cpus``."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=python_env(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Pinned before exec, so every thread the server creates inherits the mask.
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        server = Server(name, process, log_path, rest_url, grpc_target)
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        """SIGTERM every group still running (newest first), then SIGKILL what outlives the grace period."""
        running = [s for s in reversed(self.servers) if s.process.poll() is None]
        for server in running:
            _signal_group(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for server in running:
            try:
                server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"loadtest: {server.name} did not stop in time; killing it", file=sys.stderr)
        for server in self.servers:
            _signal_group(server.pid, signal.SIGKILL)  # leftovers of the group, if any
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=5)
        self.servers.clear()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def wait_ready(server: Server, url: str, *, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; raise StackError when the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise StackError(f"{server.name} exited with {server.process.returncode}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read(300).decode('utf-8', 'replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise StackError(f"{server.name} was not ready at {url} after {timeout_s:.0f}s ({last}):\n{server.tail()}")


def wait_port(server: Server, port: int, *, timeout_s: float) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise StackError(f"{server.name} exited with {server.process.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.3)
    raise StackError(f"{server.name} did not listen on port {port} after {timeout_s:.0f}s:\n{server.tail()}")


def start_gateway(
    group: ProcessGroup,
    *,
    topology: str,
    models_dir: Path,
    models: Sequence[str],
    cpus: set[int] | None = None,
    name: str = "gateway",
    extra_env: Mapping[str, str] | None = None,
) -> Server:
    """The gateway on free loopback ports; with ``topology='tfserving'``, first the local model server.

    Returns the gateway's ``Server`` (REST URL and gRPC target set); not yet ready: see ``wait_ready``.
    """
    env = {
        "CLASSIFIER_HOST": "127.0.0.1",
        "CLASSIFIER_PORT": str(free_port()),
        "CLASSIFIER_GRPC_HOST": "127.0.0.1",
        "CLASSIFIER_GRPC_PORT": str(free_port()),
        "CLASSIFIER_MODELS_DIR": str(models_dir),
        "CLASSIFIER_MODELS": json.dumps(list(models)),
        "CLASSIFIER_BACKEND": "embedded",
    }
    if topology == "tfserving":
        port = free_port()
        model_server = group.start(
            f"{name}-modelserver",
            [sys.executable, "-m", "service.modelserver", "--models-dir", str(models_dir), "--port", str(port)],
            env=extra_env,
            cpus=cpus,
            grpc_target=f"127.0.0.1:{port}",
        )
        wait_port(model_server, port, timeout_s=300)
        env.update({"CLASSIFIER_BACKEND": "tfserving", "CLASSIFIER_TFSERVING_TARGET": f"127.0.0.1:{port}"})
    elif topology != "embedded":
        raise ValueError(f"unknown topology {topology!r}; use 'embedded' or 'tfserving'")
    env.update(extra_env or {})
    return group.start(
        name,
        [sys.executable, "-m", "service"],
        env=env,
        cpus=cpus,
        rest_url=f"http://127.0.0.1:{env['CLASSIFIER_PORT']}",
        grpc_target=f"127.0.0.1:{env['CLASSIFIER_GRPC_PORT']}",
    )


@contextlib.contextmanager
def interrupts_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit (as Ctrl-C is KeyboardInterrupt) so ``with`` blocks clean up."""

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
