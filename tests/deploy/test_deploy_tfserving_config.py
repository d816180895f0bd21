"""The generated TF Serving config files parse as TF Serving's own messages and say what the settings say."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from service.settings import BatchingSettings, Settings
from service.tfserving_config import (
    BATCHING_PARAMETERS_FILE,
    MODEL_CONFIG_FILE,
    MONITORING_CONFIG_FILE,
    PROMETHEUS_PATH,
    SWAP_MARGIN_VERSIONS,
    discover_models,
    read_model_names,
    refresh_serving_config,
    write_serving_config,
)


def _parse(path: Path, message_class: Any) -> Any:
    return text_format.Parse(path.read_text(encoding="utf-8"), message_class())


def test_discover_models_lists_only_models_with_a_version(repository):
    assert discover_models(repository) == ["digits", "spam"]
    assert discover_models(repository / "missing") == []


def test_model_config_lists_each_model_under_models(repository, serving_messages):
    written = write_serving_config(repository, settings=Settings(latest_versions=1))
    assert {p.name for p in written} == {MODEL_CONFIG_FILE, BATCHING_PARAMETERS_FILE, MONITORING_CONFIG_FILE}

    config = _parse(repository / MODEL_CONFIG_FILE, serving_messages["ModelServerConfig"])
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == ["digits", "spam"]
    assert entries["digits"].base_path == "/models/digits"
    assert entries["digits"].model_platform == "tensorflow"
    policy = entries["spam"].model_version_policy
    assert policy.WhichOneof("policy_choice") == "latest"
    assert policy.latest.num_versions == 1 + SWAP_MARGIN_VERSIONS
    assert read_model_names(repository / MODEL_CONFIG_FILE) == ["digits", "spam"]


def test_model_config_follows_specific_and_all_policies(repository, tmp_path, serving_messages):
    specific = Settings(version_policy="specific", specific_versions={"digits": [1, 2]})
    write_serving_config(repository, tmp_path / "specific", settings=specific, base_path="/srv/models/")
    config = _parse(tmp_path / "specific" / MODEL_CONFIG_FILE, serving_messages["ModelServerConfig"])
    digits, spam = config.model_config_list.config
    assert list(digits.model_version_policy.specific.versions) == [1, 2]
    assert digits.base_path == "/srv/models/digits"
    assert spam.model_version_policy.WhichOneof("policy_choice") == "latest"

    write_serving_config(repository, tmp_path / "all", settings=Settings(version_policy="all"))
    config = _parse(tmp_path / "all" / MODEL_CONFIG_FILE, serving_messages["ModelServerConfig"])
    assert all(c.model_version_policy.WhichOneof("policy_choice") == "all" for c in config.model_config_list.config)


def test_batching_parameters_follow_batching_settings(repository, tmp_path, serving_messages):
    settings = Settings(batching=BatchingSettings(max_batch_size=24, batch_timeout_ms=1.5, max_queued_rows=100))
    write_serving_config(repository, tmp_path, settings=settings)
    batching = _parse(tmp_path / BATCHING_PARAMETERS_FILE, serving_messages["BatchingParameters"])
    assert batching.max_batch_size.value == 24
    assert batching.batch_timeout_micros.value == 1500
    assert batching.max_enqueued_batches.value == 5  # ceil(100 / 24)
    assert batching.num_batch_threads.value == settings.inference_threads
    # TF Serving requires increasing sizes ending with max_batch_size.
    assert list(batching.allowed_batch_sizes) == [1, 2, 4, 8, 16, 24]


def test_monitoring_config_exposes_prometheus(repository, serving_messages):
    refresh_serving_config(repository)
    monitoring = _parse(repository / MONITORING_CONFIG_FILE, serving_messages["MonitoringConfig"])
    assert monitoring.prometheus_config.enable is True
    assert monitoring.prometheus_config.path == PROMETHEUS_PATH == "/monitoring/prometheus/metrics"


def test_refresh_picks_up_a_new_model_and_leaves_no_scratch_files(repository, serving_messages):
    refresh_serving_config(repository)
    (repository / "spoken-digits" / "1").mkdir(parents=True)
    refresh_serving_config(repository)
    assert read_model_names(repository / MODEL_CONFIG_FILE) == ["digits", "spam", "spoken-digits"]
    assert not [p.name for p in repository.iterdir() if p.name.startswith(".") and p.is_file()]


def test_command_writes_the_files_without_tensorflow(repository, tmp_path, run):
    out = tmp_path / "out"
    probe = (
        "import runpy, sys\n"
        "try:\n"
        "    runpy.run_module('service.tfserving_config', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tensorflow_serving'))\n"
        "assert not heavy, heavy[:5]\n"
    )
    done = run([sys.executable, "-c", probe, "--models-dir", str(repository), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MODEL_CONFIG_FILE, BATCHING_PARAMETERS_FILE, MONITORING_CONFIG_FILE]
    )
    done = run([sys.executable, "-m", "service.tfserving_config", "--models-dir", str(repository)])
    assert done.returncode == 0, done.stderr
    assert (repository / MODEL_CONFIG_FILE).is_file()
