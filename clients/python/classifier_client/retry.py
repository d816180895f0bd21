"""When and how long the client waits before trying a call again.

Only UNAVAILABLE is retried: the gateway is starting, a model is loading, or the connection dropped, and
the same request may well succeed later. Every other status (INVALID_ARGUMENT, NOT_FOUND, ...) would
fail again, and RESOURCE_EXHAUSTED means the gateway asks for less traffic, not more. Backoff is
exponential with full jitter, so that many clients that failed together do not retry together; the
call's deadline bounds the whole sequence of attempts.

The policy does no I/O: ``policy.attempts(budget_s)`` returns the state of one call's attempts, which
says how long the next attempt may take and how long to pause after a failure (or not to retry). The
blocking client, the asyncio client and the gateway's TF Serving client each run the same three-line
loop over it, with their own sleep and their own error mapping.
"""

from __future__ import annotations

import random
import time
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

    def attempts(self, budget_s: float) -> Attempts:
        """The attempts of one call that has ``budget_s`` seconds in all, starting now."""
        return Attempts(self, time.monotonic() + budget_s)


class Attempts:
    """One call's attempts under a policy and a deadline::

    attempts = policy.attempts(budget_s)
    while True:
        try:
            return call(request, timeout=attempts.left())
        except grpc.RpcError as exc:
            pause = attempts.pause_after(exc.code())
            if pause is None:
                raise translate(exc) from exc
            sleep(pause)
    """

    def __init__(self, policy: RetryPolicy, deadline: float) -> None:
        self.deadline = deadline
        self._policy = policy
        self._backoffs = policy.backoffs()

    def left(self) -> float:
        """Seconds left for the next attempt (at most the deadline; never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def pause_after(self, code: grpc.StatusCode | None) -> float | None:
        """Seconds to wait before the next attempt after a failure with ``code``; None: do not retry
        (the code is not retryable, the attempts are used up, or the pause would pass the deadline)."""
        if not self._policy.should_retry(code):
            return None
        pause = next(self._backoffs, None)
        if pause is None or time.monotonic() + pause >= self.deadline:
            return None
        return pause


NO_RETRY = RetryPolicy(max_attempts=1)
