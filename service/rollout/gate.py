"""The gate: start, promote and roll back as changes of the state, and the automatic rule's judgement.

Each action is a function of the state file's current content (applied under the store's lock), so two
processes acting at once cannot lose a change, and an automatic decision made on an older rollout
(``rollout_id``) is dropped instead of applied to a newer one. Every transition is logged with its
figures by the caller (``controller.Rollouts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from service.backends.base import ModelStatus, VersionState
from service.errors import Conflict, VersionNotFound
from service.rollout.ledger import PairCounts
from service.rollout.policy import AutoRule, ModelRollout, RolloutState
from service.rollout.report import StartRequest

Change = Callable[[RolloutState], RolloutState]


@dataclass(frozen=True)
class Decision:
    """What the automatic rule decided, and why."""

    action: Literal["promote", "rollback"]
    reason: str


def check_available(status: ModelStatus, version: int, role: str) -> None:
    """Raise VersionNotFound (no such version) or Conflict (not AVAILABLE) for a version the rollout needs."""
    for entry in status.versions:
        if entry.version == version:
            if entry.state is not VersionState.AVAILABLE:
                state = entry.state.value
                raise Conflict(f"{role} version {version} of model '{status.name}' is {state}, not AVAILABLE")
            return
    raise VersionNotFound(f"model '{status.name}' has no served version {version}")


def start(model: str, request: StartRequest, default_stable: int) -> Change:
    """Roll ``request.candidate`` out against the current stable version (``default_stable`` when none is set)."""

    def change(state: RolloutState) -> RolloutState:
        current = state.models.get(model, ModelRollout())
        stable = current.stable if current.stable is not None else default_stable
        if request.candidate == stable:
            raise Conflict(f"version {stable} of model '{model}' is already the stable version")
        policy = current.model_copy(
            update={
                "stable": stable,
                "candidate": request.candidate,
                "canary_weight": request.canary_weight,
                "shadow_rate": request.shadow_rate,
                "auto": request.auto,
                "rollout_id": uuid.uuid4().hex,
            }
        )
        return _with(state, model, ModelRollout.model_validate(policy.model_dump()))

    return change


def promote(model: str, rollout_id: str | None = None) -> Change:
    """Make the candidate the stable version (only of rollout ``rollout_id`` when given)."""
    return _finish(model, rollout_id, promote=True)


def rollback(model: str, rollout_id: str | None = None) -> Change:
    """Drop the candidate; stable keeps every request (only of rollout ``rollout_id`` when given)."""
    return _finish(model, rollout_id, promote=False)


def _finish(model: str, rollout_id: str | None, *, promote: bool) -> Change:
    def change(state: RolloutState) -> RolloutState:
        current = state.models.get(model)
        if current is None or current.candidate is None:
            raise Conflict(f"model '{model}' has no rollout in progress")
        if rollout_id is not None and current.rollout_id != rollout_id:
            raise Conflict(f"the rollout of model '{model}' changed meanwhile")
        stable = current.candidate if promote else current.stable
        done = current.model_copy(
            update={
                "stable": stable,
                "candidate": None,
                "canary_weight": 0.0,
                "shadow_rate": 0.0,
                "auto": None,
                "rollout_id": None,
            }
        )
        return _with(state, model, done)

    return change


def _with(state: RolloutState, model: str, policy: ModelRollout) -> RolloutState:
    return RolloutState(models={**state.models, model: policy})


def judge(rule: AutoRule, counts: PairCounts) -> Decision | None:
    """The automatic rule on the combined counts: roll back on candidate errors at once, promote when the
    comparison is long enough, agrees enough, and the candidate is no worse than the margins allow."""
    candidate, primary = counts.candidate_side, counts.primary_side
    candidate_errors = candidate.error_rate or 0.0
    if candidate.requests >= rule.min_requests_for_rollback and candidate_errors > rule.rollback_error_rate:
        return Decision(
            "rollback", f"candidate error rate {candidate_errors:.4f} passed the limit {rule.rollback_error_rate}"
        )
    agreement = counts.comparison.agreement
    if counts.comparison.compared < rule.min_compared or agreement is None or agreement < rule.min_agreement:
        return None
    if candidate_errors > (primary.error_rate or 0.0) + rule.error_margin:
        return None
    p99_candidate, p99_primary = candidate.quantile(0.99), primary.quantile(0.99)
    if p99_candidate is not None and p99_primary is not None and p99_candidate > p99_primary * (1 + rule.p99_margin):
        return None
    return Decision("promote", f"agreement {agreement:.4f} >= {rule.min_agreement} on {counts.comparison.compared}")


def figures(counts: PairCounts | None) -> str:
    """The comparison's figures for a log line."""
    if counts is None:
        return "nothing compared"
    comparison, candidate, primary = counts.comparison, counts.candidate_side, counts.primary_side
    agreement = "n/a" if comparison.agreement is None else f"{comparison.agreement:.4f}"
    divergence = "n/a" if comparison.mean_js_divergence is None else f"{comparison.mean_js_divergence:.5f}"
    return (
        f"compared={comparison.compared} agreement={agreement} mean_js={divergence}"
        f" primary v{counts.primary}: {primary.requests} req {primary.errors} err p99<={primary.quantile(0.99)}s"
        f" candidate v{counts.candidate}: {candidate.requests} req {candidate.errors} err"
        f" p99<={candidate.quantile(0.99)}s"
    )
