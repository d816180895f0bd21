"""The reliability diagram: accuracy against confidence per bin, before and after temperature scaling.

Drawn with matplotlib's Agg canvas (no display, no pyplot global state), beside the confusion matrix.
A perfectly calibrated model's bars sit on the diagonal; bars below it mean over-confidence. The number at
the foot of each bar is how many samples fell in that bin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from training.calibration import DEFAULT_BINS, expected_calibration_error, reliability_bins


def render_reliability_diagram(
    y_true: npt.ArrayLike,
    curves: dict[str, npt.ArrayLike],
    path: Path,
    *,
    title: str = "",
    bins: int = DEFAULT_BINS,
) -> Path:
    """Draw one panel per named set of probabilities (e.g. ``{"before": p, "after": q}``) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(curves), 4.6), dpi=100)
    FigureCanvasAgg(figure)
    edges = np.linspace(0.0, 1.0, bins + 1)
    width = 1.0 / bins
    for index, (name, probabilities) in enumerate(curves.items()):
        axes = figure.add_subplot(1, len(curves), index + 1)
        _, accuracy, counts = reliability_bins(probabilities, y_true, bins=bins)
        filled = counts > 0
        axes.bar(edges[:-1][filled], accuracy[filled], width=width, align="edge", color="#4c72b0",
                 edgecolor="white", label="accuracy")  # fmt: skip
        centres = edges[:-1] + width / 2
        # The gap to the diagonal, drawn as a hatched outline so the accuracy bar shows through it.
        axes.bar(edges[:-1][filled], (centres - accuracy)[filled], bottom=accuracy[filled], width=width,
                 align="edge", fill=False, hatch="//", edgecolor="#c44e52", linewidth=0.8, label="gap")  # fmt: skip
        for left, count in zip(edges[:-1][filled], counts[filled], strict=True):
            axes.text(left + width / 2, 0.02, str(count), ha="center", va="bottom", fontsize=6, color="white",
                      rotation=90)  # fmt: skip
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("confidence (top score)")
        if index == 0:
            axes.set_ylabel("accuracy")
        ece = expected_calibration_error(probabilities, y_true, bins=bins)
        axes.set_title(f"{name}: ECE {ece:.2%}")
        axes.legend(loc="upper left", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
