"""The demo datasets, built offline by one command: ``python -m training.datasets --out data``.

Each builder writes ``OUT/NAME/{train,val,test}/LABEL/FILE`` plus ``OUT/NAME/dataset.json`` (see
``training.datasets.layout``), deterministically for a seed, with no sample or near-duplicate shared
across splits:

- ``digits`` (image): scikit-learn's handwritten digits as 32x32 dark-on-light PNGs.
- ``spam`` (text): the SpamAssassin public corpus (npm package) as ham and spam mail texts.
- ``spoken-digits`` (audio): "zero" to "nine" from espeak-ng voices as 1 s noisy 16 kHz WAVs, with
  the val and test voices held out from training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from training.datasets import digits, spam, spoken_digits
from training.datasets.errors import DatasetError, SourceMismatch, SourceUnavailable
from training.datasets.layout import (
    MANIFEST_NAME,
    SPLITS,
    DatasetManifest,
    Provenance,
    Split,
    read_manifest,
)

__all__ = [
    "DEMO_DATASETS",
    "MANIFEST_NAME",
    "SPLITS",
    "DatasetError",
    "DatasetManifest",
    "Provenance",
    "SourceMismatch",
    "SourceUnavailable",
    "Split",
    "build_demo_datasets",
    "read_manifest",
]

#: Name -> builder ``build(out_dir, *, seed=0, limit=None, ...) -> out_dir/NAME``.
DEMO_DATASETS: Final[dict[str, Callable[..., Path]]] = {
    digits.NAME: digits.build,
    spam.NAME: spam.build,
    spoken_digits.NAME: spoken_digits.build,
}

logger = logging.getLogger(__name__)


def build_demo_datasets(out_dir: Path, names: Iterable[str] | None = None, *, force: bool = False) -> dict[str, Path]:
    """Build the named demo datasets (all when None) under ``out_dir``; return name -> dataset folder.

    A dataset whose ``dataset.json`` already exists is kept as it is unless ``force``.
    """
    selected = list(DEMO_DATASETS) if names is None else list(names)
    unknown = sorted(set(selected) - set(DEMO_DATASETS))
    if unknown:
        raise DatasetError(f"unknown datasets {unknown}; known: {sorted(DEMO_DATASETS)}")
    built: dict[str, Path] = {}
    for name in selected:
        root = out_dir / name
        if not force and (root / MANIFEST_NAME).exists():
            logger.info("%s: kept, %s exists", name, root / MANIFEST_NAME)
            built[name] = root
            continue
        started = time.perf_counter()
        logger.info("%s: building", name)
        built[name] = DEMO_DATASETS[name](out_dir)
        logger.info("%s: built in %.1f s", name, time.perf_counter() - started)
    return built
