"""The client package: generated code matches the .proto, and it needs nothing but grpcio and protobuf."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
GENERATED = CLIENT / "classifier_client" / "v1"


def test_committed_generated_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_proto.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr

    fresh = {p.name: p.read_bytes() for p in tmp_path.glob("*_pb2*.py*")}
    committed = {p.name: p.read_bytes() for p in GENERATED.glob("*_pb2*.py*")}
    assert sorted(fresh) == ["classifier_pb2.py", "classifier_pb2.pyi", "classifier_pb2_grpc.py"]
    assert sorted(committed) == sorted(fresh)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"run `make proto` and commit: {stale} differ from proto/"


def test_generated_code_imports_only_from_the_client_package() -> None:
    grpc_module = (GENERATED / "classifier_pb2_grpc.py").read_text(encoding="utf-8")
    assert "from classifier_client.v1 import classifier_pb2" in grpc_module
    assert "'classifier.v1.Classifier'" in grpc_module  # the wire name is untouched
    assert "from classifier.v1" not in grpc_module


def test_distribution_depends_only_on_grpcio_and_protobuf() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = sorted(spec.split("<")[0].split(">")[0].split("=")[0].strip() for spec in project["dependencies"])

    assert project["name"] == "classifier-client"
    assert names == ["grpcio", "protobuf"]


def test_importing_the_client_loads_no_tensorflow_numpy_or_gateway_code() -> None:
    probe = (
        "import sys, classifier_client, classifier_client.cli;"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'numpy', 'service', 'features'});"
        "print(','.join(heavy))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert run.stdout.strip() == ""
