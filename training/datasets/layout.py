"""Class-per-folder layout of one dataset, its ``dataset.json`` manifest and a seeded stratified split.

    OUT/NAME/
    ├── dataset.json        the DatasetManifest: modality, labels, counts, provenance
    ├── train/LABEL/FILE
    ├── val/LABEL/FILE
    └── test/LABEL/FILE

A builder stages its files in ``OUT/.NAME.partial`` and renames that folder to ``OUT/NAME`` once the
manifest is written, so a dataset folder that has a ``dataset.json`` is always complete. Every split
has a folder for every label, empty or not, so tools that infer classes from folder names agree.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from features.spec import Modality
from training.datasets.errors import DatasetError

Split = Literal["train", "val", "test"]
SPLITS: Final[tuple[Split, Split, Split]] = ("train", "val", "test")
MANIFEST_NAME: Final = "dataset.json"
#: Share of the samples (or groups of samples) that goes to train, val and test.
DEFAULT_FRACTIONS: Final = (0.7, 0.15, 0.15)


class Provenance(BaseModel):
    """Where a dataset's samples come from and under which terms."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="What the samples are.")
    origin: str = Field(description="How they were obtained: package and version, tool.")
    license: str = Field(description="Terms of the source data.")
    details: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Builder-specific facts: duplicates dropped, voices per split, parameters.",
    )


class DatasetManifest(BaseModel):
    """The contents of ``dataset.json``: what a trainer needs to know without listing folders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    modality: Modality
    labels: tuple[str, ...] = Field(description="Class names, which are also the folder names, sorted.")
    file_format: str = Field(description="What every sample file is, e.g. 'PNG, 32x32, 8-bit grayscale'.")
    seed: int
    counts: dict[Split, dict[str, int]] = Field(description="Files per split and label.")
    provenance: Provenance

    def split_size(self, split: Split) -> int:
        """Number of files in one split."""
        return sum(self.counts[split].values())

    @property
    def total(self) -> int:
        """Number of files in all splits."""
        return sum(self.split_size(split) for split in SPLITS)


def read_manifest(dataset_dir: Path) -> DatasetManifest:
    """Read ``dataset_dir/dataset.json``."""
    return DatasetManifest.model_validate_json((dataset_dir / MANIFEST_NAME).read_text(encoding="utf-8"))


class DatasetWriter:
    """Stages one dataset's files, then publishes them as ``OUT/NAME`` together with the manifest.

    Use it as a context manager; leaving the block by an exception removes the staging folder and
    leaves any earlier ``OUT/NAME`` untouched.
    """

    def __init__(self, out_dir: Path, name: str) -> None:
        self.root = out_dir / name
        self.staging = out_dir / f".{name}.partial"
        self._name = name
        self._counts: dict[Split, Counter[str]] = {split: Counter() for split in SPLITS}
        self._reserved: set[Path] = set()

    def __enter__(self) -> DatasetWriter:
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)

    def reserve(self, split: Split, label: str, filename: str) -> Path:
        """Count one sample and return the path its file is to be written to (its folder exists)."""
        path = self.staging / split / label / filename
        if path in self._reserved:
            raise DatasetError(f"{self._name}: two samples named {split}/{label}/{filename}")
        self._reserved.add(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._counts[split][label] += 1
        return path

    def publish(
        self,
        *,
        modality: Modality,
        labels: Sequence[str],
        file_format: str,
        seed: int,
        provenance: Provenance,
    ) -> Path:
        """Write ``dataset.json``, move the staged folder to ``OUT/NAME`` and return that path."""
        labels = sorted(labels)
        unknown = {label for split in SPLITS for label in self._counts[split]} - set(labels)
        if unknown:
            raise DatasetError(f"{self._name}: samples with undeclared labels {sorted(unknown)}")
        for split in SPLITS:
            for label in labels:
                (self.staging / split / label).mkdir(parents=True, exist_ok=True)
        manifest = DatasetManifest(
            name=self._name,
            modality=modality,
            labels=tuple(labels),
            file_format=file_format,
            seed=seed,
            counts={split: {label: self._counts[split][label] for label in labels} for split in SPLITS},
            provenance=provenance,
        )
        (self.staging / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.staging.rename(self.root)
        return self.root


def stratified_split(
    labels: Sequence[str],
    *,
    seed: int,
    groups: Sequence[Hashable] | None = None,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> list[Split]:
    """Assign every item to a split, keeping label proportions and each group inside one split.

    A group (near-duplicate texts, one voice's clips) moves as a whole, so what its members share
    cannot leak across splits; without ``groups`` every item is its own group. A group's label is
    the most common among its items. Groups are visited label by label, in a seeded order, and each
    goes to the split furthest below its share of everything assigned so far: each label lands
    within about one group of its target counts, and even a tiny set reaches all three splits.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three non-negative shares summing to 1, got {fractions}")
    keys: Sequence[Hashable] = range(len(labels)) if groups is None else groups
    if len(keys) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(keys)} groups")

    members: dict[Hashable, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        members[key].append(index)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for indices in members.values():
        votes = Counter(labels[i] for i in indices)
        by_label[min(votes, key=lambda label: (-votes[label], label))].append(indices)

    rng = np.random.default_rng(seed)
    target = np.asarray(fractions, dtype=np.float64)
    filled = np.zeros(3)
    assignment: list[Split] = ["train"] * len(labels)
    for label in sorted(by_label):
        units = by_label[label]
        for position in rng.permutation(len(units)):
            indices = units[position]
            choice = int(np.argmax(target * (filled.sum() + len(indices)) - filled))
            filled[choice] += len(indices)
            for index in indices:
                assignment[index] = SPLITS[choice]
    return assignment
