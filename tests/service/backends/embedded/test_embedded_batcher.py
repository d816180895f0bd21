"""The micro-batcher on its own, over a numpy function whose calls a test can hold back.

The function is the batcher's real collaborator type (rows in, rows out, run in the thread pool);
holding it back makes queueing, overload, deadlines and draining deterministic.
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
from service.errors import DeadlineExceeded, InvalidInput, ModelNotReady, Overloaded
from service.settings import BatchingSettings


class GatedModel:
    """Doubles its input, records every batch, and waits for ``gate`` before answering."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.batches: list[np.ndarray] = []
        self.entered = threading.Semaphore(0)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        self.batches.append(rows.copy())
        self.entered.release()
        if not self.gate.wait(timeout=30):
            raise RuntimeError("gate never opened")
        if (rows < 0).any():
            raise InvalidInput("negative rows")
        return rows * 2.0

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.acquire, True, 10), "the model was never called"


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown(wait=True)


def _batcher(model: GatedModel, executor: ThreadPoolExecutor, *, slots: int = 1, **batching: float) -> Batcher:
    values = {"max_batch_size": 8, "batch_timeout_ms": 20, "max_queued_rows": 64, "eager_when_idle": False, **batching}
    batcher = Batcher(model, settings=BatchingSettings(**values), executor=executor, slots=slots)
    batcher.start()
    return batcher


def _rows(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)


async def test_concurrent_requests_are_coalesced_and_answered_in_order(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    batcher = _batcher(model, executor, max_batch_size=8)
    sizes = [1, 3, 2, 1, 4, 1, 2, 2, 3, 1, 1, 2]
    starts = np.cumsum([0, *sizes[:-1]])

    answers = await asyncio.gather(*(batcher.submit(_rows(s, n), None) for s, n in zip(starts, sizes, strict=True)))

    for start, size, answer in zip(starts, sizes, answers, strict=True):
        np.testing.assert_array_equal(answer, _rows(start, size) * 2)
    assert len(model.batches) < len(sizes)
    assert all(len(batch) <= 8 for batch in model.batches)
    assert sum(len(batch) for batch in model.batches) == sum(sizes)
    await batcher.close()


async def test_request_larger_than_a_batch_is_split_across_calls(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    batcher = _batcher(model, executor, max_batch_size=8)

    answer = await batcher.submit(_rows(0, 19), None)

    np.testing.assert_array_equal(answer, _rows(0, 19) * 2)
    assert sorted(len(batch) for batch in model.batches) == [3, 8, 8]
    await batcher.close()


async def test_full_queue_refuses_with_overloaded_and_keeps_what_it_accepted(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    model.gate.clear()
    batcher = _batcher(model, executor, max_batch_size=4, max_queued_rows=6, batch_timeout_ms=0)
    running = asyncio.create_task(batcher.submit(_rows(0, 4), None))
    await model.wait_entered()  # the one slot is busy; what comes next waits in the queue
    queued = [asyncio.create_task(batcher.submit(_rows(10 + 3 * i, 3), None)) for i in range(2)]
    await asyncio.sleep(0)

    with pytest.raises(Overloaded, match="6 rows queued"):
        await batcher.submit(_rows(100, 1), None)

    model.gate.set()
    np.testing.assert_array_equal(await running, _rows(0, 4) * 2)
    for i, task in enumerate(queued):
        np.testing.assert_array_equal(await task, _rows(10 + 3 * i, 3) * 2)
    assert batcher.queued_rows == 0
    await batcher.close()


async def test_deadline_while_queued_answers_at_once_and_drops_the_rows(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    model.gate.clear()
    batcher = _batcher(model, executor, batch_timeout_ms=0)
    running = asyncio.create_task(batcher.submit(_rows(0, 1), None))
    await model.wait_entered()

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="while queued"):
        await batcher.submit(_rows(500, 2), 0.05)
    assert time.monotonic() - started < 1.0
    assert batcher.queued_rows == 0

    model.gate.set()
    await running
    after = await batcher.submit(_rows(7, 1), None)
    np.testing.assert_array_equal(after, _rows(7, 1) * 2)
    assert not any((batch >= 500).any() for batch in model.batches), "expired rows reached the model"
    await batcher.close()


async def test_cancelled_request_frees_its_place_in_the_queue(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    model.gate.clear()
    batcher = _batcher(model, executor, batch_timeout_ms=0)
    running = asyncio.create_task(batcher.submit(_rows(0, 1), None))
    await model.wait_entered()
    waiting = asyncio.create_task(batcher.submit(_rows(300, 5), None))
    await asyncio.sleep(0.01)
    assert batcher.queued_rows == 5

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert batcher.queued_rows == 0
    model.gate.set()
    await running
    await batcher.close()
    assert not any((batch >= 300).any() for batch in model.batches)


async def test_model_error_fails_its_batch_only(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    batcher = _batcher(model, executor, batch_timeout_ms=0)

    with pytest.raises(InvalidInput, match="negative rows"):
        await batcher.submit(-_rows(1, 2), None)

    np.testing.assert_array_equal(await batcher.submit(_rows(1, 2), None), _rows(1, 2) * 2)
    await batcher.close()


async def test_close_answers_every_accepted_request_then_refuses(executor: ThreadPoolExecutor) -> None:
    model = GatedModel()
    model.gate.clear()
    batcher = _batcher(model, executor, max_batch_size=4, slots=2)
    accepted = [asyncio.create_task(batcher.submit(_rows(10 * i, 2), None)) for i in range(10)]
    await model.wait_entered()

    closing = asyncio.create_task(batcher.close())
    await asyncio.sleep(0.05)
    assert not closing.done(), "close returned while requests were still waiting"
    with pytest.raises(ModelNotReady, match="unloading"):
        await batcher.submit(_rows(0, 1), None)

    model.gate.set()
    await asyncio.wait_for(closing, 10)
    assert all(task.done() for task in accepted)
    for i, task in enumerate(accepted):
        np.testing.assert_array_equal(task.result(), _rows(10 * i, 2) * 2)
