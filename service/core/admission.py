"""Admission before decoding: a bounded queue per model and refusal when the wait would be too long.

Every classify request takes a slot of its model's lane before any input is decoded. A lane runs at
most ``max_concurrent_per_model`` requests, fewer while requests take longer than the latency target
(the open slots shrink by 10% per slow request and grow by one per window of fast ones: more parallel
work on saturated CPUs only makes every request slower); the rest wait in FIFO order, at most
``max_queued_per_model`` of them. A request is refused at once (``Overloaded``, 429 /
RESOURCE_EXHAUSTED) when the queue is full, or when its expected completion passes the sooner of its
own deadline and ``latency_target_s``:

    expected completion = service time x (requests ahead + 1) / open slots + service time

with the service time measured per lane (a moving average of slot-held time, so batching, decode cost
and CPU contention are all in it). Refusing at the door keeps the admitted requests' latency near the
target under any overload instead of letting every request wait until its deadline (finding 5).

Before any lane, ``LoopLag`` (``service.core.loop_lag``): while the event loop runs late by more than
``max_loop_lag_s``, new requests are refused at once, because every request is then waiting in the
loop's backlog before admission can see it; refusing stops the backlog from growing.

Lanes exist only for models the backend knows (the classifier admits after resolving the version), so
made-up names cannot grow them. Per-lane gauges of running and queued requests are exported for
autoscalers (``classifier_inflight_requests``, ``classifier_queued_requests``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.core.loop_lag import LoopLag
from service.errors import DeadlineExceeded, Overloaded
from service.metrics import Metrics
from service.settings import AdmissionSettings

# Weight of the newest sample in the service-time average: reacts within ~10 requests, smooths outliers.
_EWMA_WEIGHT = 0.1


class Lane:
    """One model's admission state: its slots, the FIFO queue in front of them, its measured service time,
    and the number of slots currently open (adapted so that a request's service stays within the target)."""

    __slots__ = ("limit", "max_slots", "queue", "running", "service_s")

    def __init__(self, slots: int) -> None:
        self.max_slots = slots
        self.limit = float(slots)
        self.queue: deque[asyncio.Future[None]] = deque()
        self.running = 0
        self.service_s = 0.0  # 0 until the first request finishes: nothing is refused on a guess

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self.queue)

    @property
    def full(self) -> bool:
        """Whether a new request would have to wait."""
        return bool(self.queue) or self.running >= int(self.limit)

    def observe(self, seconds: float, target_s: float) -> None:
        """Fold one slot-held time into the moving average and adapt the open slots: fewer while service
        takes longer than the target (more parallel work only slows each request down), one more per
        request served within it (additive increase, multiplicative decrease)."""
        if self.service_s == 0.0:
            self.service_s = seconds
        else:
            self.service_s += _EWMA_WEIGHT * (seconds - self.service_s)
        if seconds > target_s:
            self.limit = max(1.0, self.limit * 0.9)
        else:
            self.limit = min(float(self.max_slots), self.limit + 1.0 / max(self.limit, 1.0))

    def wake(self) -> None:
        """Start queued requests while slots are open."""
        while self.queue and self.running < int(self.limit):
            waiter = self.queue.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)


class Admission:
    """Per-model lanes with deadline-aware refusal; one instance per classify core, used on its event loop."""

    def __init__(self, settings: AdmissionSettings, metrics: Metrics) -> None:
        self.settings = settings
        self._metrics = metrics
        self._lanes: dict[str, Lane] = {}
        self.loop_lag = LoopLag()

    def lane(self, model: str) -> Lane | None:
        """The lane of ``model`` if it has taken a request (for tests and reports)."""
        return self._lanes.get(model)

    def precheck(self, model: str, timeout_s: float | None) -> None:
        """Refuse now, before the body is read, what ``slot`` would refuse; admits nothing."""
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is not None:
            self._refuse_if_late(model, lane, time.monotonic() + timeout_s if timeout_s else None)

    @asynccontextmanager
    async def slot(self, model: str, deadline: float) -> AsyncIterator[None]:
        """Hold a slot of ``model``'s lane for the body of the ``async with``; queue or refuse first."""
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = Lane(self.settings.max_concurrent_per_model)
        if lane.full:
            self._refuse_if_late(model, lane, deadline)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.queue.append(waiter)
            self._metrics.set_queued(model, lane.waiting)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), deadline - time.monotonic())
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    lane.running -= 1  # the slot was given just as the wait ended: hand it on
                    lane.wake()
                else:
                    waiter.cancel()
                    if waiter in lane.queue:
                        lane.queue.remove(waiter)
                self._metrics.set_queued(model, lane.waiting)
                if isinstance(exc, TimeoutError):
                    raise DeadlineExceeded("the request's deadline passed while it waited for admission") from exc
                raise
            self._metrics.set_queued(model, lane.waiting)
        else:
            lane.running += 1
        self._metrics.set_inflight(model, lane.running)
        started = time.monotonic()
        try:
            yield
        finally:
            lane.observe(time.monotonic() - started, self.settings.latency_target_s)
            lane.running -= 1
            lane.wake()
            self._metrics.set_inflight(model, lane.running)

    def _refuse_if_loop_late(self, model: str) -> None:
        lag = self.loop_lag
        if not lag.running:  # armed on the loop of the first request, which is the serving loop
            lag.start(asyncio.get_running_loop())
        elif lag.late_s > self.settings.max_loop_lag_s:
            known = model if model in self._lanes else Metrics.UNKNOWN_MODEL  # no label for made-up names
            self._refuse(known, "loop_lag", f"the server is {lag.late_s:.2f}s behind")

    def close(self) -> None:
        """Stop the loop-lag timer (at shutdown)."""
        self.loop_lag.stop()

    def _refuse_if_late(self, model: str, lane: Lane, deadline: float | None) -> None:
        settings = self.settings
        if not lane.full:
            return
        if lane.waiting >= settings.max_queued_per_model:
            self._refuse(model, "queue_full", f"{lane.waiting} requests of model '{model}' are already waiting")
        expected = lane.service_s * ((lane.waiting + 1) / max(lane.limit, 1.0) + 1)
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
