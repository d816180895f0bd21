"""``eager_when_idle``: an idle model takes a lone request at once; a busy one still gets batches.

The window here is far longer than any test waits, so a request that was held for it would time out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.backends.embedded.batcher import Batcher
from service.settings import BatchingSettings

LONG_WINDOW_MS = 60_000


class HeldModel:
    """Doubles its input, records each batch's row count, and waits for ``gate`` before answering."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.sizes: list[int] = []
        self.entered = threading.Semaphore(0)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.sizes.append(len(rows))
        self.entered.release()
        assert self.gate.wait(timeout=30), "gate never opened"
        return rows * 2.0


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown(wait=True)


def _eager_batcher(model: HeldModel, executor: ThreadPoolExecutor, *, eager: bool = True) -> Batcher:
    settings = BatchingSettings(
        max_batch_size=8, batch_timeout_ms=LONG_WINDOW_MS, max_queued_rows=64, eager_when_idle=eager
    )
    batcher = Batcher(model, settings=settings, executor=executor, slots=1)
    batcher.start()
    return batcher


def _rows(count: int) -> np.ndarray:
    return np.ones((count, 3), np.float32)


async def test_idle_model_takes_a_lone_request_without_waiting_for_the_window(executor: ThreadPoolExecutor) -> None:
    model = HeldModel()
    batcher = _eager_batcher(model, executor)

    answer = await asyncio.wait_for(batcher.submit(_rows(2), None), timeout=10)

    np.testing.assert_array_equal(answer, _rows(2) * 2)
    assert model.sizes == [2]
    await batcher.close()


async def test_requests_queued_behind_a_running_call_still_share_one_batch(executor: ThreadPoolExecutor) -> None:
    model = HeldModel()
    batcher = _eager_batcher(model, executor)
    model.gate.clear()
    first = asyncio.create_task(batcher.submit(_rows(1), None))
    assert await asyncio.to_thread(model.entered.acquire, True, 10)

    waiting = [asyncio.create_task(batcher.submit(_rows(2), None)) for _ in range(4)]
    await asyncio.sleep(0.05)
    model.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, *waiting), timeout=10)

    assert [len(a) for a in answers] == [1, 2, 2, 2, 2]
    assert model.sizes == [1, 8]
    await batcher.close()


async def test_model_that_became_idle_takes_what_queued_at_once(executor: ThreadPoolExecutor) -> None:
    model = HeldModel()
    batcher = _eager_batcher(model, executor)
    model.gate.clear()
    first = asyncio.create_task(batcher.submit(_rows(1), None))
    assert await asyncio.to_thread(model.entered.acquire, True, 10)

    second = asyncio.create_task(batcher.submit(_rows(2), None))  # fewer rows than a full batch
    await asyncio.sleep(0.05)
    model.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(first, second), timeout=10)

    assert [len(a) for a in answers] == [1, 2]
    assert model.sizes == [1, 2]
    await batcher.close()


async def test_default_settings_take_a_lone_request_without_waiting(executor: ThreadPoolExecutor) -> None:
    model = HeldModel()
    # eager_when_idle left at its default: the long window must not hold an idle model's request.
    settings = BatchingSettings(max_batch_size=8, batch_timeout_ms=LONG_WINDOW_MS, max_queued_rows=64)
    batcher = Batcher(model, settings=settings, executor=executor, slots=1)
    batcher.start()

    answer = await asyncio.wait_for(batcher.submit(_rows(1), None), timeout=10)

    np.testing.assert_array_equal(answer, _rows(1) * 2)
    assert model.sizes == [1]
    await batcher.close()
