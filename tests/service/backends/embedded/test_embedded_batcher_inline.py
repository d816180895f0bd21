"""``inline_call_ms``: a request alone, on an idle version with short calls, runs the model on the event loop.

What runs where is read from the model itself (the thread that called it); everything else (a request
not alone, a busy version, a slow last call, the setting at 0) takes the thread pool as before.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.backends.embedded.batcher import Batcher
from service.errors import InternalError, InvalidInput
from service.settings import BatchingSettings


class Model:
    """Doubles its input, notes the calling thread, and can be slowed down or made to fail."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.delay_s = 0.0
        self.failure: Exception | None = None

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        if self.failure is not None:
            raise self.failure
        return rows * 2.0


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2, thread_name_prefix="inference")
    yield pool
    pool.shutdown(wait=True)


def _batcher(model: Model, executor: ThreadPoolExecutor, inline_call_ms: float = 50.0) -> Batcher:
    settings = BatchingSettings(max_batch_size=8, batch_timeout_ms=1, inline_call_ms=inline_call_ms)
    batcher = Batcher(model, settings=settings, executor=executor, slots=1)
    batcher.start()
    return batcher


ROWS = np.ones((2, 3), np.float32)
LOOP = threading.current_thread().name  # pytest's asyncio tests run their loop in the main thread


async def test_a_request_alone_runs_inline_once_a_call_was_short(executor: ThreadPoolExecutor) -> None:
    model = Model()
    batcher = _batcher(model, executor)
    first = await batcher.submit(ROWS, 10, alone=True)  # no call timed yet: the thread pool
    second = await batcher.submit(ROWS, 10, alone=True)
    np.testing.assert_array_equal(second, ROWS * 2)
    np.testing.assert_array_equal(first, second)
    assert model.threads[0].startswith("inference")
    assert model.threads[1] == LOOP
    await batcher.close()


async def test_a_request_not_alone_or_a_slow_version_takes_the_thread_pool(executor: ThreadPoolExecutor) -> None:
    model = Model()
    batcher = _batcher(model, executor, inline_call_ms=20)
    await batcher.submit(ROWS, 10, alone=True)
    await batcher.submit(ROWS, 10, alone=False)  # others in flight: batched as usual
    model.delay_s = 0.05
    await batcher.submit(ROWS, 10, alone=True)  # inline, and now known to take 50 ms
    model.delay_s = 0.0
    await batcher.submit(ROWS, 10, alone=True)  # past inline_call_ms: back to the pool
    assert [name == LOOP for name in model.threads] == [False, False, True, False]
    await batcher.close()


async def test_a_busy_version_is_not_jumped(executor: ThreadPoolExecutor) -> None:
    model = Model()
    batcher = _batcher(model, executor)
    await batcher.submit(ROWS, 10, alone=True)
    model.delay_s = 0.2
    running = asyncio.create_task(batcher.submit(ROWS, 10))
    await asyncio.sleep(0.05)  # its call is running in a thread
    model.delay_s = 0.0
    await batcher.submit(ROWS, 10, alone=True)  # queued behind it, not run beside it on the loop
    await running
    assert LOOP not in model.threads
    await batcher.close()


async def test_off_at_zero(executor: ThreadPoolExecutor) -> None:
    model = Model()
    batcher = _batcher(model, executor, inline_call_ms=0)
    for _ in range(3):
        await batcher.submit(ROWS, 10, alone=True)
    assert LOOP not in model.threads
    await batcher.close()


@pytest.mark.parametrize(
    ("failure", "answered"), [(InvalidInput("bad row"), InvalidInput), (RuntimeError(), InternalError)]
)
async def test_an_inline_failure_is_answered_as_a_batched_one(
    executor: ThreadPoolExecutor, failure: Exception, answered: type[Exception]
) -> None:
    model = Model()
    batcher = _batcher(model, executor)
    await batcher.submit(ROWS, 10, alone=True)
    model.failure = failure
    with pytest.raises(answered):
        await batcher.submit(ROWS, 10, alone=True)
    assert model.threads[-1] == LOOP
    await batcher.close()
