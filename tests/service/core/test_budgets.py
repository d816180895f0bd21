"""The process-wide byte budget and the heap trimmer that gives freed memory back after big requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from service.core.budgets import ByteBudget, HeapTrimmer
from service.errors import Overloaded
from service.metrics import Metrics


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_release_soon_after_a_trim_is_trimmed_later_not_skipped() -> None:
    trimmer = HeapTrimmer(1024, interval_s=0.2)
    trimmer.released(4096)
    await _until(lambda: trimmer.trims == 1)
    # The last requests of a burst free their bytes within the interval: their trim must still come.
    trimmer.released(4096)
    await _until(lambda: trimmer.trims == 2)
    assert trimmer.trims == 2


async def test_releases_below_the_threshold_do_not_trim() -> None:
    trimmer = HeapTrimmer(1 << 20, interval_s=0.0)
    trimmer.released(1000)
    await asyncio.sleep(0.1)
    assert trimmer.trims == 0


async def test_a_burst_of_releases_makes_one_trim_per_interval() -> None:
    trimmer = HeapTrimmer(1, interval_s=0.3)
    trimmer.released(10)
    await _until(lambda: trimmer.trims == 1)
    for _ in range(50):  # all within the interval: one deferred trim covers them
        trimmer.released(10)
    await _until(lambda: trimmer.trims == 2)
    await asyncio.sleep(0.5)
    assert trimmer.trims == 2


def test_the_budget_refuses_past_its_limit_and_takes_back_what_is_released() -> None:
    budget = ByteBudget(100, Metrics(CollectorRegistry()), HeapTrimmer(0))
    budget.reserve(60)
    with pytest.raises(Overloaded) as refused:
        budget.reserve(41)
    assert refused.value.extra["retry_after_s"] == 1
    assert budget.used == 60
    budget.release(60)
    budget.reserve(100)
    assert budget.used == 100
