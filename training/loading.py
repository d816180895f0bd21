"""Read a class-per-folder dataset and turn every sample into its model input with ``features``.

Accepted layouts are the ones Keras' ``*_dataset_from_directory`` helpers read::

    DIR/LABEL/FILE                      one pool, split here (seeded, stratified)
    DIR/{train,val,test}/LABEL/FILE     splits given; a missing val or test is carved from train

Files are images (``.png .jpg .jpeg .bmp .gif``), texts (``.txt``) or WAV recordings (``.wav``).
Every sample goes through the same ``features`` function the gateway calls, so training sees
exactly the tensors serving will compute.

Bad input never crashes a run: label folders without usable files are ignored and named, a label with
too few files to hold one out is named, and files that cannot be read or preprocessed (permissions, a
broken image, a WAV outside 8-48 kHz) are skipped and listed in a ``SkipLog``. Text files that are not
UTF-8 are decoded with the encoding ``charset_normalizer`` detects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
class Skipped:
    """A file left out of a run, and why."""

    path: Path
    reason: str


@dataclass
class SkipLog:
    """Collects the files a run leaves out, so they can be listed together at the end."""

    entries: list[Skipped] = field(default_factory=list)

    def add(self, path: Path, reason: str) -> None:
        self.entries.append(Skipped(path, reason))

    def report(self, *, limit: int = 50) -> None:
        """Log every skipped file (the first ``limit``, then a count)."""
        if not self.entries:
            return
        logger.warning("skipped %d file(s):", len(self.entries))
        for entry in self.entries[:limit]:
            logger.warning("  %s: %s", entry.path, entry.reason)
        if len(self.entries) > limit:
            logger.warning("  ... and %d more", len(self.entries) - limit)


@dataclass(frozen=True)
class Samples:
    """The readable files of one split: raw contents, label indices and paths, in step."""

    raws: list[Raw]
    labels: list[int]
    paths: list[Path]


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
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(f"validation ({val_fraction}) and test ({test_fraction}) fractions must leave training data")
    if "train" in given:
        by_split = {name: _files_by_label(folder, extensions) for name, folder in given.items()}
    else:
        by_split = {"train": _files_by_label(data_dir, extensions)}
    root = given.get("train", data_dir)
    empty = sorted(p.name for p in _label_dirs(root) if p.name not in by_split["train"])
    if empty:
        logger.warning("ignored label folder(s) without %s files: %s", "/".join(sorted(extensions)), ", ".join(empty))
    labels = tuple(sorted(by_split["train"]))
    if len(labels) < 2:
        raise DatasetError(
            f"{data_dir} needs at least two label folders with {'/'.join(sorted(extensions))} files,"
            f" found {len(labels)}{' (' + ', '.join(labels) + ')' if labels else ''}"
        )
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
    lonely = sorted(label for label in labels if len(by_split["train"].get(label, [])) < 2)
    if lonely:
        logger.warning("label(s) with fewer than two training files (learned from one example): %s", ", ".join(lonely))
    unscored = sorted(label for label in labels if not by_split["test"].get(label))
    if unscored:
        logger.warning("label(s) with no held-out test file (not scored): %s", ", ".join(unscored))
    return DatasetFiles(labels, *(_as_split(by_split[name], labels) for name in SPLITS))


def _label_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files_by_label(folder: Path, extensions: frozenset[str]) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for label_dir in _label_dirs(folder):
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
    """A file's contents as the gateway would receive them: text as ``str``, the rest as bytes.

    Raises ``OSError`` when the file cannot be read.
    """
    data = path.read_bytes()
    if modality == "text":
        return decode_text(data)
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) when it is; otherwise the encoding detected for it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    # Single-byte Western text fits several code pages equally well (cp1250 reads "è" as "č"); among
    # the plausible ones, prefer Windows-1252, by far the most common non-UTF-8 encoding of mail and text.
    if any(match.encoding == "cp1252" for match in matches):
        return data.decode("cp1252")
    best = matches.best()
    if best is not None:
        return str(best)
    return data.decode("cp1252", errors="replace")  # undetectable: the common Windows code page, never fails


def read_split(split: Split, modality: Modality, skipped: SkipLog, *, workers: int | None = None) -> Samples:
    """Read every file of a split (I/O only, in a thread pool); unreadable files go to ``skipped``."""

    def attempt(path: Path) -> Raw | OSError:
        try:
            return read_raw(path, modality)
        except OSError as exc:
            return exc

    samples = Samples([], [], [])
    for path, label, result in zip(split.paths, split.labels, _map(attempt, split.paths, workers), strict=True):
        if isinstance(result, OSError):
            skipped.add(path, f"unreadable ({result.strerror or result})")
            continue
        samples.raws.append(result)
        samples.labels.append(label)
        samples.paths.append(path)
    return samples


def preprocessor(features: FeatureSpec) -> Callable[[Raw], npt.NDArray[np.generic]]:
    """The shared ``features.preprocess`` bound to this spec: what the gateway computes per request."""
    from features import preprocess

    return lambda raw: preprocess(raw, features)


def featurize(
    samples: Samples,
    features: FeatureSpec,
    skipped: SkipLog,
    *,
    workers: int | None = None,
) -> Arrays:
    """Preprocess raw samples into one array; samples ``features`` refuses go to ``skipped``."""
    transform = preprocessor(features)

    def attempt(raw: Raw) -> npt.NDArray[np.generic] | FeatureError:
        try:
            return transform(raw)
        except FeatureError as exc:
            return exc

    rows: list[npt.NDArray[np.generic]] = []
    kept: list[int] = []
    results = _map(attempt, samples.raws, workers)
    for result, label, path in zip(results, samples.labels, samples.paths, strict=True):
        if isinstance(result, FeatureError):
            skipped.add(path, str(result))
            continue
        rows.append(result)
        kept.append(label)
    shape = (0, *features.input_shape)
    x = np.stack(rows) if rows else np.zeros(shape, dtype=features.input_dtype)
    return Arrays(x.astype(features.input_dtype, copy=False), np.asarray(kept, dtype=np.int64))


def _map(function: Callable[[T], R], items: Iterable[T], workers: int | None) -> list[R]:
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    if count <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(function, items))
