"""Comparison counts per model rollout: this process's, its file beside the state file, and all processes' sum.

Each process counts in memory (``PairCounts`` per model, for the current ``rollout_id``) and, every poll,
writes them atomically to ``<state file>.counts.<host>-<pid>.json``. The combined figures are this
process's live counts plus every other fresh file's (modified within ``stale_s``; a process that is gone
stops counting once its file goes stale) for the same ``rollout_id``, so worker processes and replicas
sharing the state file's folder report one total. Blocking file I/O: call ``flush``/``combined`` off the loop.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from service.rollout.comparison import ComparisonCounts, SideCounts
from service.rollout.store import atomic_write_text

log = logging.getLogger(__name__)


class PairCounts(BaseModel):
    """One model's counts for one rollout (primary = stable, candidate)."""

    rollout_id: str
    primary: int
    candidate: int
    comparison: ComparisonCounts = Field(default_factory=ComparisonCounts)
    primary_side: SideCounts = Field(default_factory=SideCounts)
    candidate_side: SideCounts = Field(default_factory=SideCounts)
    shadow_shed: int = 0

    def merge(self, other: PairCounts) -> None:
        """Add another process's counts of the same rollout."""
        self.comparison.merge(other.comparison)
        self.primary_side.merge(other.primary_side)
        self.candidate_side.merge(other.candidate_side)
        self.shadow_shed += other.shadow_shed


class CountsFile(BaseModel):
    """What one process writes: its counts per model, and who it is."""

    process: str
    models: dict[str, PairCounts] = Field(default_factory=dict)


class Ledger:
    """This process's counts, and the combined view over every process sharing the state file's folder."""

    def __init__(self, state_path: Path, *, stale_s: float) -> None:
        self.process = f"{socket.gethostname()}-{os.getpid()}"
        self._prefix = f"{state_path.name}.counts."
        self._folder = state_path.parent
        self.path = self._folder / f"{self._prefix}{self.process}.json"
        self.stale_s = stale_s
        self.pairs: dict[str, PairCounts] = {}

    def pair(self, model: str, rollout_id: str, primary: int, candidate: int) -> PairCounts:
        """The counts of ``model``'s current rollout, started afresh when the rollout changed."""
        counts = self.pairs.get(model)
        if counts is None or (counts.rollout_id, counts.primary, counts.candidate) != (rollout_id, primary, candidate):
            counts = PairCounts(rollout_id=rollout_id, primary=primary, candidate=candidate)
            self.pairs[model] = counts
        return counts

    def flush(self) -> None:
        """Write this process's counts to its own file (atomically)."""
        document = CountsFile(process=self.process, models=self.pairs)
        atomic_write_text(self.path, document.model_dump_json())

    def remove(self) -> None:
        """Delete this process's file (on a clean stop; a crashed process's file goes stale instead)."""
        self.path.unlink(missing_ok=True)

    def combined(self, model: str, rollout_id: str) -> tuple[PairCounts | None, int]:
        """The sum of every process's counts of this rollout, and how many processes contributed."""
        total: PairCounts | None = None
        processes = 0
        own = self.pairs.get(model)
        if own is not None and own.rollout_id == rollout_id:
            total, processes = own.model_copy(deep=True), 1
        now = time.time()
        for path in self._folder.glob(f"{self._prefix}*.json"):
            if path == self.path:
                continue
            try:
                if now - path.stat().st_mtime > self.stale_s:
                    continue
                document = CountsFile.model_validate_json(path.read_bytes())
            except (OSError, ValidationError) as exc:  # being replaced, or not ours: skip it this time
                log.debug("skipping counts file %s: %s", path, exc)
                continue
            counts = document.models.get(model)
            if counts is None or counts.rollout_id != rollout_id:
                continue
            if total is None:
                total = counts
            else:
                total.merge(counts)
            processes += 1
        return total, processes
