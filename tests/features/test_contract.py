"""The model version contract: what a version folder is, where its files are, the batch check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.contract import (
    BatchMismatch,
    check_batch,
    evaluation_file,
    newest_version_dir,
    spec_file,
    version_dirs,
    version_number,
    warmup_file,
)
from features.spec import ImageFeatures, TextFeatures


@pytest.mark.parametrize(("name", "number"), [("1", 1), ("007", 7), ("20261128", 20261128)])
def test_decimal_ascii_names_are_versions(name: str, number: int) -> None:
    assert version_number(name) == number


@pytest.mark.parametrize("name", ["", "1.bak", "-1", " 1", "v2", ".export-3", "²", "١٢", "tmp"])
def test_other_names_are_not_versions(name: str) -> None:
    assert version_number(name) is None


def test_version_dirs_lists_version_folders_in_order(tmp_path: Path) -> None:
    for name in ("10", "2", ".export-11", "notes", "3b"):
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a folder")

    assert version_dirs(tmp_path) == {2: tmp_path / "2", 10: tmp_path / "10"}
    assert newest_version_dir(tmp_path) == tmp_path / "10"
    assert version_dirs(tmp_path / "missing") == {}
    with pytest.raises(FileNotFoundError):
        newest_version_dir(tmp_path / "missing")


def test_files_live_in_assets_extra(tmp_path: Path) -> None:
    assert spec_file(tmp_path) == tmp_path / "assets.extra" / "spec.json"
    assert warmup_file(tmp_path) == tmp_path / "assets.extra" / "tf_serving_warmup_requests"
    assert evaluation_file(tmp_path) == tmp_path / "assets.extra" / "evaluation.json"


def test_check_batch_passes_a_fitting_batch_through(text_spec: TextFeatures) -> None:
    batch = np.zeros((3, 6), np.int32)

    assert check_batch(batch, text_spec) is batch


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.zeros((2, 6), np.int64), "int64 of shape [2, 6]"),
        (np.zeros((2, 7), np.int32), "shape [2, 7]"),
        (np.zeros(6, np.int32), "shape [6]"),
        (np.zeros((0, 6), np.int32), "no rows"),
        ([[0] * 6], "numpy array, not list"),
    ],
)
def test_check_batch_refuses_what_does_not_fit(batch: object, message: str, text_spec: TextFeatures) -> None:
    with pytest.raises(BatchMismatch, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        check_batch(batch, text_spec)

    if message != "no rows" and "numpy" not in message:
        assert "wants int32 [N, 6]" in str(caught.value)


def test_check_batch_reads_image_shapes(gray_spec: ImageFeatures) -> None:
    check_batch(np.zeros((1, 28, 28, 1), np.uint8), gray_spec)
    with pytest.raises(BatchMismatch, match=r"uint8 \[N, 28, 28, 1\]"):
        check_batch(np.zeros((1, 28, 28, 3), np.uint8), gray_spec)
