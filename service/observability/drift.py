"""Class drift: the predicted-class distribution of a sliding window against the version's baseline.

The score is the Jensen-Shannon divergence in bits (base-2 logarithms), between the window's class shares
``p`` and the baseline ``q`` (the shares of each class among the version's held-out predictions, from its
spec): ``JS = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``. It is 0 for equal distributions,
1 for disjoint ones, symmetric, and finite when a class is absent from either side (PSI is not), so a
window that predicts one class only still gets a score. Its sums are exactly rounded (``math.fsum``), so the
score does not depend on the order of the classes: a scrape that reads the classes back from worker
processes' files in another order gets the same bits.

A window holds the last N top-1 predictions of one version, in one process. With worker processes each has
its own, and ``/metrics`` scores the live workers' windows summed (``service.observability.prediction_metrics``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt


def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence (bits, 0..1) of two distributions over the same classes."""
    p_arr = np.asarray(p, dtype=np.float64)
    q_arr = np.asarray(q, dtype=np.float64)
    p_arr = p_arr / math.fsum(p_arr.tolist())
    q_arr = q_arr / math.fsum(q_arr.tolist())
    m = (p_arr + q_arr) / 2
    return float(max(0.0, (_kl(p_arr, m) + _kl(q_arr, m)) / 2))


def _kl(p: npt.NDArray[np.float64], m: npt.NDArray[np.float64]) -> float:
    present = p > 0  # 0 * log(0 / m) is 0; m > 0 wherever p > 0
    return math.fsum((p[present] * np.log2(p[present] / m[present])).tolist())


class ClassWindow:
    """The last ``size`` predicted class indices of one version, with running counts per class.

    ``mirror``, when given, holds one callable per class that is told each change of that class's count
    (+1 or -1): how a worker process mirrors its window's counts into shared metric files."""

    def __init__(self, n_classes: int, size: int, mirror: Sequence[Callable[[int], object]] | None = None) -> None:
        self._recent: deque[int] = deque()
        self._size = size
        self.counts = np.zeros(n_classes, dtype=np.int64)
        self._mirror = mirror

    def __len__(self) -> int:
        return len(self._recent)

    def add(self, classes: list[int]) -> None:
        """Append predictions; the oldest leave once the window is full."""
        mirror = self._mirror
        for index in classes:
            self._recent.append(index)
            self.counts[index] += 1
            if mirror is not None:
                mirror[index](1)
            if len(self._recent) > self._size:
                old = self._recent.popleft()
                self.counts[old] -= 1
                if mirror is not None:
                    mirror[old](-1)

    def shares(self) -> npt.NDArray[np.float64]:
        """Share of each class in the window (zeros when empty)."""
        total = len(self._recent)
        return self.counts / total if total else np.zeros(len(self.counts))
