"""``Rollouts``: what the classify core asks of rollouts, the admin actions, and the background loop.

The core calls ``labels`` and ``route`` while resolving a version (in memory, no I/O), and ``answered``
once an unpinned request is answered or failed: it counts the side, and may start a shadow run on the
candidate with the request's inputs, comparing its probabilities with the answer's. The loop (``run``)
re-reads the state file, writes this process's counts every ``poll_interval_s``, and applies the
automatic rule to the combined counts; a candidate failure wakes it at once so a rollback does not
wait a poll. Admin actions write the state file under its lock, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from service.backends.base import ModelStatus
from service.core.schemas import ClassifyCall, ClassifyResponse
from service.errors import Conflict
from service.rollout import gate
from service.rollout.comparison import ComparisonCounts
from service.rollout.ledger import Ledger, PairCounts
from service.rollout.metrics import RolloutMetrics
from service.rollout.policy import ModelRollout, RolloutState
from service.rollout.report import RolloutReport, StartRequest
from service.rollout.routing import Router
from service.rollout.routing_key import current_routing_key
from service.rollout.shadow import ShadowRunner
from service.rollout.store import RolloutStore
from service.settings import RolloutSettings

log = logging.getLogger("service.rollout")

#: Runs one request's inputs on a version within the shadow deadline: (labels, probabilities [N, labels]).
ShadowPredict = Callable[[ClassifyCall, int], Awaitable[tuple[Sequence[str], np.ndarray]]]
#: Whether a model's requests are queueing for admission now.
Busy = Callable[[str], bool]


class Rollouts:
    """Rollout policy, routing, shadowing and counting for one gateway process."""

    def __init__(self, settings: RolloutSettings, registry_metrics: RolloutMetrics, *, poll_interval_s: float) -> None:
        if settings.path is None:
            raise ValueError("rollouts need settings.rollout.path")
        self.settings = settings
        self.metrics = registry_metrics
        self.poll_interval_s = poll_interval_s
        self.store = RolloutStore(settings.path)
        self.ledger = Ledger(settings.path, stale_s=settings.counts_stale_s)
        self.router = Router(settings.seed)
        self.shadow = ShadowRunner(settings.shadow_max_concurrent)
        self._wake = asyncio.Event()
        self.store.refresh()  # the policy in force from the first request (a small file, read once at start)

    # -- the request path -------------------------------------------------------------------------------

    def policy(self, model: str) -> ModelRollout | None:
        """The policy of ``model`` in force now (None: none)."""
        return self.store.state.models.get(model)

    def labels(self, model: str, defaults: dict[str, int]) -> dict[str, int]:
        """Version labels of ``model``: the settings' defaults, overridden by the policy's."""
        policy = self.policy(model)
        return defaults if policy is None else {**defaults, **policy.version_labels()}

    def route(self, status: ModelStatus) -> int | None:
        """The version an unpinned request of this model gets under its policy; None: the default rule."""
        policy = self.policy(status.name)
        if policy is None or policy.stable is None:
            return None
        available = status.available()
        if policy.candidate in available and self.router.to_candidate(policy, current_routing_key()):
            return policy.candidate
        if policy.stable in available:
            return policy.stable
        # Stable is gone (unloaded by hand): never fail a request for it, serve what is there.
        return policy.candidate if policy.candidate in available else None

    def answered(
        self,
        call: ClassifyCall,
        version: int,
        seconds: float,
        response: ClassifyResponse | None,
        *,
        failed: bool,
        busy: Busy,
        predict: ShadowPredict,
    ) -> None:
        """Count an unpinned request's outcome on its side; maybe shadow it on the candidate."""
        policy = self.policy(call.model)
        if policy is None or policy.candidate is None or policy.stable is None or policy.rollout_id is None:
            return
        if version not in (policy.stable, policy.candidate):
            return
        pair = self.ledger.pair(call.model, policy.rollout_id, policy.stable, policy.candidate)
        side = "candidate" if version == policy.candidate else "primary"
        self._record(call.model, pair, side, version, seconds, failed=failed)
        if response is None or side != "primary" or not self.router.shadowed(policy):
            return
        if busy(call.model):
            self._shed(call.model, pair, "queueing")
        elif not self.shadow.try_start(lambda: self._shadow(call, response, pair, predict)):
            self._shed(call.model, pair, "slots")

    async def _shadow(
        self, call: ClassifyCall, response: ClassifyResponse, pair: PairCounts, predict: ShadowPredict
    ) -> None:
        started = time.perf_counter()
        try:
            labels, candidate = await predict(call, pair.candidate)
            primary_labels = list(response.predictions[0].probabilities)
            if sorted(labels) != sorted(primary_labels):
                raise Conflict("the candidate's labels differ from the primary's")
            order = [list(labels).index(label) for label in primary_labels]
            primary = np.array([list(p.probabilities.values()) for p in response.predictions])
            aligned = np.asarray(candidate)[:, order]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the candidate on an input the primary answered counts
            self._record(call.model, pair, "candidate", pair.candidate, time.perf_counter() - started, failed=True)
            log.debug("shadow run of %s v%d failed: %r", call.model, pair.candidate, exc)
            return
        self._record(call.model, pair, "candidate", pair.candidate, time.perf_counter() - started, failed=False)
        before = pair.comparison.model_copy(deep=True)
        pair.comparison.add(primary_labels, primary, aligned)
        self._count_comparison(call.model, pair, before)

    def _record(self, model: str, pair: PairCounts, side: str, version: int, seconds: float, *, failed: bool) -> None:
        (pair.candidate_side if side == "candidate" else pair.primary_side).record(seconds, failed=failed)
        self.metrics.requests.labels(model, str(version), side, "error" if failed else "ok").inc()
        self.metrics.seconds.labels(model, str(version), side).observe(seconds)
        if failed and side == "candidate":
            self._wake.set()  # the automatic rule looks at once

    def _shed(self, model: str, pair: PairCounts, reason: str) -> None:
        pair.shadow_shed += 1
        self.metrics.shed.labels(model, reason).inc()

    def _count_comparison(self, model: str, pair: PairCounts, before: ComparisonCounts) -> None:
        labels = (model, str(pair.primary), str(pair.candidate))
        now = pair.comparison
        self.metrics.compared.labels(*labels).inc(now.compared - before.compared)
        self.metrics.agreed.labels(*labels).inc(now.agreed - before.agreed)
        self.metrics.js_divergence.labels(*labels).inc(now.js_sum - before.js_sum)
        for source, row in now.flips.items():
            for target, count in row.items():
                grown = count - before.flips.get(source, {}).get(target, 0)
                if grown:
                    self.metrics.flips.labels(*labels, source, target).inc(grown)

    # -- admin actions ----------------------------------------------------------------------------------

    async def start(self, status: ModelStatus, request: StartRequest, default_labels: dict[str, int]) -> RolloutReport:
        """Start rolling ``request.candidate`` out (checked AVAILABLE, like the stable version).

        Stable is the policy's; without one, the settings' ``stable`` label, else the newest other AVAILABLE.
        """
        gate.check_available(status, request.candidate, "candidate")
        policy = self.policy(status.name)
        stable = policy.stable if policy is not None else default_labels.get("stable")
        if stable is None:
            others = [v for v in status.available() if v != request.candidate]
            if not others:
                raise Conflict(f"model '{status.name}' has no other AVAILABLE version to compare the candidate with")
            stable = others[0]
        gate.check_available(status, stable, "stable")
        await self._apply(status.name, gate.start(status.name, request, stable), "start", "admin")
        return await self.report(status.name)

    async def promote(self, model: str) -> RolloutReport:
        """Make the candidate stable."""
        await self._apply(model, gate.promote(model), "promote", "admin")
        return await self.report(model)

    async def rollback(self, model: str) -> RolloutReport:
        """Drop the candidate."""
        await self._apply(model, gate.rollback(model), "rollback", "admin")
        return await self.report(model)

    async def report(self, model: str) -> RolloutReport:
        """The policy of ``model`` and its comparison combined over every process."""
        policy = self.policy(model) or ModelRollout()
        counts, processes = None, 0
        if policy.rollout_id is not None:
            counts, processes = await asyncio.to_thread(self.ledger.combined, model, policy.rollout_id)
        report = RolloutReport.build(model, policy, policy.version_labels(), counts, processes)
        report.state_error = self.store.error
        return report

    async def _apply(self, model: str, change: gate.Change, action: str, by: str, reason: str = "") -> RolloutState:
        before = self.policy(model)
        counts = None
        if before is not None and before.rollout_id is not None:
            counts, _ = await asyncio.to_thread(self.ledger.combined, model, before.rollout_id)
        state = await asyncio.to_thread(self.store.update, change)
        after = state.models[model]
        self.metrics.transitions.labels(model, action, by).inc()
        log.info(
            "rollout of '%s': %s by %s%s: stable v%s candidate v%s canary %.3f shadow %.3f; %s",
            model,
            action,
            by,
            f" ({reason})" if reason else "",
            after.stable,
            after.candidate,
            after.canary_weight,
            after.shadow_rate,
            gate.figures(counts),
        )
        return state

    # -- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: pick up state changes, write this process's counts, apply the automatic rule."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # one bad tick must not end rollouts for the life of the process
                log.exception("rollout poll failed")

    async def tick(self) -> None:
        """One round of the loop."""
        if await asyncio.to_thread(self.store.refresh):
            log.info("rollout state changed: %s", self.store.state.model_dump_json(exclude_none=True))
        if self.ledger.pairs:  # nothing counted yet: no file to write
            await asyncio.to_thread(self.ledger.flush)
        for model, policy in list(self.store.state.models.items()):
            if policy.auto is None or policy.rollout_id is None:
                continue
            counts, _ = await asyncio.to_thread(self.ledger.combined, model, policy.rollout_id)
            decision = gate.judge(policy.auto, counts) if counts is not None else None
            if decision is None:
                continue
            finish = gate.promote if decision.action == "promote" else gate.rollback
            try:
                await self._apply(model, finish(model, policy.rollout_id), decision.action, "rule", decision.reason)
            except Conflict:  # another process decided first
                await asyncio.to_thread(self.store.refresh)

    async def close(self) -> None:
        """Cancel shadow runs and remove this process's counts file."""
        await self.shadow.close()
        await asyncio.to_thread(self.ledger.remove)
