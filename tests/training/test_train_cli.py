"""``python -m training train`` end to end on a small generated dataset, and the tiny-model helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.contract import read_spec
from training.cli import main
from training.testing import build_tiny_models, write_tiny_dataset


def test_train_command_exports_next_version_and_reports_accuracy(tmp_path: Path, capsys):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=10)
    models = tmp_path / "models"
    argv = ["train", "--modality", "text", "--data", str(data), "--name", "topics"]
    argv += ["--models-dir", str(models), "--epochs", "3", "--sequence-length", "8"]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert f"version: {models / 'topics' / '1'}" in out
    assert "test accuracy: " in out
    spec = read_spec(models / "topics" / "1")
    assert spec.labels == ("food", "sport", "weather")
    assert spec.features.modality == "text" and spec.features.sequence_length == 8


def test_train_command_rejects_unknown_modality(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--modality", "video", "--data", "d", "--name", "n"])
    assert "invalid choice" in capsys.readouterr().err


def test_build_tiny_models_returns_version_folders(tmp_path: Path):
    versions = build_tiny_models(tmp_path, names=("tiny-text",), epochs=1)

    assert versions == {"tiny-text": tmp_path / "tiny-text" / "1"}
    assert (versions["tiny-text"] / "saved_model.pb").is_file()
