"""Comparing two versions' answers on the same inputs: the one rule, for the gateway and for training.

From two softmax batches (rows are inputs, columns the labels in the same order): top-1 agreement, the
flip matrix (primary label -> candidate label, counting only inputs whose top-1 changed) and the mean
Jensen-Shannon divergence in bits (0: identical, 1: disjoint). ``ComparisonCounts`` keeps them as sums
that add up across batches and processes; ``SideCounts`` keeps one side's requests, errors and a latency
histogram (fixed buckets, so p99 of several processes is the p99 of their summed buckets).
``python -m training compare`` calls ``agreement``, ``flip_matrix`` and ``js_divergence``.
No TensorFlow, no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

#: Upper bounds (seconds) of the latency histogram buckets; the last bucket is everything above.
LATENCY_BUCKETS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip

Probabilities = npt.NDArray[np.floating]


def js_divergence(p: Probabilities, q: Probabilities) -> npt.NDArray[np.float64]:
    """Per row, the Jensen-Shannon divergence (bits) between ``p`` and ``q``."""
    # Imported on first use: scipy.spatial costs a gateway about 50 MiB, and only a rollout with shadow
    # traffic (or training's compare) ever compares.
    from scipy.spatial.distance import jensenshannon

    p64, q64 = np.asarray(p, np.float64), np.asarray(q, np.float64)
    # scipy gives the distance, the square root of the divergence; rows are normalised to sum 1 first.
    distance = np.asarray(jensenshannon(p64, q64, base=2, axis=1), dtype=np.float64)
    divergence: npt.NDArray[np.float64] = np.nan_to_num(np.square(distance), nan=0.0)
    return divergence


def flip_matrix(primary: npt.NDArray[np.integer], candidate: npt.NDArray[np.integer], n_labels: int) -> np.ndarray:
    """``[n, n]`` counts: row = primary's top-1, column = candidate's, only inputs whose top-1 differs."""
    flips = np.zeros((n_labels, n_labels), dtype=np.int64)
    moved = primary != candidate
    np.add.at(flips, (primary[moved], candidate[moved]), 1)
    return flips


def agreement(primary: npt.NDArray[np.integer], candidate: npt.NDArray[np.integer]) -> float:
    """Share of inputs whose top-1 is the same under both versions (1.0 for no inputs)."""
    return float(np.mean(primary == candidate)) if len(primary) else 1.0


class ComparisonCounts(BaseModel):
    """Sums of a comparison: inputs compared, agreeing top-1s, divergence, and flips by label names."""

    compared: int = 0
    agreed: int = 0
    js_sum: float = 0.0
    flips: dict[str, dict[str, int]] = Field(default_factory=dict, description="primary label -> candidate label -> n")

    def add(self, labels: Sequence[str], primary: Probabilities, candidate: Probabilities) -> None:
        """Count one batch of the same inputs under both versions (columns in ``labels`` order)."""
        top_p, top_c = np.argmax(primary, axis=1), np.argmax(candidate, axis=1)
        self.compared += len(top_p)
        self.agreed += int(np.sum(top_p == top_c))
        self.js_sum += float(np.sum(js_divergence(primary, candidate)))
        for (i, j), count in np.ndenumerate(flip_matrix(top_p, top_c, len(labels))):
            if count:
                row = self.flips.setdefault(labels[i], {})
                row[labels[j]] = row.get(labels[j], 0) + int(count)

    def merge(self, other: ComparisonCounts) -> None:
        """Add ``other``'s sums to these."""
        self.compared += other.compared
        self.agreed += other.agreed
        self.js_sum += other.js_sum
        for source, row in other.flips.items():
            mine = self.flips.setdefault(source, {})
            for target, count in row.items():
                mine[target] = mine.get(target, 0) + count

    @property
    def agreement(self) -> float | None:
        """Top-1 agreement; None before anything was compared."""
        return self.agreed / self.compared if self.compared else None

    @property
    def mean_js_divergence(self) -> float | None:
        """Mean Jensen-Shannon divergence (bits); None before anything was compared."""
        return self.js_sum / self.compared if self.compared else None


class SideCounts(BaseModel):
    """One version's requests in a rollout: how many, how many failed, and their latency histogram."""

    requests: int = 0
    errors: int = 0
    latency_buckets: list[int] = Field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))

    def record(self, seconds: float, *, failed: bool) -> None:
        """One request (or shadow run) and how long it took."""
        self.requests += 1
        self.errors += int(failed)
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def merge(self, other: SideCounts) -> None:
        """Add ``other``'s counts to these."""
        self.requests += other.requests
        self.errors += other.errors
        self.latency_buckets = [a + b for a, b in zip(self.latency_buckets, other.latency_buckets, strict=True)]

    @property
    def error_rate(self) -> float | None:
        """Failed share of requests; None before any."""
        return self.errors / self.requests if self.requests else None

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (inf past the last bound); None before any."""
        total = sum(self.latency_buckets)
        if not total:
            return None
        rank, seen = q * total, 0
        for index, count in enumerate(self.latency_buckets):
            seen += count
            if seen >= rank and count:
                return LATENCY_BUCKETS[index] if index < len(LATENCY_BUCKETS) else float("inf")
        return float("inf")
