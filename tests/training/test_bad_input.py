"""Bad data folders: empty classes, one-file classes, unreadable files, non-UTF-8 text, WAVs at any rate."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import soundfile

from training.cli import main
from training.loading import SkipLog, decode_text, discover, read_split
from training.testing import write_tiny_dataset


def _wav(rate: int, frequency: float, seconds: float = 0.5) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def test_empty_and_one_file_classes_are_named_and_training_goes_on(tmp_path: Path, caplog, capsys):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=8)
    (data / "empty").mkdir()
    (data / "lonely").mkdir()
    (data / "lonely" / "only.txt").write_text("a single example of this class")
    caplog.set_level(logging.INFO)

    code = main(["train", "--modality", "text", "--data", str(data), "--name", "t", "--epochs", "1",
                 "--models-dir", str(tmp_path / "m")])  # fmt: skip

    assert code == 0
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "ignored label folder(s) without .txt files: empty" in messages
    assert "fewer than two training files (learned from one example): lonely" in messages
    assert "no held-out test file (not scored): lonely" in messages
    assert "version: " in capsys.readouterr().out


def test_a_folder_with_one_usable_class_exits_2_with_a_message(tmp_path: Path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.txt").write_text("hello")
    (tmp_path / "b").mkdir()

    code = main(["train", "--modality", "text", "--data", str(tmp_path), "--name", "t"])

    assert code == 2
    assert "needs at least two label folders with .txt files, found 1 (a)" in capsys.readouterr().err


def test_missing_folder_exits_2(tmp_path: Path, capsys):
    assert main(["train", "--modality", "image", "--data", str(tmp_path / "nope"), "--name", "t"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_unreadable_files_are_skipped_and_listed(tmp_path: Path, caplog):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=6)
    files = discover(data, "text")
    gone = files.train.paths[0]
    gone.unlink()  # vanished between listing and reading, as on a flaky network share
    skipped = SkipLog()

    samples = read_split(files.train, "text", skipped)

    assert gone not in samples.paths and len(samples.paths) == len(files.train) - 1
    assert [entry.path for entry in skipped.entries] == [gone]
    caplog.set_level(logging.WARNING)
    skipped.report()
    assert f"  {gone}: unreadable" in "\n".join(r.getMessage() for r in caplog.records)


def test_broken_images_are_skipped_and_listed(tmp_path: Path, caplog):
    data = write_tiny_dataset("tiny-image", tmp_path / "data", per_label=8)
    (data / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    caplog.set_level(logging.INFO)

    code = main(["train", "--modality", "image", "--data", str(data), "--name", "t", "--epochs", "1",
                 "--image-size", "16x16", "--models-dir", str(tmp_path / "m")])  # fmt: skip

    assert code == 0
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "skipped 1 file(s):" in messages and "broken.png: " in messages


def test_non_utf8_text_is_decoded_with_its_detected_encoding():
    text = "Le café est gratuit aujourd'hui, profitez-en vite: prix réduit pour les élèves. " * 3

    assert decode_text(text.encode("cp1252")) == text
    assert decode_text(text.encode("utf-16")) == text
    assert decode_text("\ufeffbonjour".encode()) == "bonjour"


def test_wavs_at_many_rates_train_and_unusable_rates_are_listed(tmp_path: Path, caplog):
    rates = (8_000, 11_025, 22_050, 44_100, 48_000)
    for label, frequency in (("low", 300.0), ("high", 2_500.0)):
        folder = tmp_path / "data" / label
        folder.mkdir(parents=True)
        for i in range(10):
            (folder / f"{i}.wav").write_bytes(_wav(rates[i % len(rates)], frequency * (1 + 0.01 * i)))
    (tmp_path / "data" / "low" / "hifi.wav").write_bytes(_wav(96_000, 300.0))
    caplog.set_level(logging.INFO)

    code = main(["train", "--modality", "speech", "--data", str(tmp_path / "data"), "--name", "t",
                 "--epochs", "1", "--models-dir", str(tmp_path / "m")])  # fmt: skip

    assert code == 0
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "hifi.wav: sample rate 96000 Hz is outside" in messages
    assert "skipped 1 file(s):" in messages
