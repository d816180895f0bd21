"""Admission before decoding: a bounded queue per model and refusal when the wait would be too long.

Every classify request takes a slot of its model's lane before any input is decoded. A lane runs at
most ``max_concurrent_per_model`` requests, fewer while its requests answer late (see below); the rest
wait in FIFO order, at most ``max_queued_per_model`` of them. A request is refused at once
(``Overloaded``, 429 / RESOURCE_EXHAUSTED) when the queue is full, or when its expected answer passes the
sooner of its own deadline and ``EXPECTED_SHARE`` of ``latency_target_s``, by Little's law:

    throughput = parallelism / service time
    expected answer = (requests in the lane: running, queued, on their way + 1) / throughput

with the service time and the parallelism it was measured at both measured per lane (moving averages of
the slot-held time and of the requests holding a slot when one ends, so batching, decode cost and CPU
contention are all in it). A queued request that has waited ``MAX_QUEUE_SHARE`` of the target without a
slot is refused then (slots may have shrunk since it was let in). The door's share is the smaller one on
purpose: a refusal is promised fast, so the decision is made before a request queues, and a request let
into the queue is given room to wait out a burst rather than a late 429.

**The door.** REST requests are first judged by the HTTP protocol as soon as their headers are parsed
(``service.rest.early_shed``): ``enter`` refuses them there, before any body is read, or hands out a
``DoorTicket`` that the protocol gives back when the answer is written or the connection is lost. Until
a ticket's request reaches its slot it counts as ahead of every later request (``Lane.transit``): under
load a request needs several turns of the event loop between its headers and its slot, and the requests
let through in that time would otherwise be judged on a lane that does not know about them. The count is
exact, because every ticket comes back.

**Open slots follow the latency that clients see.** A ticket measures its request from the door to the
answer, which includes the turns the request waited for the event loop behind other work (reading and
refusing other requests): the wait a slot's own clock cannot see, and the one that grows under an
overload several times the capacity. When a request answers later than ``LATENCY_SHARE`` of the target
(door to answer for a ticket, queue plus slot otherwise), the lane's open slots shrink by 10%, at most
once per round trip: a request that started before the last shrink does not shrink again, as TCP's
congestion window does not shrink once per lost packet. Every
request answered in time grows them by ``1/slots`` (about one slot per round trip). So the admitted work
stays what the process can answer within the target, the rest is refused at the door, and the lanes do
not collapse to one slot on a burst.

Past ``max_loop_lag_s`` of event-loop lateness (``LoopLag``, ``service.core.loop_lag``) new requests are
refused outright until the loop catches up.

**During an overload the admitted rate follows the loop's lateness.** Refusals wait for the event loop,
and at several times the capacity the lanes alone keep it busy (a short queue is refilled at once), so
once the lanes have refused an overload's worth of requests, what they would let in must also get a
token from the ``Headroom`` bucket (``service.core.headroom``), whose rate keeps the loop at most
``headroom_lag_s`` late; the rest is refused (reason ``loop_headroom``). REST requests are judged by it
at the door, others at their slot.

Lanes exist only for models the backend knows (the classifier admits after resolving the version), so
made-up names cannot grow them. Per-lane gauges of running and queued requests are exported for
autoscalers (``classifier_inflight_requests``, ``classifier_queued_requests``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextvars import ContextVar

from service.core.headroom import Headroom
from service.core.loop_lag import LoopLag
from service.errors import DeadlineExceeded, Overloaded
from service.metrics import Metrics
from service.settings import AdmissionSettings

# Weight of the newest sample in the service-time average: reacts within ~10 requests, smooths outliers.
_EWMA_WEIGHT = 0.1
# The most a sample counts, in multiples of the service-time average.
_OUTLIER = 4.0
#: The share of the latency target a request is expected to take (from the door to its answer, at the
#: lane's measured throughput), past which it is refused at once. The rest is the margin for what the
#: estimate cannot see: throughput falls when refusals take the CPU at the onset of an overload, and the
#: event loop's turns before and after the request grow.
EXPECTED_SHARE = 0.25
#: The share of the latency target a queued request may actually wait before it is refused (429).
MAX_QUEUE_SHARE = 0.5
#: A request answered later than this share of the target shrinks its lane's open slots: the margin keeps
#: the slowest admitted requests (p99) within the whole target.
LATENCY_SHARE = 0.5
#: The refusal reason (metrics label) of the headroom bucket.
HEADROOM_REASON = "loop_headroom"
# Open slots kept per shrink (once per round trip).
_DECREASE = 0.9


class Lane:
    """One model's admission state: its slots, the FIFO queue in front of them, its measured service time
    and throughput, the requests on their way from the door to a slot, and the number of slots open."""

    __slots__ = (
        "completed",
        "limit",
        "max_slots",
        "parallel",
        "queue",
        "running",
        "service_s",
        "shrunk_at",
        "transit",
    )

    def __init__(self, slots: int) -> None:
        self.max_slots = slots
        self.limit = float(slots)
        self.queue: deque[asyncio.Future[None]] = deque()
        self.running = 0
        self.service_s = 0.0  # 0 until the first request finishes: nothing is refused on a guess
        #: Moving average of the requests holding a slot when one finishes: the parallelism the service
        #: time was measured at.
        self.parallel = 0.0
        #: Requests that have given their slot back (the measurements so far).
        self.completed = 0
        #: Requests let through the REST door (a ``DoorTicket`` out) that have not reached their slot yet.
        self.transit = 0
        #: When the open slots last shrank; requests that started before it cannot shrink them again.
        self.shrunk_at = 0.0

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return len(self.queue)

    @property
    def holds_one_at_most(self) -> bool:
        """Whether at most one request is in the lane: none queued, none on its way from the door, at most one
        holding a slot (the asker's own)."""
        return self.running <= 1 and not self.queue and not self.transit

    @property
    def full(self) -> bool:
        """Whether a new request would have to wait."""
        return bool(self.queue) or self.running >= int(self.limit)

    def observe_service(self, seconds: float, running: int) -> None:
        """Fold one slot-held time, and the ``running`` requests (this one included) it shared the lane
        with when it ended, into the moving averages."""
        self.completed += 1
        if self.service_s == 0.0:
            self.service_s = seconds
            self.parallel = float(running)
        else:
            # One sample counts at most ``_OUTLIER`` times the average: a stall of the machine (a second-long
            # pause of the VM) would otherwise halve the lane's throughput at once and refuse a closed loop
            # of clients at capacity; a real slowdown still moves the average up, 30% per sample.
            seconds = min(seconds, _OUTLIER * self.service_s)
            self.service_s += _EWMA_WEIGHT * (seconds - self.service_s)
            self.parallel += _EWMA_WEIGHT * (running - self.parallel)

    @property
    def throughput(self) -> float:
        """Requests the lane completes per second, by Little's law (parallelism / service time); 0 until
        ``2 x max_slots`` requests have been measured: a new lane's first requests are cold (TensorFlow's
        first calls, empty caches), and judging a burst by them refused a 32-client closed loop at start."""
        if self.completed < 2 * self.max_slots or self.service_s <= 0.0:
            return 0.0
        return self.parallel / self.service_s

    def observe_latency(self, started: float, ended: float, target_s: float) -> None:
        """Adapt the open slots to one request's latency (``started`` to ``ended``, monotonic seconds): fewer
        when it passed ``LATENCY_SHARE`` of the target, at most once per round trip; about one more per round
        trip of requests answered within it (additive increase, multiplicative decrease)."""
        if ended - started > target_s * LATENCY_SHARE:
            if started >= self.shrunk_at:
                # A tenth per round trip, not in proportion to how late: a proportional cut (up to half)
                # emptied the lanes after a two-second stall of a busy CI machine at 70% load, and the
                # backlog behind the stall was refused (275 429s in the one-minute soak).
                self.limit = max(1.0, self.limit * _DECREASE)
                self.shrunk_at = ended
        else:
            self.limit = min(float(self.max_slots), self.limit + 1.0 / max(self.limit, 1.0))

    def wake(self) -> None:
        """Start queued requests while slots are open."""
        while self.queue and self.running < int(self.limit):
            waiter = self.queue.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)


class DoorTicket:
    """A REST request let through the door (``Admission.enter``): counted ahead of later requests until it
    reaches its slot, and measured from the door to its answer. The HTTP protocol calls ``done`` once, when
    the answer is written or the connection is lost."""

    __slots__ = ("entered", "lane", "served", "slotted", "target_s")

    def __init__(self, lane: Lane, entered: float, target_s: float) -> None:
        self.lane = lane
        self.target_s = target_s
        self.entered = entered
        self.slotted = False
        #: Whether the request held its slot; a request refused or failed before it says nothing of latency.
        self.served = False

    def reach_slot(self) -> None:
        """The request has taken (or been refused) its slot: no longer ahead of the requests behind it."""
        if not self.slotted:
            self.slotted = True
            self.lane.transit -= 1

    def done(self) -> None:
        """The request has ended (answered, or its client gone): adapt the lane to its latency if it was served."""
        self.reach_slot()
        if self.served:
            self.lane.observe_latency(self.entered, time.monotonic(), self.target_s)


#: The ticket of the REST request the current task serves (set by the HTTP protocol while it creates the
#: request's task, which copies the context), so that its slot knows it came through the door.
current_ticket: ContextVar[DoorTicket | None] = ContextVar("door_ticket", default=None)


def _ticket_of(lane: Lane) -> DoorTicket | None:
    """The current request's ticket if it came through the door to ``lane`` (a shadow run on another
    model's lane takes its slot on the request's behalf, without its ticket)."""
    ticket = current_ticket.get()
    return ticket if ticket is not None and ticket.lane is lane else None


class Slot:
    """``async with admission.slot(model, deadline)``: a slot of the model's lane held for the block (a class,
    not a generator-based context manager: it is entered by every request)."""

    __slots__ = ("_admission", "_asked", "_deadline", "_lane", "_model", "_started", "_ticket")

    def __init__(self, admission: Admission, model: str, deadline: float) -> None:
        self._admission = admission
        self._model = model
        self._deadline = deadline

    async def __aenter__(self) -> None:
        self._lane, self._ticket, self._asked = await self._admission.acquire(self._model, self._deadline)
        self._started = time.monotonic()

    async def __aexit__(self, *_exc: object) -> None:
        self._admission.release(self._lane, self._model, self._ticket, self._asked, self._started)


class Admission:
    """Per-model lanes with deadline-aware refusal; one instance per classify core, used on its event loop."""

    def __init__(self, settings: AdmissionSettings, metrics: Metrics) -> None:
        self.settings = settings
        self._metrics = metrics
        self._lanes: dict[str, Lane] = {}
        self.headroom = Headroom(settings.headroom_lag_s)
        self.loop_lag = LoopLag(on_sample=self.headroom.sample)

    def lane(self, model: str) -> Lane | None:
        """The lane of ``model`` if it has taken a request (for tests and reports)."""
        return self._lanes.get(model)

    def enter(self, model: str, timeout_s: float | None) -> DoorTicket | None:
        """The door's check (the HTTP protocol's, on complete headers): refuse now what ``slot`` would
        refuse, or let the request through with a ticket that the protocol must give back (``done``). No
        ticket for a model without a lane (one the backend may not know): the route judges it."""
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is None:
            return None
        now = time.monotonic()
        self._refuse_if_late(model, lane, now + timeout_s if timeout_s else None)
        self._refuse_for_headroom(model, now)
        lane.transit += 1
        return DoorTicket(lane, now, self.settings.latency_target_s)

    def precheck(self, model: str, timeout_s: float | None) -> None:
        """Refuse now, before the body is read, what ``slot`` would refuse; admits nothing."""
        self._refuse_if_loop_late(model)
        lane = self._lanes.get(model)
        if lane is not None:
            self._refuse_if_late(model, lane, time.monotonic() + timeout_s if timeout_s else None)

    def slot(self, model: str, deadline: float) -> Slot:
        """Hold a slot of ``model``'s lane for the body of the ``async with``; queue or refuse first."""
        return Slot(self, model, deadline)

    async def acquire(self, model: str, deadline: float) -> tuple[Lane, DoorTicket | None, float]:
        """Queue for or refuse a slot of ``model``'s lane (``slot`` pairs it with ``release``); returns the
        lane, the request's ticket and when it asked."""
        settings = self.settings
        lane = self._lanes.get(model)
        if lane is None:
            lane = self._lanes[model] = Lane(settings.max_concurrent_per_model)
        ticket = _ticket_of(lane)
        if ticket is not None:
            ticket.reach_slot()  # refused or admitted from here on, it is no longer on its way
        self._refuse_if_loop_late(model)
        full = lane.full
        if full:
            self._refuse_if_late(model, lane, deadline)
        asked = time.monotonic()
        if ticket is None:  # a request through the door was judged there
            self._refuse_for_headroom(model, asked)
        if full:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            lane.queue.append(waiter)
            self._metrics.set_queued(model, lane.waiting)
            # A queued request waits at most until its deadline and at most its share of the latency
            # target: slots can shrink after it was let in, and a longer wait would break the promise that
            # admitted requests answer within the target.
            give_up = min(deadline, asked + settings.latency_target_s * MAX_QUEUE_SHARE)
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
        return lane, ticket, asked

    def release(self, lane: Lane, model: str, ticket: DoorTicket | None, asked: float, started: float) -> None:
        """Give back a slot that ``acquire`` gave at ``started``: adapt the lane, start the next queued request."""
        ended = time.monotonic()
        lane.observe_service(ended - started, lane.running)
        if ticket is None:
            lane.observe_latency(asked, ended, self.settings.latency_target_s)
        else:  # a ticket measures its request from the door, when the answer is written
            ticket.served = True
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
        transit = lane.transit
        ticket = _ticket_of(lane)
        if ticket is not None and not ticket.slotted:
            transit -= 1  # the request being judged (the route's precheck) is not ahead of itself
        if lane.full or lane.running + transit >= int(lane.limit):
            waiting = lane.waiting + transit
            if waiting >= settings.max_queued_per_model:
                self._refuse(model, "queue_full", f"{waiting} requests of model '{model}' are already waiting")
        throughput = lane.throughput
        if throughput == 0.0:
            return  # nothing measured yet: nothing is refused on a guess
        # Little's law: everything in the lane before this request is done, at the measured rate, before it
        # is. It counts all of them, not only those queued: once the process is saturated, more slots at
        # once only make each slower (a per-slot estimate let a burst at the onset of an overload fill the
        # idle slots and the queue at the calm minute's speed, and those requests answered in 1.2-1.5 s).
        expected = (lane.running + lane.waiting + transit + 1) / throughput
        budget = settings.latency_target_s * EXPECTED_SHARE
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        if expected > budget:
            self._refuse(
                model, "expected_wait", f"model '{model}' would answer in about {expected:.2f}s, past {budget:.2f}s"
            )

    def _refuse_for_headroom(self, model: str, now: float) -> None:
        if not self.headroom.admits(now):
            self._refuse(model, HEADROOM_REASON, "the server is keeping time to answer the requests it has")

    def _refuse(self, model: str, reason: str, detail: str) -> None:
        self.headroom.refused(time.monotonic(), by_door=reason != HEADROOM_REASON)
        self._metrics.count_refused(model, reason)
        raise Overloaded(f"overloaded: {detail}; retry later", retry_after_s=self.settings.retry_after_s)
