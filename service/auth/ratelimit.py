"""Per-key request rates with bursts: ``TokenBucket`` in one process, ``SharedTokenBucket`` across the
worker processes of one gateway (``service.workers``), both checked in O(1) with lazy refill."""

from __future__ import annotations

import fcntl
import mmap
import struct
import time
from pathlib import Path

#: The shared bucket's state in its file: tokens, then the monotonic time of the last take.
_STATE = struct.Struct("dd")


def _refill(tokens: float, last: float, now: float, rate: float, burst: float) -> tuple[float, float]:
    """Take one token from a bucket holding ``tokens`` at ``last``: (tokens left, seconds to wait or 0.0)."""
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; a request takes one or is told how long to wait.

    Lazy refill (tokens added from the time elapsed since the last take) keeps it to a few float
    operations per request and no timer. Not thread-safe: every caller runs on the gateway's event loop.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available (nothing taken)."""
        now = time.monotonic()
        self._tokens, wait_s = _refill(self._tokens, self._last, now, self.rate, self.burst)
        self._last = now
        return wait_s


class SharedTokenBucket:
    """The same bucket, its state in a 16-byte memory-mapped file that every worker process opens.

    A take locks the file (``flock``, held for a few float operations; the lock is released by the kernel
    if a worker dies holding it), reads and writes the state through the mapping, and unlocks: two system
    calls and no I/O (the file lives in the supervisor's runtime directory). ``time.monotonic`` is the
    system-wide CLOCK_MONOTONIC on Linux, so every worker measures elapsed time on the same clock. A new
    file starts full; a bucket re-created for a changed key keeps the shared tokens (capped at the burst).
    """

    __slots__ = ("_file", "_map", "burst", "rate")

    def __init__(self, path: Path, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._file = path.open("a+b")
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            if path.stat().st_size < _STATE.size:  # the first worker to use the key creates it
                self._file.truncate(_STATE.size)
                self._map = mmap.mmap(self._file.fileno(), _STATE.size)
                _STATE.pack_into(self._map, 0, burst, time.monotonic())
            else:
                self._map = mmap.mmap(self._file.fileno(), _STATE.size)
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)

    def take(self) -> float:
        """Take a token shared by every worker: 0.0 when allowed, else the seconds until one is available."""
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            tokens, last = _STATE.unpack_from(self._map, 0)
            now = time.monotonic()
            tokens, wait_s = _refill(tokens, last, now, self.rate, self.burst)
            _STATE.pack_into(self._map, 0, tokens, now)
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        return wait_s

    def close(self) -> None:
        """Release the mapping and the file."""
        self._map.close()
        self._file.close()
