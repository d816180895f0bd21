"""Compare two versions of a model on one labelled folder: ``python -m training compare``.

Both versions score the same files (each preprocessed with its own spec); a file either version could
not use is left out of both, so every figure covers the same samples. The report has per-class accuracy
and its change, and the flips: how many answers went from right to wrong and back, and between which labels.
Agreement, the flip matrix and the mean Jensen-Shannon divergence come from ``service.rollout.comparison``,
the rule the gateway applies to shadow traffic, so an offline comparison and a live rollout report agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from service.rollout.comparison import agreement, flip_matrix, js_divergence
from training.loading import DatasetError
from training.scoring import Scored


class ClassDelta(BaseModel):
    """One label's accuracy under both versions."""

    model_config = ConfigDict(frozen=True)

    label: str
    samples: int
    accuracy_a: float
    accuracy_b: float
    delta: float = Field(description="accuracy_b - accuracy_a")


class Comparison(BaseModel):
    """Version B against version A on the same samples."""

    model_config = ConfigDict(frozen=True)

    model: str
    version_a: int
    version_b: int
    samples: int
    accuracy_a: float
    accuracy_b: float
    per_class: tuple[ClassDelta, ...]
    fixed: int = Field(description="Samples A got wrong and B right.")
    broken: int = Field(description="Samples A got right and B wrong.")
    changed: int = Field(description="Samples whose predicted label differs between A and B.")
    labels: tuple[str, ...]
    flip_matrix: tuple[tuple[int, ...], ...] = Field(
        description="Row = A's prediction, column = B's prediction, counting only samples whose prediction changed."
    )
    agreement: float = Field(description="Share of samples with the same top-1 under both versions.")
    mean_js_divergence: float = Field(description="Mean Jensen-Shannon divergence (bits) of the two softmax rows.")


def compare(a: Scored, b: Scored) -> Comparison:
    """Per-class accuracy deltas and the flip matrix of ``b`` against ``a``."""
    labels = a.version.spec.labels
    if b.version.spec.labels != labels:
        raise DatasetError(
            f"versions {a.version.version} and {b.version.version} have different labels; they cannot be compared"
        )
    common = sorted(set(a.paths) & set(b.paths))
    y_true, probs_a = _restrict(a, common)
    _, probs_b = _restrict(b, common)
    pred_a, pred_b = probs_a.argmax(axis=1), probs_b.argmax(axis=1)
    right_a, right_b = pred_a == y_true, pred_b == y_true
    per_class = []
    for index, label in enumerate(labels):
        mine = y_true == index
        count = int(mine.sum())
        acc_a = float(right_a[mine].mean()) if count else 0.0
        acc_b = float(right_b[mine].mean()) if count else 0.0
        per_class.append(
            ClassDelta(label=label, samples=count, accuracy_a=acc_a, accuracy_b=acc_b, delta=acc_b - acc_a)
        )
    flips = flip_matrix(pred_a, pred_b, len(labels))
    moved = pred_a != pred_b
    total = len(common)
    return Comparison(
        model=a.version.name,
        version_a=a.version.version,
        version_b=b.version.version,
        samples=total,
        accuracy_a=float(right_a.mean()) if total else 0.0,
        accuracy_b=float(right_b.mean()) if total else 0.0,
        per_class=tuple(per_class),
        fixed=int((~right_a & right_b).sum()),
        broken=int((right_a & ~right_b).sum()),
        changed=int(moved.sum()),
        labels=labels,
        flip_matrix=tuple(tuple(int(v) for v in row) for row in flips),
        agreement=agreement(pred_a, pred_b),
        mean_js_divergence=float(js_divergence(probs_a, probs_b).mean()) if total else 0.0,
    )


def _restrict(scored: Scored, paths: list[Path]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    position = {path: i for i, path in enumerate(scored.paths)}
    rows = np.asarray([position[p] for p in paths], dtype=np.int64)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, len(scored.version.spec.labels)), dtype=np.float64)
    return scored.y_true[rows], np.asarray(scored.probabilities[rows], dtype=np.float64)


def format_comparison(result: Comparison) -> str:
    """The comparison as plain text: totals, a per-class table, and the non-zero flips."""
    a, b = f"v{result.version_a}", f"v{result.version_b}"
    lines = [
        f"{result.model}: {a} {result.accuracy_a:.2%} -> {b} {result.accuracy_b:.2%} on {result.samples} samples",
        f"changed answers: {result.changed}  fixed (wrong -> right): {result.fixed}"
        f"  broken (right -> wrong): {result.broken}",
        f"agreement: {result.agreement:.2%}  mean Jensen-Shannon divergence: {result.mean_js_divergence:.5f} bits",
        "",
    ]
    width = max(5, *(len(row.label) for row in result.per_class))
    lines.append(f"{'label'.ljust(width)}  {'n':>5}  {a:>7}  {b:>7}  {'delta':>7}")
    for row in result.per_class:
        lines.append(
            f"{row.label.ljust(width)}  {row.samples:>5}  {row.accuracy_a:>7.2%}  {row.accuracy_b:>7.2%}"
            f"  {row.delta:>+7.2%}"
        )
    flips = [
        (result.labels[i], result.labels[j], count)
        for (i, j), count in np.ndenumerate(np.asarray(result.flip_matrix))
        if count
    ]
    if flips:
        lines += ["", f"flips ({a} prediction -> {b} prediction):"]
        lines += [f"  {src} -> {dst}: {count}" for src, dst, count in sorted(flips, key=lambda f: -f[2])]
    return "\n".join(lines)
