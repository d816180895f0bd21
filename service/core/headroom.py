"""``Headroom``: during an overload, keep the event loop's turns short by admitting at a rate it can keep up with.

The lanes' door (``service.core.admission``) lets a request in while its expected answer fits the latency
target. That keeps admitted requests in time, but not the refusals: once arrivals pass capacity, the
door keeps every lane busy, the process's core runs at 100%, and each turn of the event loop lasts as
long as the work that arrived during the one before (measured at 5x overload: turns of 24 ms at the
median and 46 ms at p90; a refusal waits for the turn its bytes arrive in and for its place in the next,
so refusals took 37 ms at the median and 110-260 ms at p99, where 50 ms is promised). Shorter queues
cannot fix that: at five times the capacity, a lane held to one request is still never empty. Only an
admitted rate below capacity leaves the loop idle moments, and then its turns shrink.

So once the lanes' door has refused ``ENTER_REFUSALS`` requests within ``HOLD_S`` (the process is
overloaded, not merely busy: a closed loop of clients at capacity rarely gets there), admission also
passes a ``TokenBucket`` (``service.core.token_bucket``), from that refusal on. Its rate starts at
``START_SHARE`` of the rate requests were being admitted and follows the loop's lateness (``LoopLag``'s
samples, 50 a second when on time): cut by ``DECREASE`` per ``lag_target_s`` of lateness in a sample (at
most ``MAX_CUTS`` times), raised by ``INCREASE`` at each sample on time, never below ``FLOOR_SHARE`` of the
admitted rate it started from. A request without a token is refused (reason ``loop_headroom``). The rate
settles where admitted work leaves the loop its target lateness. It starts low because an overload starts
when the loop is furthest behind (the lanes have just filled, the clients are opening connections), so it
is found from below: in two runs at 5x, refusals in the second after the start took 6-17 ms at the median
when it started from the admitted rate, 1 ms from a quarter of it. ``HOLD_S`` after the last refusal that
keeps the overload on, the bucket is gone and nothing is limited.

**Clients that retry at once.** The bucket's own refusals keep it on, or a steady overload would lose it
each time the lanes empty. But a loop at capacity runs late by itself, so clients that send again as
soon as they are refused (a closed loop: each refusal brings the next request) would keep it on for good
once a moment's dip of a lane's measured throughput had started it. So its own refusals keep it on for
at most ``MAX_WITHOUT_DOOR_S`` after the door's last one; then the bucket **probes**: its rate grows by
``PROBE`` per sample, however late the loop, until the door refuses again (the overload is still there:
the rate follows the loop again) or the bucket has refused nothing for ``PROBE_QUIET_S`` (what comes fits:
it is gone). Lifting it at once instead, as first built, let a steady overload refill the lanes in one
burst every few seconds (a second of 429 p99 of 100-340 ms each time), and did not end a retry storm: 32
clients retrying at once after 2 s at 5x got 11-99 answers a second for 12 s with it, and with the probe
30-80 for 5 s, then 250-280 (capacity 305).
"""

from __future__ import annotations

from service.core.token_bucket import TokenBucket

#: Rate kept per late sample (every 20 ms or later), per ``lag_target_s`` of lateness.
DECREASE = 0.9
#: The most ``DECREASE`` applies at once, however late the sample: a rate can drop by 41% in one step.
MAX_CUTS = 5.0
#: Rate gained per sample on time: about 1.6x a second.
INCREASE = 1.01
#: The rate an overload starts at, as a share of the rate requests were being admitted.
START_SHARE = 0.25
#: Rate gained per sample while the bucket probes: 2.7x in 20 samples (0.4 s or more).
PROBE = 1.05
#: While probing, the bucket is gone once it has refused nothing for this long.
PROBE_QUIET_S = 0.2
#: Tokens the bucket holds at most: admitted requests come evenly, not in bursts that lengthen a turn.
BURST = 2.0
#: The lowest rate, as a share of the admitted rate an overload started from: refusals cost CPU too, and
#: clients that retry at once would otherwise drive the rate to nothing.
FLOOR_SHARE = 0.1
#: The lowest rate in requests a second: some must go through to keep measuring the lanes.
MIN_RATE = 2.0
#: Refusals by the lanes' door within ``HOLD_S`` that start an overload.
ENTER_REFUSALS = 64
#: How long after the last refusal the overload ends.
HOLD_S = 1.0
#: How long the bucket's own refusals keep it on after the door's last refusal.
MAX_WITHOUT_DOOR_S = 5.0
#: Weight of the newest sample in the moving average of the admitted rate.
_RATE_WEIGHT = 0.2


