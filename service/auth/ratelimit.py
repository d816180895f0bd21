"""Per-key request rates with bursts across the worker processes of one gateway: ``SharedTokenBucket``
(``service.workers``); in one process the plain ``service.core.token_bucket.TokenBucket`` does. Both are
checked in O(1) with lazy refill."""

from __future__ import annotations

import fcntl
import mmap
import struct
import time
from pathlib import Path

from service.core.token_bucket import refill

#: The shared bucket's state in its file: tokens, then the monotonic time of the last take.
_STATE = struct.Struct("dd")


class SharedTokenBucket:
    """A ``TokenBucket`` whose state is in a 16-byte memory-mapped file that every worker process opens.

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
            tokens, wait_s = refill(tokens, last, now, self.rate, self.burst)
            _STATE.pack_into(self._map, 0, tokens, now)
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        return wait_s

    def close(self) -> None:
        """Release the mapping and the file."""
        self._map.close()
        self._file.close()
