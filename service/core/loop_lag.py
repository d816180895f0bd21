"""How late the event loop runs: the wait every new request has before its first line of Python runs.

Under overload the queue that hurts is not a lane's: it is the backlog of ready callbacks on the event
loop (and of bytes in socket buffers behind it). A request there is invisible to admission until the
loop reaches it, by which time it has already waited; refusing it then costs a 429 that arrives seconds
late (finding 5: 429s with p50 9-22 s). ``LoopLag`` samples that backlog cheaply: a timer re-armed every
``interval_s`` notes how late it fired. Admission refuses new work while the loop is late by more than
``admission.max_loop_lag_s``, so the backlog drains and the admitted requests keep their latency.

``late_s`` is the smaller of the last two samples: one long callback (a garbage collection, a big JSON
parse) makes one late sample and no backlog behind it, so it sheds nothing; a backlog makes every
sample late and sheds until a sample is on time again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class LoopLag:
    """A self-re-arming timer on the running loop; ``late_s`` is its recent lateness in seconds."""

    def __init__(self, interval_s: float = 0.02, on_sample: Callable[[float, float], None] | None = None) -> None:
        self.interval_s = interval_s
        #: Called with each sample's ``late_s`` and the time (``time.monotonic()``).
        self.on_sample = on_sample
        self.late_s = 0.0
        self._last_late_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        """Whether the timer is armed (started on the loop of the first request)."""
        return self._handle is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm the timer on ``loop`` (idempotent)."""
        if self._handle is not None:
            return
        self._loop = loop
        self._arm()

    def stop(self) -> None:
        """Disarm the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval_s
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        late = max(0.0, self._loop.time() - self._due)
        self.late_s = min(late, self._last_late_s)
        self._last_late_s = late
        self._arm()
        if self.on_sample is not None:
            self.on_sample(self.late_s, time.monotonic())
