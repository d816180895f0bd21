"""When and how long the client waits before trying a call again.

Only UNAVAILABLE is retried: the gateway is starting, a model is loading, or the connection dropped, and
the same request may well succeed later. Every other status (INVALID_ARGUMENT, NOT_FOUND, ...) would
fail again, and RESOURCE_EXHAUSTED means the gateway asks for less traffic, not more. Backoff is
exponential with full jitter, so that many clients that failed together do not retry together; the
call's deadline bounds the whole sequence of attempts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import grpc


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts and backoff; ``RetryPolicy(max_attempts=1)`` turns retries off."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    retryable: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff_s <= 0 or self.max_backoff_s < self.initial_backoff_s or self.multiplier < 1:
            raise ValueError("need 0 < initial_backoff_s <= max_backoff_s and multiplier >= 1")

    def should_retry(self, code: grpc.StatusCode | None) -> bool:
        """Whether a call that failed with ``code`` may be tried again."""
        return code in self.retryable

    def backoffs(self, rng: random.Random | None = None) -> Iterator[float]:
        """Seconds to sleep before attempt 2, 3, ... (``max_attempts - 1`` values), each drawn uniformly
        from ``[0, min(max_backoff_s, initial_backoff_s * multiplier**n)]``."""
        draw = (rng or random).uniform
        for n in range(self.max_attempts - 1):
            yield draw(0.0, min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**n))


NO_RETRY = RetryPolicy(max_attempts=1)
