"""Readiness as the core reports it: one typed result that REST's ``/readyz`` and gRPC health render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: What the report says for a model that is ready (the wire text of ``/readyz``).
READY = "ready"


@dataclass(frozen=True)
class Readiness:
    """Per expected model, ``READY`` or the reason it is not; ``ready`` when there is a model and all are."""

    models: Mapping[str, str] = field(default_factory=dict)
    #: Conditions that do not stop serving but an operator must see (e.g. an unusable rollout state file).
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Every expected model (at least one) has an AVAILABLE version that classified a real sample."""
        return bool(self.models) and all(state == READY for state in self.models.values())
