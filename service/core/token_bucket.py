"""``TokenBucket``: ``rate`` tokens a second up to ``burst``, refilled lazily; used by the per-key rate
limits (``service.auth.ratelimit``) and by admission's overload headroom (``service.core.headroom``)."""

from __future__ import annotations

import time


def refill(tokens: float, last: float, now: float, rate: float, burst: float) -> tuple[float, float]:
    """Take one token from a bucket holding ``tokens`` at ``last``: (tokens left, seconds to wait or 0.0)."""
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; a request takes one or is told how long to wait.

    Lazy refill (tokens added from the time elapsed since the last take) keeps it to a few float
    operations per request and no timer. ``rate`` may be changed between takes. Not thread-safe: every
    caller runs on the gateway's event loop. ``now`` (``time.monotonic()`` seconds) is for callers that
    already read the clock.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available (nothing taken)."""
        if now is None:
            now = time.monotonic()
        self._tokens, wait_s = refill(self._tokens, self._last, now, self.rate, self.burst)
        self._last = now
        return wait_s
