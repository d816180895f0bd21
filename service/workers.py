"""The supervisor of worker processes: ``CLASSIFIER_WORKERS=N`` (N > 1) runs N gateways on the same ports.

Each worker is a whole gateway (``python -m service``) with its own event loop, backend and surfaces; it
binds the REST and gRPC ports itself with SO_REUSEPORT, so the kernel spreads new connections over the
workers' listeners and a worker that dies drops out of the group without anyone re-binding (a listener
socket inherited from the supervisor would instead put every worker's accept loop on one queue, and
gRPC binds its own sockets anyway). The supervisor does no request work and imports no TensorFlow:

- it starts the workers with ``CLASSIFIER_WORKER_ID`` 0..N-1, ``CLASSIFIER_RUNTIME_DIR`` (a private
  directory for state they share: the API keys' rate buckets) and ``PROMETHEUS_MULTIPROC_DIR`` (their
  metric files, ``service.metrics``), each in a process group of its own so a terminal's Ctrl-C reaches
  them once, through the supervisor;
- it forwards SIGTERM and SIGINT: each worker drains as a single gateway does, and a second signal stops
  their waiting for in-flight requests;
- it restarts a worker that exits while it is not stopping, at most ``worker_restarts_per_minute`` times
  a minute; one more unexpected exit stops every worker and exits 1 (a crash loop is not hidden);
- it removes a dead worker's live gauges (``mark_process_dead``) and its runtime directory on exit.

Ports must be fixed (port 0 would give each worker a different one).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from service.metrics import MULTIPROCESS_ENV
from service.settings import Settings

log = logging.getLogger("service.workers")

#: How often the supervisor looks at its workers (it sleeps in between; signals interrupt the sleep).
POLL_S = 0.2
#: Seconds past the shutdown grace before a worker that has not exited is killed.
KILL_AFTER_S = 10.0


class Supervisor:
    """Starts ``settings.worker_count`` gateway processes, forwards stop signals, restarts crashed ones."""

    def __init__(self, settings: Settings, *, command: list[str] | None = None) -> None:
        self.settings = settings
        self.count = settings.worker_count
        self.command = command or [sys.executable, "-m", "service"]
        self._workers: dict[int, subprocess.Popen[bytes]] = {}
        self._restarts: deque[float] = deque()
        self._stopping: int | None = None  # the first stop signal received
        self._runtime_dir: Path | None = None

    def run(self) -> int:
        """Serve until a stop signal (0 when every worker then exits 0) or a crash loop (1)."""
        if self.settings.port == 0 or (self.settings.grpc_enabled and self.settings.grpc_port == 0):
            log.error("workers: CLASSIFIER_WORKERS=%d needs fixed ports, not port 0", self.count)
            return 2
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="classifier-gateway-"))
        (self._runtime_dir / "metrics").mkdir()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in range(self.count):
                self._start(worker)
            log.info("workers: %d gateway processes on REST port %d", self.count, self.settings.port)
            code = self._watch()
            return self._stop_all(code)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    # -- internals ----------------------------------------------------------------------------------

    def _environment(self, worker: int) -> dict[str, str]:
        assert self._runtime_dir is not None
        return {
            **os.environ,
            "CLASSIFIER_WORKER_ID": str(worker),
            "CLASSIFIER_RUNTIME_DIR": str(self._runtime_dir),
            MULTIPROCESS_ENV: str(self._runtime_dir / "metrics"),
        }

    def _start(self, worker: int) -> None:
        process = subprocess.Popen(self.command, env=self._environment(worker), process_group=0)
        self._workers[worker] = process
        log.info("worker %d: started (pid %d)", worker, process.pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self._stopping is None:
            self._stopping = signum
            log.info("%s: stopping %d workers gracefully", signal.Signals(signum).name, len(self._workers))
        for process in self._workers.values():
            if process.poll() is None:
                process.send_signal(signum)  # a second signal makes the workers stop waiting, as one gateway does

    def _watch(self) -> int:
        while self._stopping is None:
            time.sleep(POLL_S)
            for worker, process in list(self._workers.items()):
                code = process.poll()
                if code is None or self._stopping is not None:
                    continue
                self._forget(process)
                log.error("worker %d (pid %d) exited unexpectedly with %d", worker, process.pid, code)
                now = time.monotonic()
                while self._restarts and now - self._restarts[0] > 60.0:
                    self._restarts.popleft()
                if len(self._restarts) >= self.settings.worker_restarts_per_minute:
                    log.error("workers: %d restarts within a minute already; stopping", len(self._restarts))
                    return 1
                self._restarts.append(now)
                self._start(worker)
        return 0

    def _stop_all(self, code: int) -> int:
        if self._stopping is None:  # a crash loop: stop the others the same way a signal would
            self._on_signal(signal.SIGTERM, None)
        deadline = time.monotonic() + self.settings.shutdown_grace_s + KILL_AFTER_S
        for worker, process in self._workers.items():
            try:
                exit_code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) did not stop in time; killing it", worker, process.pid)
                process.kill()
                exit_code = process.wait()
            self._forget(process)
            if exit_code != 0:
                code = code or 1
        log.info("workers: stopped")
        return code

    def _forget(self, process: subprocess.Popen[bytes]) -> None:
        assert self._runtime_dir is not None
        # Its live gauges (requests in flight, readiness) no longer count; its counters keep counting.
        mark_process_dead(process.pid, str(self._runtime_dir / "metrics"))  # type: ignore[no-untyped-call]
