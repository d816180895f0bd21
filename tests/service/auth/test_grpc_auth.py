"""gRPC with authentication on: every Classifier method refuses a missing or wrong key (UNAUTHENTICATED),
a key without the scope (PERMISSION_DENIED) and a key over its rate (RESOURCE_EXHAUSTED with
``retry-after``); health and reflection stay open; the Python client sends ``api_key=``.

grpcurl is not packaged for Debian, so the metadata a grpcurl ``-H 'authorization: Bearer KEY'`` call
would send is sent here with a plain channel and the generated stub, and through the Python client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from auth_support import add_key, keys, seconds_until
from classifier_client import AsyncClassifierClient, ClassifierClient, PermissionDenied, RetryPolicy, Unauthenticated
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from service.gateway import Gateway

Call = Callable[[pb_grpc.ClassifierStub, tuple[tuple[str, str], ...]], Awaitable[Any]]


def _classify_request() -> pb.ClassifyRequest:
    return pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="hello there")])


async def _classify(stub: pb_grpc.ClassifierStub, metadata: tuple[tuple[str, str], ...]) -> Any:
    return await stub.Classify(_classify_request(), metadata=metadata, timeout=30)


async def _stream(stub: pb_grpc.ClassifierStub, metadata: tuple[tuple[str, str], ...]) -> Any:
    call = stub.ClassifyStream(iter([_classify_request()]), metadata=metadata, timeout=30)
    return [message async for message in call]


async def _list(stub: pb_grpc.ClassifierStub, metadata: tuple[tuple[str, str], ...]) -> Any:
    return await stub.ListModels(pb.ListModelsRequest(), metadata=metadata, timeout=30)


async def _get(stub: pb_grpc.ClassifierStub, metadata: tuple[tuple[str, str], ...]) -> Any:
    return await stub.GetModel(pb.GetModelRequest(name="tiny-text"), metadata=metadata, timeout=30)


METHODS: dict[str, Call] = {"Classify": _classify, "ClassifyStream": _stream, "ListModels": _list, "GetModel": _get}


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture
async def stub(gateway: Gateway) -> AsyncIterator[pb_grpc.ClassifierStub]:
    async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
        yield pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]


def test_every_method_is_covered() -> None:
    assert set(METHODS) == set(pb.DESCRIPTOR.services_by_name["Classifier"].methods_by_name)


@pytest.mark.parametrize("method", METHODS)
async def test_method_without_or_with_wrong_key_is_unauthenticated(
    stub: pb_grpc.ClassifierStub, classify_key: str, method: str
) -> None:
    for metadata in (
        (),
        auth("csk_000000000000_" + "y" * 43),
        auth(classify_key[:-2] + "zz"),
        (("authorization", classify_key),),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await METHODS[method](stub, metadata)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert classify_key not in (caught.value.details() or "")


@pytest.mark.parametrize("method", METHODS)
async def test_method_with_key_lacking_scope_is_permission_denied(
    stub: pb_grpc.ClassifierStub, admin_key: str, method: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await METHODS[method](stub, auth(admin_key))

    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "classify" in (caught.value.details() or "")


@pytest.mark.parametrize("method", METHODS)
async def test_method_with_classify_key_answers(stub: pb_grpc.ClassifierStub, classify_key: str, method: str) -> None:
    answer = await METHODS[method](stub, auth(classify_key))

    assert answer is not None


async def test_health_and_reflection_are_open(gateway: Gateway) -> None:
    async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        listed = [r async for r in call]

    assert status.status == health_pb2.HealthCheckResponse.SERVING
    names = {s.name for s in listed[0].list_services_response.service}
    assert "classifier.v1.Classifier" in names


async def test_async_client_sends_its_api_key(gateway: Gateway, classify_key: str, admin_key: str) -> None:
    no_retry = RetryPolicy(max_attempts=1)
    async with AsyncClassifierClient(gateway.grpc.address, api_key=classify_key, retry=no_retry) as client:
        result = await client.classify_text("tiny-text", "hello there", top_k=1)
        streamed = [item async for item in client.classify_stream([_classify_request()] * 3)]
    async with AsyncClassifierClient(gateway.grpc.address, retry=no_retry) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.list_models()
    async with AsyncClassifierClient(gateway.grpc.address, api_key=admin_key, retry=no_retry) as operator:
        with pytest.raises(PermissionDenied):
            await operator.get_model("tiny-text")

    assert result.model == "tiny-text" and result.version == 1
    assert len(streamed) == 3 and all(getattr(item, "model", None) == "tiny-text" for item in streamed)


async def test_blocking_client_sends_its_api_key(gateway: Gateway, classify_key: str) -> None:
    def run() -> tuple[str, int]:
        with ClassifierClient(gateway.grpc.address, api_key=classify_key) as client:
            models = client.list_models()
            items = list(client.classify_stream([_classify_request()] * 2))
        return models[0].name, len(items)

    first_name, streamed = await asyncio.to_thread(run)

    assert first_name.startswith("tiny-") and streamed == 2


async def test_rate_limited_key_is_resource_exhausted_with_retry_after(
    stub: pb_grpc.ClassifierStub, keys_file: Path
) -> None:
    key = add_key(keys_file, "grpc-bursty", "classify", rate=0.05, burst=3)
    await seconds_until(lambda: _answers(stub, key))

    outcomes = await asyncio.gather(*(_list(stub, auth(key)) for _ in range(12)), return_exceptions=True)

    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refused) == 10, outcomes  # burst 3, one taken while waiting for the key
    assert all(e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED for e in refused)
    trailing = dict(refused[0].trailing_metadata() or ())
    assert 1 <= int(trailing["retry-after"]) <= 20


async def test_revoked_key_stops_within_seconds_over_grpc(stub: pb_grpc.ClassifierStub, keys_file: Path) -> None:
    key = add_key(keys_file, "grpc-leaver", "classify")
    await seconds_until(lambda: _answers(stub, key))

    keys("revoke", "--file", str(keys_file), "--name", "grpc-leaver")
    took = await seconds_until(lambda: _refused(stub, key))

    print(f"gRPC: revoked key refused {took:.2f} s after `revoke`")


async def _answers(stub: pb_grpc.ClassifierStub, key: str) -> bool:
    try:
        await _list(stub, auth(key))
    except grpc.aio.AioRpcError:
        return False
    return True


async def _refused(stub: pb_grpc.ClassifierStub, key: str) -> bool:
    try:
        await _list(stub, auth(key))
    except grpc.aio.AioRpcError as exc:
        return exc.code() is grpc.StatusCode.UNAUTHENTICATED
    return False
