"""Admission refuses new requests while the event loop runs late (``service.core.loop_lag``), and admits
again once the backlog is gone."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.core.admission import Admission
from service.core.loop_lag import LoopLag
from service.errors import Overloaded
from service.metrics import Metrics
from service.settings import AdmissionSettings


def hold_loop(seconds: float) -> None:
    """A callback that keeps the loop busy."""
    time.sleep(seconds)


async def backlog(iterations: int, seconds: float) -> None:
    """Every iteration of the loop held ``seconds``, as a backlog of ready requests holds it."""
    for _ in range(iterations):
        hold_loop(seconds)
        await asyncio.sleep(0)


async def test_one_long_callback_is_not_a_backlog() -> None:
    lag = LoopLag(interval_s=0.01)
    lag.start(asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.05)
        hold_loop(0.4)
        await asyncio.sleep(0.05)
        assert lag.late_s < 0.2  # generous: CI machines are shared
    finally:
        lag.stop()


async def test_a_backlog_is_late_until_it_drains() -> None:
    lag = LoopLag(interval_s=0.01)
    lag.start(asyncio.get_running_loop())
    try:
        busy = asyncio.create_task(backlog(4, 0.3))
        await asyncio.sleep(0.7)
        assert lag.late_s >= 0.2
        await busy
        await asyncio.sleep(0.3)
        assert lag.late_s < 0.2
    finally:
        lag.stop()
    assert not lag.running


async def test_admission_refuses_while_the_loop_is_late_then_admits() -> None:
    metrics = Metrics()
    admission = Admission(AdmissionSettings(max_loop_lag_s=0.2), metrics)
    admission.precheck("m", None)  # arms the timer; admits
    try:
        busy = asyncio.create_task(backlog(3, 0.4))
        await asyncio.sleep(0.9)
        with pytest.raises(Overloaded, match="behind"):
            admission.precheck("m", None)
        with pytest.raises(Overloaded):
            async with admission.slot("m", time.monotonic() + 5):
                pass
        await busy
        await asyncio.sleep(0.1)
        admission.precheck("m", None)
        async with admission.slot("m", time.monotonic() + 5):
            pass
    finally:
        admission.close()
    refused = metrics.refused.labels(Metrics.UNKNOWN_MODEL, "loop_lag")._value.get()
    assert refused == 2  # a name without a lane is counted under the unknown-model label


async def test_a_queued_request_is_refused_once_it_has_waited_its_share_of_the_target() -> None:
    metrics = Metrics()
    admission = Admission(AdmissionSettings(max_concurrent_per_model=1, latency_target_s=0.4), metrics)
    try:
        async with admission.slot("m", time.monotonic() + 30):  # the one slot, held past the queue's share
            started = time.monotonic()
            with pytest.raises(Overloaded, match="in time"):
                async with admission.slot("m", time.monotonic() + 30):
                    pass
            waited = time.monotonic() - started
    finally:
        admission.close()
    assert waited < 5  # refused after its share of the target (0.2 s here), not at its 30 s deadline
    assert metrics.refused.labels(Metrics.UNKNOWN_MODEL, "queue_wait")._value.get() == 1  # "m" is no known model
