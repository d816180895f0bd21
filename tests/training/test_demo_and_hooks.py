"""The demo command's skip rule and summary, and the optional TF Serving config hook after export."""

from __future__ import annotations

import importlib.machinery
import json
import logging
import sys
import types
from pathlib import Path

import pytest

import training.export as export
from training.demo import DEMO_MODELS, run_demo


def test_demo_keeps_models_that_already_have_a_version(tmp_path: Path, capsys):
    for index, demo in enumerate(DEMO_MODELS):
        extra = tmp_path / "models" / demo.name / "2" / "assets.extra"
        extra.mkdir(parents=True)
        (extra / "evaluation.json").write_text(json.dumps({"accuracy": 0.9 + index / 100}))

    rows = run_demo(tmp_path / "data", tmp_path / "models")

    assert [(row.name, row.version_dir.name, row.status) for row in rows] == [
        (demo.name, "2", "kept (already exported)") for demo in DEMO_MODELS
    ]
    assert not (tmp_path / "data").exists()
    out = capsys.readouterr().out
    assert "test accuracy" in out and "90.00%" in out and "92.00%" in out


def test_refresh_hook_is_skipped_when_module_is_absent(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setattr(export, "SERVING_CONFIG_MODULE", "service_that_does_not_exist.config")

    with caplog.at_level(logging.DEBUG):
        export.refresh_serving_config(tmp_path)

    assert list(tmp_path.iterdir()) == []  # no config written
    assert "service_that_does_not_exist" not in sys.modules
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []  # absent is normal, not a fault


@pytest.fixture
def fake_hook_module(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    module = types.ModuleType("fake_tfserving_config")
    module.__spec__ = importlib.machinery.ModuleSpec("fake_tfserving_config", loader=None)
    module.refresh_serving_config = calls.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_tfserving_config", module)
    monkeypatch.setattr(export, "SERVING_CONFIG_MODULE", "fake_tfserving_config")
    return calls


def test_refresh_hook_is_called_with_models_dir(tmp_path: Path, fake_hook_module: list[Path]):
    export.refresh_serving_config(tmp_path)

    assert fake_hook_module == [tmp_path]


def test_refresh_hook_failure_is_logged_not_raised(tmp_path: Path, monkeypatch, caplog):
    module = types.ModuleType("broken_tfserving_config")
    module.__spec__ = importlib.machinery.ModuleSpec("broken_tfserving_config", loader=None)

    def broken(models_dir: Path) -> None:
        raise RuntimeError("cannot write config")

    module.refresh_serving_config = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "broken_tfserving_config", module)
    monkeypatch.setattr(export, "SERVING_CONFIG_MODULE", "broken_tfserving_config")

    export.refresh_serving_config(tmp_path)

    assert "could not refresh the TF Serving config" in caplog.text


def test_models_train_in_parallel_worker_processes(tmp_path: Path):
    from training.demo import DemoModel, train_in_workers
    from training.feature_specs import FeatureOptions
    from training.testing import write_tiny_dataset

    options = FeatureOptions(image_height=8, image_width=8, color_mode="grayscale", max_tokens=50, sequence_length=8)
    pending = [
        DemoModel(name="tiny-image", modality="image", options=options, epochs=2, batch_size=8, expected_seconds=1),
        DemoModel(name="tiny-text", modality="text", options=options, epochs=2, batch_size=8, expected_seconds=2),
    ]
    data = tmp_path / "data"
    datasets = {demo.name: write_tiny_dataset(demo.name, data / demo.name, per_label=6) for demo in pending}

    rows = train_in_workers(pending, datasets, tmp_path / "models", 2)

    assert sorted(rows) == ["tiny-image", "tiny-text"]
    for name, row in rows.items():
        assert row.status == "trained" and row.accuracy is not None and 0.0 <= row.accuracy <= 1.0
        assert row.version_dir == tmp_path / "models" / name / "1"
        assert (row.version_dir / "assets.extra" / "evaluation.json").is_file()
