"""The headroom bucket (``service.core.headroom``): nothing is limited until the lanes' door has refused an
overload's worth of requests; then, from that refusal on, the admitted rate starts at a quarter of what
was being admitted and follows the event loop's lateness, never below its floor; the limit ends a second
after the last refusal, and when only the bucket's own refusals go on, it probes a few seconds after the
door's last one. Driven with explicit times, as the loop-lag timer and admission call it."""

from __future__ import annotations

import pytest

from service.core.headroom import (
    DECREASE,
    ENTER_REFUSALS,
    FLOOR_SHARE,
    HOLD_S,
    INCREASE,
    MAX_CUTS,
    MAX_WITHOUT_DOOR_S,
    PROBE,
    PROBE_QUIET_S,
    START_SHARE,
    Headroom,
)

TARGET_S = 0.01
LATE_S, ON_TIME_S = 2 * TARGET_S, 0.001  # a late sample: twice the target, two cuts
TICK_S = 0.02


def _admit_for(headroom: Headroom, start: float, seconds: float, per_second: int) -> int:
    """Offer ``per_second`` requests a second, evenly, for ``seconds``; how many were let in."""
    offered = int(seconds * per_second)
    return sum(headroom.admits(start + i / per_second) for i in range(offered))


def _measured_at(per_second: int) -> tuple[Headroom, float]:
    """A headroom that has seen a second of ``per_second`` admitted requests, and the time after it."""
    headroom, now = Headroom(TARGET_S), 1.0
    for _ in range(50):
        _admit_for(headroom, now, TICK_S, per_second)
        now += TICK_S
        headroom.sample(ON_TIME_S, now)
    return headroom, now


def _door_refuses(headroom: Headroom, now: float, count: int = ENTER_REFUSALS) -> None:
    for _ in range(count):
        headroom.refused(now, by_door=True)


def _overload(headroom: Headroom, now: float, per_second: int) -> float:
    """The door refuses an overload's worth while ``per_second`` are still admitted (the bucket starts at the
    last of those refusals), then the next sample, late, cuts its rate. Returns that sample's time."""
    _door_refuses(headroom, now)
    _admit_for(headroom, now, TICK_S, per_second)
    headroom.sample(LATE_S, now + TICK_S)
    return now + TICK_S


def test_nothing_is_limited_without_an_overload_however_late_the_loop() -> None:
    headroom = Headroom(TARGET_S)
    for tick in range(100):
        headroom.sample(LATE_S, 1.0 + tick * TICK_S)
    assert not headroom.limiting
    assert _admit_for(headroom, 3.0, 1.0, 5000) == 5000


def test_a_few_door_refusals_do_not_start_an_overload_nor_do_the_buckets_own() -> None:
    headroom = Headroom(TARGET_S)
    _door_refuses(headroom, 1.0, ENTER_REFUSALS - 1)
    for _ in range(10 * ENTER_REFUSALS):
        headroom.refused(1.0, by_door=False)
    headroom.sample(LATE_S, 1.02)
    assert not headroom.limiting
    # As many, spread over more than HOLD_S: the count starts again.
    spacing = 1.1 * HOLD_S / (ENTER_REFUSALS - 1)
    for i in range(2 * ENTER_REFUSALS):
        headroom.refused(2.0 + i * spacing, by_door=True)
        headroom.sample(LATE_S, 2.0 + i * spacing)
    assert not headroom.limiting


def test_an_overload_limits_the_admitted_rate_by_the_loops_lateness_and_ends_after_a_quiet_second() -> None:
    headroom, now = _measured_at(300)
    assert headroom.admitted_rate == pytest.approx(300, rel=0.1)
    _door_refuses(headroom, now)
    assert headroom.limiting and headroom.rate == pytest.approx(START_SHARE * 300, rel=0.1)  # from this refusal
    _admit_for(headroom, now, TICK_S, 300)
    now += TICK_S
    headroom.sample(LATE_S, now)  # cut at once: the loop is late
    started = headroom.rate
    assert started == pytest.approx(START_SHARE * 300 * DECREASE**2, rel=0.1)
    now += TICK_S
    headroom.refused(now, by_door=False)  # the bucket refuses: the overload goes on
    headroom.sample(ON_TIME_S, now)
    assert headroom.rate == pytest.approx(started * INCREASE)
    now += TICK_S
    before = headroom.rate
    headroom.sample(100 * TARGET_S, now)  # however late, one sample cuts at most MAX_CUTS times
    assert headroom.rate == pytest.approx(before * DECREASE**MAX_CUTS)
    # 2,000 offered a second: the bucket lets in its rate, give or take its burst of two.
    rate = headroom.rate
    assert abs(_admit_for(headroom, now, 0.5, 2000) - rate * 0.5) <= 3
    now += HOLD_S + 0.1  # a second without any refusal: over, nothing limited
    headroom.sample(ON_TIME_S, now)
    assert not headroom.limiting
    assert _admit_for(headroom, now, 0.1, 2000) == 200


def test_the_rate_never_falls_below_a_tenth_of_the_admitted_rate_it_started_from() -> None:
    headroom, now = _measured_at(500)
    now = _overload(headroom, now, 500)
    for _ in range(200):
        now += TICK_S
        headroom.refused(now, by_door=True)
        headroom.sample(LATE_S, now)
    assert headroom.limiting
    assert headroom.rate == pytest.approx(FLOOR_SHARE * 500, rel=0.1)


def test_the_buckets_own_refusals_keep_it_on_for_a_while_then_it_probes_until_what_comes_fits() -> None:
    """A closed loop of clients retrying at once refuses itself: without the door the bucket must let it go."""
    headroom, now = _measured_at(300)
    last_door = now
    now = _overload(headroom, now, 300)
    while now < last_door + MAX_WITHOUT_DOOR_S + HOLD_S:
        now += TICK_S
        headroom.refused(now, by_door=False)
        headroom.sample(LATE_S, now)
    assert headroom.limiting
    # Probing: the rate grows however late the loop, while the bucket still refuses.
    for _ in range(10):
        before = headroom.rate
        now += TICK_S
        headroom.refused(now, by_door=False)
        headroom.sample(LATE_S, now)
        assert headroom.rate == pytest.approx(before * PROBE)
    # Once it refuses nothing for PROBE_QUIET_S, what comes fits under it: it is gone.
    quiet_until = now + PROBE_QUIET_S
    while now < quiet_until:
        now += TICK_S
        headroom.sample(LATE_S, now)
    assert not headroom.limiting
    assert _admit_for(headroom, now, 0.1, 2000) == 200


def test_a_refusal_by_the_door_while_probing_shows_the_overload_goes_on() -> None:
    headroom, now = _measured_at(300)
    now = _overload(headroom, now, 300)
    for _ in range(int((MAX_WITHOUT_DOOR_S + HOLD_S) / TICK_S) + 5):
        now += TICK_S
        headroom.refused(now, by_door=False)
        headroom.sample(ON_TIME_S, now)
    probing = headroom.rate
    headroom.refused(now, by_door=True)  # the lanes fill again
    now += TICK_S
    headroom.sample(LATE_S, now)
    assert headroom.limiting
    assert headroom.rate == pytest.approx(probing * DECREASE**2)  # the rate follows the loop again
    for _ in range(int(MAX_WITHOUT_DOOR_S / TICK_S) - 5):  # and its own refusals keep it on again
        now += TICK_S
        headroom.refused(now, by_door=False)
        headroom.sample(LATE_S, now)
    assert headroom.limiting
