"""Fixtures for the deployment tests: TF Serving's config messages and a small model repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def serving_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Classes of ``ModelServerConfig``, ``BatchingParameters`` and ``MonitoringConfig`` as TF Serving declares them.

    ModelServerConfig is the official one from tensorflow-serving-api; the other two come from the official
    modules when installed, else from ``tfserving_config_messages.proto`` compiled into a private pool.
    """
    from tensorflow_serving.config import model_server_config_pb2

    messages: dict[str, Any] = {"ModelServerConfig": model_server_config_pb2.ModelServerConfig}
    try:
        from tensorflow_serving.config import monitoring_config_pb2
        from tensorflow_serving.servables.tensorflow import session_bundle_config_pb2

        messages["BatchingParameters"] = session_bundle_config_pb2.BatchingParameters
        messages["MonitoringConfig"] = monitoring_config_pb2.MonitoringConfig
        return messages
    except ImportError:
        pass
    import grpc_tools

    out = tmp_path_factory.mktemp("serving-protos") / "set.pb"
    include = Path(grpc_tools.__file__).parent / "_proto"
    # In a child process: grpc_tools' protoc crashes inside a process that has loaded TensorFlow.
    args = ["-m", "grpc_tools.protoc", f"-I{HERE}", f"-I{include}", "--include_imports", f"--descriptor_set_out={out}"]
    subprocess.run([sys.executable, *args, "tfserving_config_messages.proto"], check=True, timeout=60)
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    for name in ("BatchingParameters", "MonitoringConfig"):
        messages[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
    return messages


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A repository with two servable models and the things a scan must skip."""
    models = tmp_path / "models"
    for version_dir in ("digits/1", "digits/2", "spam/3", "empty", ".staging/1", "notes/tmp", "bad name/1"):
        (models / version_dir).mkdir(parents=True)
    (models / "README.md").write_text("not a model\n")
    return models


@pytest.fixture(scope="session")
def compose() -> list[str]:
    """The docker-compose command (v1, validates offline); installed by scripts/bootstrap.sh."""
    found = shutil.which("docker-compose")
    assert found, "docker-compose is missing: run scripts/bootstrap.sh"
    return [found]


@pytest.fixture(scope="session")
def run() -> Any:
    """Run a command in the repository root, capturing text output."""

    def run_command(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, **kwargs)

    return run_command
