"""Admission before decoding: a bounded queue per model and refusal when the wait would be too long.

Every classify request takes a slot of its model's lane before any input is decoded. A lane runs at
most ``max_concurrent_per_model`` requests, fewer while requests take longer than the latency target
(the open slots shrink by 10% per slow request and grow by one per window of fast ones: more parallel
work on saturated CPUs only makes every request slower); the rest wait in FIFO order, at most
``max_queued_per_model`` of them. A request is refused at once (``Overloaded``, 429 /
RESOURCE_EXHAUSTED) when the queue is full, when its expected completion passes the sooner of its own
deadline and ``latency_target_s``, or when its expected wait for a slot passes ``QUEUE_SHARE`` of the target:

    expected wait = service time x (requests ahead + 1) / open slots
    expected completion = expected wait + service time

with the service time measured per lane (a moving average of slot-held time, so batching, decode cost
and CPU contention are all in it). "Requests ahead" include those the HTTP protocol let through the door
that have not reached their slot yet (``Lane.in_transit``). A queued request that has waited its share of
the target without a slot is refused then (slots may have shrunk since it was let in). Refusing at the
door keeps the admitted requests' latency near the target under any overload instead of letting every
request wait until its deadline (finding 5).

The event loop's lateness (``LoopLag``, ``service.core.loop_lag``) steers the lanes too. A loop that runs
late means the process has no CPU to spare: requests then wait in socket buffers and in the loop's
backlog, where no lane sees them, and refusing them costs CPU as well. So every sample later than
``loop_lag_target_s`` shrinks every lane's open slots by 10%, until the admitted work leaves the loop
enough time to read, and refuse, everything else at once; fast requests grow the slots back. This is what
holds the admitted requests' latency under an overload several times the capacity: the lanes alone only
see the service time, which stays short while the queue in front of the process grows. Past
``max_loop_lag_s`` new requests are refused outright until the loop catches up.

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
#: The share of the latency target a request may spend queued for a slot; the rest is for its service and,
#: under load, the event loop's turns before and after it.
QUEUE_SHARE = 0.25
# Open slots kept per late loop-lag sample (one every ~20 ms while late): halved within ~0.15 s.
_LATE_LOOP_DECREASE = 0.9


class Lane:
    """One model's admission state: its slots, the FIFO queue in front of them, its measured service time,
    and the number of slots currently open (adapted so that a request's service stays within the target)."""

    __slots__ = ("limit", "max_slots", "passed", "queue", "running", "service_s")

    def __init__(self, slots: int) -> None:
        self.max_slots = slots
        self.limit = float(slots)
        self.queue: deque[asyncio.Future[None]] = deque()
        self.running = 0
        self.service_s = 0.0  # 0 until the first request finishes: nothing is refused on a guess
        #: When each request let through the door (``precheck(at_door=True)``) and not yet at its slot passed.
        self.passed: deque[float] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self.queue)

    @property
    def full(self) -> bool:
        """Whether a new request would have to wait."""
        return bool(self.queue) or self.running >= int(self.limit)

    def let_through(self, now: float, horizon_s: float) -> None:
        """Remember a request let through the door at ``now`` (forgetting those older than ``horizon_s``)."""
        self.in_transit(now, horizon_s)
        self.passed.append(now)

    def in_transit(self, now: float, horizon_s: float) -> int:
        """Requests let through the door within ``horizon_s`` that have not reached their slot yet.

        Under load a request needs several turns of the event loop between its headers and its slot (body,
        parsing, decoding), and every request the door lets through in that time would otherwise be judged
        on a lane that does not know about the ones ahead of it. Entries older than the horizon are
        forgotten: those requests ended on the way (a bad body, a disconnect)."""
        passed = self.passed
        while passed and passed[0] < now - horizon_s:
            passed.popleft()
        return len(passed)

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
        self.loop_lag = LoopLag(on_sample=self._on_loop_lag)

    def lane(self, model: str) -> Lane | None:
        """The lane of ``model`` if it has taken a request (for tests and reports)."""
        return self._lanes.get(model)

    def precheck(self, model: str, timeout_s: float | None, *, at_door: bool = False) -> None:
        """Refuse now, before the body is read, what ``slot`` would refuse; admits nothing. ``at_door``: the
        first check of a request (the HTTP protocol's), whose pass is remembered until the request reaches
        its slot, so that the requests still on their way count as ahead of the next one."""
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is not None:
            now = time.monotonic()
            self._refuse_if_late(model, lane, now + timeout_s if timeout_s else None, at_door=at_door)
            if at_door:
                lane.let_through(now, self.settings.latency_target_s)

    @asynccontextmanager
    async def slot(self, model: str, deadline: float) -> AsyncIterator[None]:
        """Hold a slot of ``model``'s lane for the body of the ``async with``; queue or refuse first."""
        settings = self.settings
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = Lane(settings.max_concurrent_per_model)
        if lane.passed:
            lane.passed.popleft()  # this request, or one let in before it: on its way no more
        if lane.full:
            self._refuse_if_late(model, lane, deadline)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.queue.append(waiter)
            self._metrics.set_queued(model, lane.waiting)
            # A queued request waits at most until its deadline and at most its share of the latency
            # target: slots can shrink after it was let in (a late loop), and a longer wait would break
            # the promise that admitted requests answer within the target.
            give_up = min(deadline, time.monotonic() + settings.latency_target_s * QUEUE_SHARE)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), give_up - time.monotonic())
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
                    if give_up < deadline:
                        self._refuse(model, "queue_wait", f"model '{model}' could not start this request in time")
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

    def _on_loop_lag(self, late_s: float) -> None:
        if late_s > self.settings.loop_lag_target_s:
            for lane in self._lanes.values():
                lane.limit = max(1.0, lane.limit * _LATE_LOOP_DECREASE)

    def close(self) -> None:
        """Stop the loop-lag timer (at shutdown)."""
        self.loop_lag.stop()

    def _refuse_if_late(self, model: str, lane: Lane, deadline: float | None, *, at_door: bool = False) -> None:
        settings = self.settings
        # Requests in transit matter only while the loop is late: then they take many turns to reach their
        # slot. On a calm loop they are there within a turn, and the ones that ended on the way (a bad body)
        # would only be counted against the next request.
        late = self.loop_lag.late_s > settings.loop_lag_target_s
        in_transit = lane.in_transit(time.monotonic(), settings.latency_target_s) if at_door and late else 0
        if not lane.full and lane.running + in_transit < int(lane.limit):
            return
        ahead = lane.waiting + in_transit
        if ahead >= settings.max_queued_per_model:
            self._refuse(model, "queue_full", f"{ahead} requests of model '{model}' are already waiting")
        wait = lane.service_s * (ahead + 1) / max(lane.limit, 1.0)
        expected = wait + lane.service_s
        budget = settings.latency_target_s
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        if expected > budget or wait > settings.latency_target_s * QUEUE_SHARE:
            self._refuse(
                model, "expected_wait", f"model '{model}' would answer in about {expected:.2f}s, past {budget:.2f}s"
            )

    def _refuse(self, model: str, reason: str, detail: str) -> None:
        self._metrics.count_refused(model, reason)
        raise Overloaded(f"overloaded: {detail}; retry later", retry_after_s=self.settings.retry_after_s)
