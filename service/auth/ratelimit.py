"""``TokenBucket``: a per-key request rate with bursts, checked in O(1) without locks (one event loop)."""

from __future__ import annotations

import time


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
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate
