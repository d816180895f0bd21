"""Admission's lanes (``service.core.admission``): the door judges a request by the lane's measured
throughput, its tickets count the requests on their way to a slot exactly, and the open slots follow the
latency of the requests served."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.core.admission import (
    EXPECTED_SHARE,
    HEADROOM_REASON,
    LATENCY_SHARE,
    Admission,
    DoorTicket,
    Lane,
    current_ticket,
)
from service.core.headroom import ENTER_REFUSALS
from service.errors import Overloaded
from service.metrics import Metrics
from service.settings import AdmissionSettings


def test_a_late_answer_shrinks_the_slots_once_per_round_trip_and_answers_in_time_grow_them() -> None:
    lane = Lane(32)
    late = 1.0 * LATENCY_SHARE * 1.05  # just late
    lane.observe_latency(started=10.0, ended=10.0 + late, target_s=1.0)
    assert lane.limit == pytest.approx(32 * 0.9)
    # Requests that started before that shrink were in the same round trip: they do not shrink it again.
    for started in (10.1, 10.2, 10.3):
        lane.observe_latency(started=started, ended=started + late, target_s=1.0)
    assert lane.limit == pytest.approx(32 * 0.9)
    lane.observe_latency(started=11.0, ended=11.0 + late, target_s=1.0)  # a later round trip
    assert lane.limit == pytest.approx(32 * 0.81)
    lane.observe_latency(started=12.0, ended=12.0 + 4 * LATENCY_SHARE, target_s=1.0)  # far too late: a tenth too
    assert lane.limit == pytest.approx(32 * 0.729)
    shrunk = lane.limit
    for _ in range(30):
        lane.observe_latency(started=20.0, ended=20.1, target_s=1.0)
    assert shrunk + 1 < lane.limit <= 32


def test_the_slots_never_shrink_below_one() -> None:
    lane = Lane(4)
    for step in range(50):
        lane.observe_latency(started=float(step), ended=step + 0.9, target_s=1.0)
    assert lane.limit == 1.0


async def test_the_door_counts_requests_on_their_way_until_their_slot_and_refuses_past_the_queue() -> None:
    metrics = Metrics()
    admission = Admission(AdmissionSettings(max_concurrent_per_model=2, max_queued_per_model=1), metrics)
    try:
        assert admission.enter("m", None) is None  # no lane yet: the route judges the first request
        async with admission.slot("m", time.monotonic() + 5):
            pass
        lane = admission.lane("m")
        assert lane is not None
        first, second = admission.enter("m", None), admission.enter("m", None)
        assert isinstance(first, DoorTicket) and isinstance(second, DoorTicket) and lane.transit == 2
        # Two on their way fill both slots, and a third would wait behind two: past the queue of one.
        with pytest.raises(Overloaded, match="already waiting"):
            admission.enter("m", None)
        token = current_ticket.set(first)
        try:
            async with admission.slot("m", time.monotonic() + 5):
                assert lane.transit == 1 and lane.running == 1
        finally:
            current_ticket.reset(token)
        first.done()
        second.done()  # its client went away before its slot
        assert lane.transit == 0 and lane.running == 0
        assert admission.enter("m", None) is not None
    finally:
        admission.close()
    assert metrics.refused.labels(Metrics.UNKNOWN_MODEL, "queue_full")._value.get() == 1  # "m" is no known model


async def test_a_ticket_adapts_the_slots_to_its_latency_from_the_door_only_when_served() -> None:
    admission = Admission(AdmissionSettings(max_concurrent_per_model=10, latency_target_s=0.2), Metrics())
    try:
        async with admission.slot("m", time.monotonic() + 5):
            pass
        lane = admission.lane("m")
        assert lane is not None and lane.limit == 10
        refused = admission.enter("m", None)
        assert refused is not None
        await asyncio.sleep(0.15)
        refused.done()  # never held a slot (a bad body, a refusal by the route): says nothing of latency
        assert lane.limit == 10
        served = admission.enter("m", None)
        assert served is not None
        await asyncio.sleep(0.15)  # waiting for the event loop: the slot's own clock does not see it
        token = current_ticket.set(served)
        try:
            async with admission.slot("m", time.monotonic() + 5):
                pass
        finally:
            current_ticket.reset(token)
        assert lane.limit == 10  # a served ticket is judged when its answer is written
        served.done()
        assert lane.limit == pytest.approx(9.0)
    finally:
        admission.close()


def test_a_lane_measures_its_throughput_by_littles_law() -> None:
    lane = Lane(2)
    assert lane.throughput == 0.0  # nothing measured: nothing is refused on a guess
    for _ in range(3):
        lane.observe_service(0.1, running=4)  # four at once, 0.1 s each: 40 a second
    assert lane.throughput == 0.0  # the first 2 x max_slots requests of a lane are cold: not judged by them
    lane.observe_service(0.1, running=4)
    assert lane.throughput == pytest.approx(40.0)
    for _ in range(200):
        lane.observe_service(0.2, running=8)  # twice as many at once, each twice as slow: no faster
    assert lane.throughput == pytest.approx(40.0, rel=0.01)


async def test_the_door_judges_a_burst_by_throughput_not_by_idle_slots() -> None:
    # Finding 5's onset: 64 idle slots and a calm minute's service time let a burst in at the calm speed.
    settings = AdmissionSettings(max_concurrent_per_model=64, max_queued_per_model=256, latency_target_s=2.0)
    admission = Admission(settings, Metrics())
    try:
        async with admission.slot("m", time.monotonic() + 5):
            pass
        lane = admission.lane("m")
        assert lane is not None
        lane.service_s, lane.parallel, lane.completed = 0.1, 2.0, 2 * lane.max_slots  # 20 requests a second
        allowed = int(EXPECTED_SHARE * settings.latency_target_s * lane.throughput)
        assert 0 < allowed < lane.max_slots  # the bound is the throughput, not the free slots
        tickets = [admission.enter("m", None) for _ in range(allowed)]
        assert lane.transit == allowed
        with pytest.raises(Overloaded, match="would answer in about"):
            admission.enter("m", None)
        # A deadline sooner than the expected answer is refused even with the lane empty.
        for ticket in tickets:
            assert isinstance(ticket, DoorTicket)
            ticket.done()
        assert lane.transit == 0
        with pytest.raises(Overloaded):
            admission.enter("m", 0.5 / lane.throughput)
        assert admission.enter("m", 2 / lane.throughput) is not None
    finally:
        admission.close()


async def test_during_an_overload_the_door_and_a_slot_without_ticket_also_need_a_token() -> None:
    """The headroom bucket (``service.core.headroom``) sits behind the lanes' own checks, at the REST door
    and at the slot of a request that did not come through it (gRPC), with its own refusal reason."""
    metrics = Metrics()
    admission = Admission(AdmissionSettings(max_concurrent_per_model=4, latency_target_s=10.0), metrics)
    try:
        async with admission.slot("m", time.monotonic() + 5):
            pass
        lane = admission.lane("m")
        assert lane is not None
        lane.service_s, lane.parallel, lane.completed = 0.01, 1.0, 2 * lane.max_slots
        now = time.monotonic()
        for _ in range(ENTER_REFUSALS):
            admission.headroom.refused(now, by_door=True)
        admission.headroom.sample(1.0, now)  # a second late: the bucket starts at its lowest rate
        assert admission.headroom.limiting
        ticket = admission.enter("m", None)  # the bucket's burst: two requests
        assert isinstance(ticket, DoorTicket)
        async with admission.slot("m", time.monotonic() + 5):  # no ticket: judged at the slot
            pass
        with pytest.raises(Overloaded, match="keeping time"):
            admission.enter("m", None)
        with pytest.raises(Overloaded, match="keeping time"):
            async with admission.slot("m", time.monotonic() + 5):
                pass
        ticket.done()
    finally:
        admission.close()
    assert metrics.refused.labels(Metrics.UNKNOWN_MODEL, HEADROOM_REASON)._value.get() == 2


def test_one_stalled_request_counts_at_most_four_times_the_service_time() -> None:
    lane = Lane(1)
    for _ in range(2):
        lane.observe_service(0.1, running=1)
    before = lane.throughput
    lane.observe_service(30.0, running=1)  # the machine stalled for half a minute
    assert lane.service_s == pytest.approx(0.1 + 0.1 * (0.4 - 0.1))
    assert lane.throughput > 0.7 * before
