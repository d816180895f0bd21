"""Wire types of the rollout API: the start request and the report ``GET /v1/models/{name}/rollout`` answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.rollout.comparison import SideCounts
from service.rollout.ledger import PairCounts
from service.rollout.policy import AutoRule, ModelRollout


class StartRequest(BaseModel):
    """``POST .../rollout:start``: the candidate and its split (fractions 0-1), and an optional automatic rule."""

    model_config = ConfigDict(extra="forbid")

    candidate: int = Field(ge=1, strict=True, description="The version to roll out; it must be AVAILABLE.")
    canary_weight: float = Field(default=0.0, ge=0, le=1, description="Share of unpinned requests it serves.")
    shadow_rate: float = Field(default=0.0, ge=0, le=1, description="Share of stable's requests shadowed on it.")
    auto: AutoRule | None = Field(default=None, description="Promote or roll back by itself by this rule.")


class SideReport(BaseModel):
    """One version's figures in a rollout."""

    version: int
    requests: int
    errors: int
    error_rate: float | None
    p50_s: float | None = Field(description="Upper bound of the latency bucket holding the median.")
    p99_s: float | None = Field(description="Upper bound of the latency bucket holding the 99th percentile.")

    @classmethod
    def of(cls, version: int, side: SideCounts) -> SideReport:
        """The figures of ``side``'s counts."""
        return cls(
            version=version,
            requests=side.requests,
            errors=side.errors,
            error_rate=side.error_rate,
            p50_s=side.quantile(0.5),
            p99_s=side.quantile(0.99),
        )


class Flip(BaseModel):
    """Inputs whose top-1 was ``source`` under the primary and ``target`` under the candidate."""

    source: str
    target: str
    count: int


class RolloutReport(BaseModel):
    """A model's rollout policy and, while a candidate is out, the comparison over every gateway process."""

    model: str
    policy: ModelRollout
    version_labels: dict[str, int]
    processes: int = Field(default=0, description="Gateway processes whose counts are included.")
    compared: int = 0
    agreement: float | None = Field(default=None, description="Top-1 agreement of candidate with primary.")
    mean_js_divergence: float | None = Field(default=None, description="Mean Jensen-Shannon divergence, bits.")
    flips: list[Flip] = Field(default_factory=list)
    primary: SideReport | None = None
    candidate: SideReport | None = None
    shadow_shed: int = Field(default=0, description="Sampled shadow runs dropped to protect the primary path.")
    state_error: str | None = Field(default=None, description="Why the state file is unusable (last good kept).")

    @classmethod
    def build(
        cls, model: str, policy: ModelRollout, labels: dict[str, int], counts: PairCounts | None, processes: int
    ) -> RolloutReport:
        """The report of ``policy`` with the combined ``counts`` (None: nothing counted yet)."""
        report = cls(model=model, policy=policy, version_labels=labels, processes=processes)
        if counts is None:
            return report
        comparison = counts.comparison
        report.compared = comparison.compared
        report.agreement = comparison.agreement
        report.mean_js_divergence = comparison.mean_js_divergence
        report.flips = sorted(
            (Flip(source=s, target=t, count=n) for s, row in comparison.flips.items() for t, n in row.items()),
            key=lambda f: (-f.count, f.source, f.target),
        )
        report.primary = SideReport.of(counts.primary, counts.primary_side)
        report.candidate = SideReport.of(counts.candidate, counts.candidate_side)
        report.shadow_shed = counts.shadow_shed
        return report
