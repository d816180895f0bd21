"""The shared batch queue (``service.backends.batching``): a failed model call leaves no reference cycle.

An idle gateway makes no full garbage collection, so rows held by a cycle stay in memory until traffic
comes back; the decoder had such a cycle, which kept ~400 MB after ``make memory``'s burst.
"""

from __future__ import annotations

import asyncio
import gc
from types import FrameType

import numpy as np
import pytest

from service.backends.batching import BatchQueue
from service.errors import InternalError, InvalidInput, ServiceError
from service.settings import BatchingSettings


def _queue(failure: type[Exception]) -> BatchQueue:
    async def call(parts: list[np.ndarray], timeout: float | None) -> np.ndarray:
        if (np.concatenate(parts) < 0).any():
            raise failure("negative rows")
        return np.concatenate(parts)

    settings = BatchingSettings(max_batch_size=8, batch_timeout_ms=20, max_queued_rows=64, eager_when_idle=False)
    queue = BatchQueue(call, settings=settings, slots=1)
    queue.start()
    return queue


async def _failure_of(queue: BatchQueue, rows: int) -> type[Exception] | None:
    """The type of what ``submit`` raised for negative rows (a caller that handles it and goes on)."""
    try:
        await queue.submit(-np.ones((rows, 3), np.float32), 10)
    except Exception as exc:
        return type(exc)
    return None


@pytest.mark.parametrize(
    ("failure", "answered", "rows"),
    [
        (InvalidInput, InvalidInput, 4),
        (RuntimeError, InternalError, 4),  # the model's own failure, answered as an internal error
        (InvalidInput, InvalidInput, 20),  # split across calls
    ],
)
async def test_failed_requests_leave_no_cycle_holding_their_rows(
    failure: type[Exception], answered: type[ServiceError], rows: int
) -> None:
    queue = _queue(failure)
    assert len(await queue.submit(np.ones((rows, 3), np.float32), 10)) == rows  # the first call starts things
    gc.collect()
    gc.disable()  # as in a gateway whose requests outlived the young generations: a cycle made here stays
    try:
        failed = await asyncio.gather(*(_failure_of(queue, rows) for _ in range(3)))
        assert failed == [answered] * 3
        await queue.close()  # its model-call tasks have ended too
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        held = [type(obj).__name__ for obj in gc.garbage if isinstance(obj, np.ndarray | FrameType)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert held == []
