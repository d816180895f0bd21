"""Admission before decoding: a bounded queue per model and refusal when the wait would be too long.

Every classify request takes a slot of its model's lane before any input is decoded. A lane runs at
most ``max_concurrent_per_model`` requests; the rest wait in FIFO order, at most ``max_queued_per_model``
of them. A request is refused at once (``Overloaded``, 429 / RESOURCE_EXHAUSTED) when the queue is full,
or when its expected completion passes the sooner of its own deadline and ``latency_target_s``:

    expected completion = service time x (requests ahead + 1) / parallel slots + service time

with the service time measured per lane (a moving average of slot-held time, so batching, decode cost
and CPU contention are all in it). Refusing at the door keeps the admitted requests' latency near the
target under any overload instead of letting every request wait until its deadline (finding 5).

Lanes exist only for models the backend knows (the classifier admits after resolving the version), so
made-up names cannot grow them. Per-lane gauges of running and queued requests are exported for
autoscalers (``classifier_inflight_requests``, ``classifier_queued_requests``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.errors import DeadlineExceeded, Overloaded
from service.metrics import Metrics
from service.settings import AdmissionSettings

# Weight of the newest sample in the service-time average: reacts within ~10 requests, smooths outliers.
_EWMA_WEIGHT = 0.1


class Lane:
    """One model's admission state: slots, the queue in front of them, and its measured service time."""

    __slots__ = ("free", "running", "service_s", "waiting")

    def __init__(self, slots: int) -> None:
        self.free = asyncio.Semaphore(slots)
        self.running = 0
        self.waiting = 0
        self.service_s = 0.0  # 0 until the first request finishes: nothing is refused on a guess

    def observe(self, seconds: float) -> None:
        """Fold one slot-held time into the moving average."""
        if self.service_s == 0.0:
            self.service_s = seconds
        else:
            self.service_s += _EWMA_WEIGHT * (seconds - self.service_s)


class Admission:
    """Per-model lanes with deadline-aware refusal; one instance per classify core, used on its event loop."""

    def __init__(self, settings: AdmissionSettings, metrics: Metrics) -> None:
        self.settings = settings
        self._metrics = metrics
        self._lanes: dict[str, Lane] = {}

    def lane(self, model: str) -> Lane | None:
        """The lane of ``model`` if it has taken a request (for tests and reports)."""
        return self._lanes.get(model)

    def precheck(self, model: str, timeout_s: float | None) -> None:
        """Refuse now, before the body is read, what ``slot`` would refuse; admits nothing."""
        lane = self._lanes.get(model)
        if lane is not None:
            self._refuse_if_late(model, lane, time.monotonic() + timeout_s if timeout_s else None)

    @asynccontextmanager
    async def slot(self, model: str, deadline: float) -> AsyncIterator[None]:
        """Hold a slot of ``model``'s lane for the body of the ``async with``; queue or refuse first."""
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = Lane(self.settings.max_concurrent_per_model)
        if lane.waiting or lane.free.locked():
            self._refuse_if_late(model, lane, deadline)
            lane.waiting += 1
            self._metrics.set_queued(model, lane.waiting)
            try:
                await asyncio.wait_for(lane.free.acquire(), deadline - time.monotonic())
            except TimeoutError as exc:
                raise DeadlineExceeded("the request's deadline passed while it waited for admission") from exc
            finally:
                lane.waiting -= 1
                self._metrics.set_queued(model, lane.waiting)
        else:
            await lane.free.acquire()  # free: returns at once
        lane.running += 1
        self._metrics.set_inflight(model, lane.running)
        started = time.monotonic()
        try:
            yield
        finally:
            lane.observe(time.monotonic() - started)
            lane.running -= 1
            self._metrics.set_inflight(model, lane.running)
            lane.free.release()

    def _refuse_if_late(self, model: str, lane: Lane, deadline: float | None) -> None:
        settings = self.settings
        if lane.waiting == 0 and not lane.free.locked():
            return
        if lane.waiting >= settings.max_queued_per_model:
            self._refuse(model, "queue_full", f"{lane.waiting} requests of model '{model}' are already waiting")
        expected = lane.service_s * ((lane.waiting + 1) / settings.max_concurrent_per_model + 1)
        budget = settings.latency_target_s
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        if expected > budget:
            self._refuse(
                model, "expected_wait", f"model '{model}' would answer in about {expected:.2f}s, past {budget:.2f}s"
            )

    def _refuse(self, model: str, reason: str, detail: str) -> None:
        self._metrics.count_refused(model, reason)
        raise Overloaded(f"overloaded: {detail}; retry later", retry_after_s=self.settings.retry_after_s)
