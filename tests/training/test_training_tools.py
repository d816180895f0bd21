"""``python -m training`` for daily use: log-friendly progress, evaluate, compare, --val-split, --max-minutes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from features.spec import ModelSpec
from training.cli import main
from training.pipeline import TrainingJob, train_and_export
from training.progress import format_epoch, resolve_progress
from training.testing import write_tiny_dataset

TRAIN = ["train", "--modality", "text", "--name", "topics", "--epochs", "3", "--sequence-length", "8"]


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``topics`` versions 1 and 2 (different seeds) and the tiny text dataset they were trained on."""
    root = tmp_path_factory.mktemp("tools")
    data = write_tiny_dataset("tiny-text", root / "data", per_label=10)
    models = root / "models"
    for seed in ("1", "2"):
        assert main([*TRAIN, "--data", str(data), "--models-dir", str(models), "--seed", seed]) == 0
    return models, data


def test_train_logs_one_plain_line_per_epoch_when_not_a_terminal(tmp_path: Path, capsys, caplog):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=8)
    caplog.set_level(logging.INFO)

    assert main([*TRAIN, "--data", str(data), "--models-dir", str(tmp_path / "models")]) == 0

    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert all("val_loss" in line and "lr " in line for line in epochs)
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out and "━" not in out


def test_resolve_progress_uses_a_bar_only_on_a_terminal(tmp_path: Path):
    class Terminal:
        def isatty(self) -> bool:
            return True

    with (tmp_path / "log").open("w") as log_file:
        assert resolve_progress("auto", log_file) == "lines"
    assert resolve_progress("auto", Terminal()) == "bar"  # type: ignore[arg-type]
    assert resolve_progress("none", Terminal()) == "none"  # type: ignore[arg-type]


def test_format_epoch_is_one_readable_line():
    line = format_epoch(2, 16, {"loss": 0.5, "accuracy": 0.875, "learning_rate": 0.002}, 4.25)

    assert line == "epoch 3/16  loss 0.5000  accuracy 0.8750  lr 2.0e-03  4.2s"


def test_max_minutes_stops_after_the_first_epoch_when_spent(tmp_path: Path):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=8)
    job = TrainingJob(data, "topics", "text", models_dir=tmp_path / "models", epochs=6, patience=6,
                      max_minutes=1e-6, progress="none", workers=1)  # fmt: skip

    result = train_and_export(job)

    assert result.epochs_run == 1
    assert result.version_dir.is_dir()


def test_val_split_sets_the_validation_share(tmp_path: Path, caplog):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=20)
    caplog.set_level(logging.INFO)

    argv = [*TRAIN, "--data", str(data), "--models-dir", str(tmp_path / "m"), "--val-split", "0.3", "--epochs", "1"]
    assert main(argv) == 0

    assert any("labels, 33 train / 18 val / 9 test files" in r.getMessage() for r in caplog.records)


def test_val_split_out_of_range_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        main([*TRAIN, "--data", "d", "--val-split", "1.5"])
    assert raised.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err


def test_same_seed_gives_the_same_model(tmp_path: Path):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=8)
    results = [
        train_and_export(
            TrainingJob(data, "topics", "text", models_dir=tmp_path / "m", epochs=2, seed=7, progress="none", workers=1)
        )
        for _ in range(2)
    ]
    first, second = (json.loads((r.version_dir / "assets.extra" / "evaluation.json").read_text()) for r in results)
    assert first == second
    assert [r.version_dir.name for r in results] == ["1", "2"]


def test_evaluate_writes_the_report_files(two_versions: tuple[Path, Path], tmp_path: Path, capsys):
    models, data = two_versions
    out = tmp_path / "report"

    code = main(["evaluate", "--models-dir", str(models), "--model", "topics", "--version", "1",
                 "--data", str(data), "--out", str(out)])  # fmt: skip

    assert code == 0
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert evaluation["samples"] == 30 and evaluation["labels"] == ["food", "sport", "weather"]
    assert 0 <= evaluation["expected_calibration_error"] <= 1
    assert (out / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "reliability_diagram.png").read_bytes().startswith(b"\x89PNG")
    assert f"accuracy {evaluation['accuracy']:.4f} (30 samples)" in capsys.readouterr().out


def test_compare_reports_per_class_deltas_and_flips(two_versions: tuple[Path, Path], tmp_path: Path, capsys):
    models, data = two_versions
    out = tmp_path / "compare.json"

    code = main(["compare", "--models-dir", str(models), "--model", "topics", "--versions", "1", "2",
                 "--data", str(data), "--out", str(out)])  # fmt: skip

    assert code == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 30
    assert [row["label"] for row in result["per_class"]] == ["food", "sport", "weather"]
    for row in result["per_class"]:
        assert row["delta"] == pytest.approx(row["accuracy_b"] - row["accuracy_a"])
    flips = sum(sum(row) for row in result["flip_matrix"])
    assert flips == result["changed"] >= result["fixed"] + result["broken"] - result["changed"]
    assert result["accuracy_b"] - result["accuracy_a"] == pytest.approx((result["fixed"] - result["broken"]) / 30)
    assert result["agreement"] == pytest.approx(1 - result["changed"] / 30)  # the gateway's comparison rule
    assert 0 <= result["mean_js_divergence"] <= 1
    printed = capsys.readouterr().out
    assert "topics: v1" in printed and "delta" in printed and "fixed (wrong -> right)" in printed


def test_evaluate_unknown_version_exits_2(two_versions: tuple[Path, Path], capsys):
    models, data = two_versions

    code = main(["evaluate", "--models-dir", str(models), "--model", "topics", "--version", "9", "--data", str(data)])

    assert code == 2
    assert "is not an exported version" in capsys.readouterr().err


def test_evaluate_refuses_labels_the_model_does_not_know(two_versions: tuple[Path, Path], tmp_path: Path, capsys):
    models, _ = two_versions
    data = tmp_path / "other"
    (data / "music").mkdir(parents=True)
    (data / "music" / "a.txt").write_text("guitar")

    code = main(["evaluate", "--models-dir", str(models), "--model", "topics", "--version", "1", "--data", str(data)])

    assert code == 2
    assert "does not know: music" in capsys.readouterr().err


def test_min_confidence_is_written_into_the_spec(tmp_path: Path):
    data = write_tiny_dataset("tiny-text", tmp_path / "data", per_label=8)
    models = tmp_path / "models"

    assert (
        main([*TRAIN, "--data", str(data), "--models-dir", str(models), "--epochs", "1", "--min-confidence", "0.7"])
        == 0
    )

    spec = ModelSpec.from_json((models / "topics" / "1" / "assets.extra" / "spec.json").read_text())
    assert spec.min_confidence == 0.7
