"""Read a class-per-folder dataset and turn every sample into its model input with ``features``.

Accepted layouts are the ones Keras' ``*_dataset_from_directory`` helpers read::

    DIR/LABEL/FILE                      one pool, split here (seeded, stratified)
    DIR/{train,val,test}/LABEL/FILE     splits given; a missing val or test is carved from train

Files are images (``.png .jpg .jpeg .bmp .gif``), texts (``.txt``) or WAV recordings (``.wav``).
Every sample goes through the same ``features`` function the gateway calls, so training sees
exactly the tensors serving will compute.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from features.errors import FeatureError
from features.spec import FeatureSpec, Modality

logger = logging.getLogger(__name__)

EXTENSIONS: dict[Modality, frozenset[str]] = {
    "image": frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"}),
    "text": frozenset({".txt"}),
    "audio": frozenset({".wav"}),
}
SPLITS = ("train", "val", "test")

Raw = bytes | str
T = TypeVar("T")
R = TypeVar("R")


class DatasetError(ValueError):
    """The folder is not a usable class-per-folder dataset."""


@dataclass(frozen=True)
class Split:
    """The files of one split and the index of each file's label."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class DatasetFiles:
    """A dataset's labels (sorted folder names) and its train/val/test files."""

    labels: tuple[str, ...]
    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Arrays:
    """One split as model inputs and integer labels."""

    x: npt.NDArray[np.generic]
    y: npt.NDArray[np.int64]


def discover(
    data_dir: Path,
    modality: Modality,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> DatasetFiles:
    """List the dataset's files by split; split deterministically where the folder does not."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir} is not a folder")
    extensions = EXTENSIONS[modality]
    given = {name: data_dir / name for name in SPLITS if (data_dir / name).is_dir()}
    if "train" in given:
        by_split = {name: _files_by_label(folder, extensions) for name, folder in given.items()}
    else:
        by_split = {"train": _files_by_label(data_dir, extensions)}
    labels = tuple(sorted(by_split["train"]))
    if len(labels) < 2:
        raise DatasetError(f"{data_dir} needs at least two label folders with {sorted(extensions)} files")
    for name, files in by_split.items():
        unknown = set(files) - set(labels)
        if unknown:
            raise DatasetError(f"{name} split has labels not in train: {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    train = by_split["train"]
    if "test" not in by_split:
        train, by_split["test"] = _stratified_split(train, test_fraction, rng)
    if "val" not in by_split:
        train, by_split["val"] = _stratified_split(train, val_fraction / (1 - test_fraction), rng)
    by_split["train"] = train
    return DatasetFiles(labels, *(_as_split(by_split[name], labels) for name in SPLITS))


def _files_by_label(folder: Path, extensions: frozenset[str]) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for label_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = sorted(
            p
            for p in label_dir.rglob("*")
            if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith(".")
        )
        if found:
            files[label_dir.name] = found
    return files


def _stratified_split(
    files: dict[str, list[Path]], fraction: float, rng: np.random.Generator
) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Move ``fraction`` of each label's files (at least one, if it has two) to a new split."""
    kept: dict[str, list[Path]] = {}
    taken: dict[str, list[Path]] = {}
    for label, paths in files.items():
        order = rng.permutation(len(paths))
        count = min(len(paths) - 1, max(1, round(fraction * len(paths)))) if len(paths) > 1 else 0
        taken[label] = sorted(paths[i] for i in order[:count])
        kept[label] = sorted(paths[i] for i in order[count:])
    return kept, taken


def _as_split(files: dict[str, list[Path]], labels: Sequence[str]) -> Split:
    paths: list[Path] = []
    indices: list[int] = []
    for index, label in enumerate(labels):
        for path in files.get(label, []):
            paths.append(path)
            indices.append(index)
    return Split(tuple(paths), tuple(indices))


def read_raw(path: Path, modality: Modality) -> Raw:
    """A file's contents as the gateway would receive them: text as ``str``, the rest as bytes."""
    data = path.read_bytes()
    if modality == "text":
        return data.decode("utf-8", errors="replace")
    return data


def read_split(split: Split, modality: Modality, *, workers: int | None = None) -> list[Raw]:
    """Read every file of a split (I/O only, in a thread pool)."""
    return list(_map(lambda p: read_raw(p, modality), split.paths, workers))


def preprocessor(features: FeatureSpec) -> Callable[[Raw], npt.NDArray[np.generic]]:
    """The shared ``features.preprocess`` bound to this spec: what the gateway computes per request."""
    from features import preprocess

    return lambda raw: preprocess(raw, features)


def featurize(
    raws: Sequence[Raw],
    labels: Sequence[int],
    features: FeatureSpec,
    *,
    workers: int | None = None,
) -> Arrays:
    """Preprocess raw samples into one array; samples ``features`` refuses are skipped and logged."""
    transform = preprocessor(features)

    def attempt(raw: Raw) -> npt.NDArray[np.generic] | FeatureError:
        try:
            return transform(raw)
        except FeatureError as exc:
            return exc

    rows: list[npt.NDArray[np.generic]] = []
    kept: list[int] = []
    skipped = 0
    for result, label in zip(_map(attempt, raws, workers), labels, strict=True):
        if isinstance(result, FeatureError):
            skipped += 1
            logger.warning("skipped a sample: %s", result)
            continue
        rows.append(result)
        kept.append(label)
    if skipped:
        logger.warning("skipped %d of %d samples that preprocessing refused", skipped, len(raws))
    shape = (0, *features.input_shape)
    x = np.stack(rows) if rows else np.zeros(shape, dtype=features.input_dtype)
    return Arrays(x.astype(features.input_dtype, copy=False), np.asarray(kept, dtype=np.int64))


def _map(function: Callable[[T], R], items: Iterable[T], workers: int | None) -> list[R]:
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    if count <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(function, items))
