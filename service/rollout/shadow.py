"""Shadow runs: the candidate answers a copy of a request after the primary answer exists, within bounds.

A shadow run is a task started after the primary answer was produced, so it cannot delay or fail it.
At most ``max_concurrent`` run at once per process; a sampled request beyond that is shed (not queued),
as is any while the model's admission lane has requests waiting: under load the shadow goes first.
Failures of a shadow run are the caller's to count; nothing of it reaches the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class ShadowRunner:
    """Starts bounded background shadow runs and cancels them on close."""

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """Shadow runs in progress."""
        return len(self._tasks)

    def try_start(self, work: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Start ``work()`` now if a slot is free; False (shed) otherwise."""
        if len(self._tasks) >= self.max_concurrent:
            return False
        task = asyncio.create_task(self._guarded(work()), name="rollout-shadow")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def close(self) -> None:
        """Cancel the runs in progress and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:  # the work counts its own failures; anything left is a bug, logged, never raised
            log.exception("shadow run failed")
