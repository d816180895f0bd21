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


def test_char_ngram_model_serves_what_training_computed(tmp_path: Path, caplog):
    import logging

    import numpy as np
    import tensorflow as tf

    from features import preprocess
    from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
    from features.text import preprocess_text

    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=10)
    models = tmp_path / "models"
    argv = ["train", "--modality", "text", "--data", str(data), "--name", "topics", "--models-dir", str(models)]
    argv += ["--epochs", "2", "--sequence-length", "8", "--char-ngrams", "3,4", "--char-ngram-buckets", "64"]
    argv += ["--char-ngram-length", "24", "--short-texts", "--augment", "--progress", "none"]

    caplog.set_level(logging.INFO, logger="training.pipeline")
    assert main(argv) == 0

    assert "short segments added" in caplog.text
    spec = read_spec(models / "topics" / "1")
    features = spec.features
    assert features.modality == "text" and features.char_ngram_sizes == (3, 4)
    assert features.input_shape == (32,) and features.id_count == len(features.vocabulary) + 64
    texts = ["sunny and warm", "the match ended in a draw", "Pasta!!", "raiin tomorow"]
    # The gateway's entry point and the training preprocessor are one function: identical ids.
    batch = np.stack([preprocess(text, features) for text in texts])
    np.testing.assert_array_equal(batch, np.stack([preprocess_text(text, features) for text in texts]))
    served = tf.saved_model.load(str(models / "topics" / "1")).signatures[SERVING_SIGNATURE]
    probabilities = served(token_ids=tf.constant(batch))[PROBABILITIES_OUTPUT].numpy()
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_train_command_rejects_unknown_modality(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--modality", "video", "--data", "d", "--name", "n"])
    assert "invalid choice" in capsys.readouterr().err


def test_build_tiny_models_returns_version_folders(tmp_path: Path):
    versions = build_tiny_models(tmp_path, names=("tiny-text",), epochs=1)

    assert versions == {"tiny-text": tmp_path / "tiny-text" / "1"}
    assert (versions["tiny-text"] / "saved_model.pb").is_file()
