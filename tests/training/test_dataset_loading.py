"""Reading class-per-folder datasets: the layouts Keras reads, and seeded stratified splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.loading import DatasetError, discover


def _touch(root: Path, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")


def _flat(root: Path, per_label: int = 20) -> Path:
    for label in ("cat", "dog"):
        for i in range(per_label):
            _touch(root, f"{label}/{i:02d}.txt")
    _touch(root, "cat/ignored.png")
    _touch(root, "cat/.hidden.txt")
    return root


def test_discover_splits_flat_folder_stratified_and_disjoint(tmp_path: Path):
    files = discover(_flat(tmp_path), "text", seed=3)

    assert files.labels == ("cat", "dog")
    assert (len(files.train), len(files.val), len(files.test)) == (30, 4, 6)
    everything = files.train.paths + files.val.paths + files.test.paths
    assert len(set(everything)) == 40
    assert all(p.suffix == ".txt" and not p.name.startswith(".") for p in everything)
    for split in (files.train, files.val, files.test):
        assert split.labels.count(0) == split.labels.count(1)
        assert all(
            files.labels[label] == path.parent.name for path, label in zip(split.paths, split.labels, strict=True)
        )


def test_discover_split_is_deterministic_per_seed(tmp_path: Path):
    root = _flat(tmp_path)

    assert discover(root, "text", seed=1) == discover(root, "text", seed=1)
    assert discover(root, "text", seed=1).test != discover(root, "text", seed=2).test


def test_discover_uses_given_splits_and_carves_val_from_train(tmp_path: Path):
    for label in ("a", "b"):
        for i in range(10):
            _touch(tmp_path, f"train/{label}/{i}.wav")
        _touch(tmp_path, f"test/{label}/t.wav")

    files = discover(tmp_path, "audio")

    assert files.labels == ("a", "b")
    assert len(files.test) == 2 and all(p.parent.parent.name == "test" for p in files.test.paths)
    assert len(files.val) == 2 and all(p.parent.parent.name == "train" for p in files.val.paths)
    assert len(files.train) == 18


def test_discover_refuses_a_single_label(tmp_path: Path):
    _touch(tmp_path, "only/1.png")

    with pytest.raises(DatasetError, match="two label folders"):
        discover(tmp_path, "image")


def test_discover_refuses_test_labels_unknown_to_train(tmp_path: Path):
    for relative in ("train/a/1.png", "train/b/1.png", "test/c/1.png"):
        _touch(tmp_path, relative)

    with pytest.raises(DatasetError, match="not in train"):
        discover(tmp_path, "image")