class Headroom:
    """The admitted rate that keeps the event loop on time during an overload (one per event loop)."""

    __slots__ = (
        "_admitted",
        "_bucket",
        "_door_refusals",
        "_floor",
        "_last_door_refusal",
        "_last_own_refusal",
        "_last_sample",
        "_overloaded_until",
        "_window_start",
        "admitted_rate",
        "lag_target_s",
    )

    def __init__(self, lag_target_s: float) -> None:
        self.lag_target_s = lag_target_s
        #: The bucket during an overload; None otherwise (nothing limited).
        self._bucket: TokenBucket | None = None
        #: Moving average of the requests admitted a second, measured at each sample.
        self.admitted_rate = 0.0
        self._admitted = 0
        self._door_refusals = 0  # in the window that started at ``_window_start``
        self._window_start = 0.0
        self._last_door_refusal = 0.0
        self._last_own_refusal = 0.0
        self._floor = MIN_RATE
        self._last_sample = 0.0
        self._overloaded_until = 0.0

    @property
    def limiting(self) -> bool:
        """Whether the bucket is on (an overload is being handled)."""
        return self._bucket is not None

    @property
    def rate(self) -> float:
        """Requests a second the bucket lets in; 0 while not overloaded (nothing limited)."""
        return 0.0 if self._bucket is None else self._bucket.rate

    def refused(self, now: float, *, by_door: bool) -> None:
        """Admission has just refused a request at ``now`` (monotonic seconds); ``by_door`` when a lane had no
        room for it, not for want of a token. During an overload any refusal prolongs it."""
        if not by_door:
            self._last_own_refusal = now
        elif self._bucket is None:
            if now - self._window_start > HOLD_S:
                self._window_start, self._door_refusals = now, 0
            self._door_refusals += 1
            if self._door_refusals >= ENTER_REFUSALS:  # an overload starts, with this refusal
                started_from = max(MIN_RATE, self.admitted_rate)
                self._bucket = TokenBucket(max(MIN_RATE, START_SHARE * started_from), BURST, now)
                self._floor = max(MIN_RATE, FLOOR_SHARE * started_from)
        if by_door:
            self._last_door_refusal = now
        if self._bucket is not None and (by_door or now - self._last_door_refusal < MAX_WITHOUT_DOOR_S):
            self._overloaded_until = now + HOLD_S

    def sample(self, late_s: float, now: float) -> None:
        """One reading of the loop's lateness (seconds) at ``now``: adapts the rate, probes or ends the limit."""
        elapsed = now - self._last_sample
        if elapsed > 0 and self._last_sample:
            self.admitted_rate += _RATE_WEIGHT * (self._admitted / elapsed - self.admitted_rate)
        self._admitted = 0
        self._last_sample = now
        bucket = self._bucket
        if bucket is None:
            return
        if now >= self._overloaded_until:  # nothing has kept the overload on: probe
            if now - self._last_own_refusal >= PROBE_QUIET_S:  # what comes fits: it is over
                self._bucket = None
            else:
                bucket.rate *= PROBE
            return
        # Cut more the later the loop: a sample five targets late is five late samples' evidence.
        cuts = late_s / self.lag_target_s
        factor = DECREASE ** min(cuts, MAX_CUTS) if cuts > 1.0 else INCREASE
        bucket.rate = max(self._floor, bucket.rate * factor)

    def admits(self, now: float) -> bool:
        """Whether a request that the lanes would take may go in at ``now`` (it is counted if so)."""
        if self._bucket is not None and self._bucket.take(now):
            return False
        self._admitted += 1
        return True
