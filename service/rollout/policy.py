"""The rollout policy: per model, the version in service, the candidate, the split and the automatic rule.

The whole state is one ``RolloutState`` (the JSON of the state file). A model without an entry follows
the gateway's defaults (newest AVAILABLE version, ``settings.version_labels``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fraction = float


class AutoRule(BaseModel):
    """The automatic gate: promote when the figures are good enough, roll back when the candidate errs."""

    model_config = ConfigDict(extra="forbid")

    min_compared: int = Field(default=1000, ge=1, description="Inputs compared before a promotion is considered.")
    min_agreement: Fraction = Field(default=0.99, ge=0, le=1, description="Top-1 agreement needed to promote.")
    error_margin: Fraction = Field(
        default=0.0, ge=0, le=1, description="Candidate error rate may exceed the primary's by at most this."
    )
    p99_margin: float = Field(
        default=0.2, ge=0, description="Candidate p99 may exceed the primary's by at most this fraction of it."
    )
    rollback_error_rate: Fraction = Field(
        default=0.05, ge=0, le=1, description="Roll back at once when the candidate's error rate passes this."
    )
    min_requests_for_rollback: int = Field(
        default=20, ge=1, description="Candidate attempts before its error rate can trigger a rollback."
    )


class ModelRollout(BaseModel):
    """One model's policy. ``stable`` serves unpinned requests; ``candidate`` gets ``canary_weight`` of them
    and ``shadow_rate`` of stable's requests as shadow runs."""

    model_config = ConfigDict(extra="forbid")

    stable: int | None = Field(default=None, ge=1, description="The version in service; None: newest AVAILABLE.")
    candidate: int | None = Field(default=None, ge=1, description="The version being rolled out, if any.")
    canary_weight: Fraction = Field(default=0.0, ge=0, le=1, description="Share of unpinned requests to the candidate.")
    shadow_rate: Fraction = Field(default=0.0, ge=0, le=1, description="Share of stable's requests also shadowed.")
    labels: dict[str, int] = Field(
        default_factory=dict, description="Extra version labels (any name); 'stable' and 'canary' are derived."
    )
    auto: AutoRule | None = Field(default=None, description="The automatic gate; None: manual only.")
    rollout_id: str | None = Field(
        default=None, description="Names one start, so counts of an older one are not mixed."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelRollout:
        if self.candidate is not None and self.candidate == self.stable:
            raise ValueError("the candidate must differ from the stable version")
        return self

    @property
    def active(self) -> bool:
        """Whether a candidate is being rolled out."""
        return self.candidate is not None

    def version_labels(self) -> dict[str, int]:
        """The labels this policy defines: its own, plus ``stable`` and ``canary`` when set."""
        labels = dict(self.labels)
        if self.stable is not None:
            labels["stable"] = self.stable
        if self.candidate is not None:
            labels["canary"] = self.candidate
        return labels


class RolloutState(BaseModel):
    """Every model's policy: the content of the state file."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelRollout] = Field(default_factory=dict)
