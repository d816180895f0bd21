"""The process-wide budget of input bytes in flight, and giving freed heap back to the OS.

``ByteBudget`` counts the bytes of every request body (REST, reserved from its ``Content-Length`` or as
a chunked body streams in) and gRPC message in flight; a request that would pass
``admission.max_inflight_bytes`` is refused with ``Overloaded`` (429 with Retry-After) before its bytes
are held, so concurrent big bodies cannot push the process into swap or an OOM kill (finding 4).

``HeapTrimmer``: glibc keeps freed memory of large spikes in its arenas, so after a burst of big bodies
RSS stayed near its peak (2.5-2.8 GB against 925 MB at start). Once ``decoding.trim_after_bytes`` of
input has been released, ``malloc_trim(0)`` runs in a thread (at most once a second), which hands free
pages back. Measured by ``python -m loadtest.scenarios memory``; see RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

from service.errors import Overloaded
from service.metrics import Metrics

log = logging.getLogger(__name__)

_TRIM_INTERVAL_S = 1.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim with
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` off the event loop after enough input bytes were released.

    At most one trim a second; releases that come sooner defer the trim rather than skip it, so the last
    requests of a burst are trimmed too (skipping them left the whole burst's heap in place: retained RSS
    +46% thirty seconds after ``make memory``).
    """

    def __init__(self, after_bytes: int, *, interval_s: float = _TRIM_INTERVAL_S) -> None:
        self._after_bytes = after_bytes
        self._interval_s = interval_s
        self._released = 0
        self._last = -interval_s
        self._pending = False  # a trim is scheduled or running
        self._trim = _load_malloc_trim() if after_bytes > 0 else None
        self.trims = 0

    def released(self, nbytes: int) -> None:
        """Note ``nbytes`` of input freed; once enough has been, trim (now, or a second after the last trim)."""
        if self._trim is None:
            return
        self._released += nbytes
        if self._released >= self._after_bytes and not self._pending:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pending = True
        loop.call_later(max(0.0, self._last + self._interval_s - time.monotonic()), self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._released = 0
        loop.run_in_executor(None, self._run).add_done_callback(self._done)

    def _run(self) -> None:
        assert self._trim is not None
        self._trim(0)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending = False
        self._last = time.monotonic()
        self.trims += 1
        if not future.cancelled() and future.exception() is not None:
            log.warning("malloc_trim failed: %r", future.exception())
        if self._released >= self._after_bytes:  # released while this trim ran
            self._schedule()


class ByteBudget:
    """Input bytes in flight across the process, bounded; ``reserve`` refuses past the bound."""

    def __init__(self, limit: int, metrics: Metrics, trimmer: HeapTrimmer, *, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.used = 0
        self._metrics = metrics
        self._trimmer = trimmer
        self._retry_after_s = retry_after_s

    def reserve(self, nbytes: int) -> None:
        """Count ``nbytes`` as held; ``Overloaded`` (nothing counted) if that passes the limit."""
        if nbytes <= 0:
            return
        if self.used + nbytes > self.limit:
            self._metrics.count_refused(Metrics.UNKNOWN_MODEL, "bytes_in_flight")
            raise Overloaded(
                f"overloaded: {self.used} input bytes are in flight and this request brings {nbytes}; retry later",
                retry_after_s=self._retry_after_s,
            )
        self.used += nbytes
        self._metrics.inflight_bytes.set(self.used)

    def release(self, nbytes: int) -> None:
        """Give back what ``reserve`` counted."""
        if nbytes <= 0:
            return
        self.used -= nbytes
        self._metrics.inflight_bytes.set(self.used)
        self._trimmer.released(nbytes)
