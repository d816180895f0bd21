"""The V2 gRPC contract: committed code matches the .proto, messages match Triton's field for field, and
the service is listed by reflection and health beside classifier.v1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
from google.protobuf.descriptor import Descriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tritonclient.grpc import service_pb2 as triton_pb

from service.v2.wire import grpc_service_pb2 as ours

ROOT = Path(__file__).resolve().parents[3]
WIRE = ROOT / "service" / "v2" / "wire"


def test_committed_generated_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_v2_wire.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr

    fresh = {p.name: p.read_bytes() for p in (tmp_path / "service" / "v2" / "wire").glob("*_pb2*.py*")}
    committed = {p.name: p.read_bytes() for p in WIRE.glob("*_pb2*.py*")}
    assert sorted(fresh) == ["grpc_service_pb2.py", "grpc_service_pb2.pyi", "grpc_service_pb2_grpc.py"]
    stale = [name for name in fresh if fresh[name] != committed.get(name)]
    assert not stale, f"run `make proto` and commit: {stale} differ from the .proto"


def _assert_same_fields(mine: Descriptor, theirs: Descriptor) -> None:
    for field in mine.fields:
        other = theirs.fields_by_name.get(field.name)
        assert other is not None, f"{mine.full_name}.{field.name} is not in Triton's message"
        assert (other.number, other.type, other.is_repeated) == (field.number, field.type, field.is_repeated), (
            field.full_name
        )
    for nested in mine.nested_types:
        if not nested.GetOptions().map_entry:
            _assert_same_fields(nested, theirs.nested_types_by_name[nested.name])


def test_every_message_and_method_matches_tritons_on_the_wire() -> None:
    for name, message in ours.DESCRIPTOR.message_types_by_name.items():
        _assert_same_fields(message, triton_pb.DESCRIPTOR.message_types_by_name[name])
    service = ours.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = triton_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == theirs.full_name == "inference.GRPCInferenceService"
    for method in service.methods:
        other = theirs.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            other.input_type.full_name,
            other.output_type.full_name,
        )
        assert (method.client_streaming, method.server_streaming) == (other.client_streaming, other.server_streaming)


def test_our_messages_are_not_in_the_default_pool() -> None:
    # Triton's client registers the same names there; ours live in their own pool, so both load.
    assert ours.ModelInferRequest.DESCRIPTOR.file.pool is not triton_pb.ModelInferRequest.DESCRIPTOR.file.pool


async def test_reflection_lists_and_describes_the_v2_service(grpc_url: str) -> None:
    async with grpc.aio.insecure_channel(grpc_url) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="inference.GRPCInferenceService"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="classifier.v1.Classifier"),
        ]
        answers = [answer async for answer in stub.ServerReflectionInfo(iter(requests))]

    services = {s.name for s in answers[0].list_services_response.service}
    assert {"inference.GRPCInferenceService", "classifier.v1.Classifier", "grpc.health.v1.Health"} <= services
    assert answers[1].file_descriptor_response.file_descriptor_proto
    assert answers[2].file_descriptor_response.file_descriptor_proto


async def test_health_reports_the_v2_service_serving(grpc_url: str) -> None:
    async with grpc.aio.insecure_channel(grpc_url) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService")
        )

    assert answer.status == health_pb2.HealthCheckResponse.SERVING
