"""The ``digits`` image dataset: scikit-learn's 1,797 handwritten 8x8 digits as small grey scans.

Each sample (ink values 0..16) is inverted to dark ink on light paper, then enlarged with a bicubic
resize, so the PNGs look like low-resolution scans rather than arrays. Near-identical bitmaps (a few
pairs differ by less than one ink level per pixel on average) are kept in the same split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from training.datasets.errors import SourceUnavailable
from training.datasets.layout import DatasetWriter, Provenance, stratified_split
from training.datasets.near_duplicates import group_close_vectors

NAME: Final = "digits"
LABELS: Final = tuple(str(digit) for digit in range(10))
_INK_MAX: Final = 16
#: Two bitmaps closer than this (sum of absolute ink differences, out of 64 x 16) count as near-duplicates.
_NEAR_DUPLICATE_L1: Final = 32

logger = logging.getLogger(__name__)


def render_scan(ink: NDArray[np.floating[Any]], size: int) -> Image.Image:
    """Turn an 8x8 ink array (0 = paper, 16 = full ink) into a ``size x size`` dark-on-light image."""
    grey = np.rint(255.0 * (1.0 - np.clip(ink, 0, _INK_MAX) / _INK_MAX)).astype(np.uint8)
    return Image.fromarray(grey, mode="L").resize((size, size), Image.Resampling.BICUBIC)


def build(out_dir: Path, *, seed: int = 0, limit: int | None = None, size: int = 32) -> Path:
    """Build ``out_dir/digits`` and return its path.

    Args:
        out_dir: Folder that receives the dataset folder.
        seed: Seed of the split.
        limit: At most this many samples per label (for quick tests); all when None.
        size: Width and height of the PNGs.
    """
    try:
        from sklearn import __version__ as sklearn_version
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SourceUnavailable("the digits dataset needs scikit-learn (the 'train' extra)") from exc

    bunch = load_digits()
    images: NDArray[np.float64] = np.asarray(bunch.images, dtype=np.float64)
    labels = [str(int(target)) for target in bunch.target]
    if limit is not None:
        kept: list[int] = []
        seen: dict[str, int] = {}
        for index, label in enumerate(labels):
            if seen.get(label, 0) < limit:
                seen[label] = seen.get(label, 0) + 1
                kept.append(index)
        images, labels = images[kept], [labels[i] for i in kept]

    groups = group_close_vectors(images.reshape(len(images), -1), _NEAR_DUPLICATE_L1)
    splits = stratified_split(labels, seed=seed, groups=groups.tolist())
    grouped = int(np.sum(np.bincount(groups)[groups] > 1))
    logger.info("digits: %d samples, %d of them near-duplicates kept in one split", len(labels), grouped)

    with DatasetWriter(out_dir, NAME) as writer:
        for index, (ink, label, split) in enumerate(zip(images, labels, splits, strict=True)):
            render_scan(ink, size).save(writer.reserve(split, label, f"{label}_{index:04d}.png"))
        return writer.publish(
            modality="image",
            labels=LABELS,
            file_format=f"PNG, {size}x{size}, 8-bit grayscale, dark ink on a light background",
            seed=seed,
            provenance=Provenance(
                source="Handwritten digits, 8x8 bitmaps of 0..16 ink levels (the test part of the UCI"
                " 'Optical Recognition of Handwritten Digits' data, by E. Alpaydin and C. Kaynak).",
                origin=f"sklearn.datasets.load_digits, scikit-learn {sklearn_version}; inverted and"
                f" upscaled to {size}x{size} with a bicubic resize",
                license="CC BY 4.0 (UCI Machine Learning Repository)",
                details={
                    "samples": len(labels),
                    "near_duplicate_max_l1": _NEAR_DUPLICATE_L1,
                    "samples_in_near_duplicate_groups": grouped,
                },
            ),
        )
