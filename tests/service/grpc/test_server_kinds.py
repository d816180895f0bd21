"""Both gRPC servers (``grpc_server``: "threads", the default, and "aio") serve the same services with the
same answers, statuses and cancellation; the rest of this folder runs against the default only. Also what
only the thread-pool server has: a bounded number of calls at once."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_support import scripted_surface, started_in_the_model, wait_until
from test_errors import rpc_error, text_request

from service.gateway import Gateway
from service.grpc.threaded import ThreadPoolServer
from service.settings import Settings

KINDS = ("threads", "aio")


def assert_same_answer(answer: pb.ClassifyResponse, expected: pb.ClassifyResponse) -> None:
    """Equal but for float rounding: a row run in a batch with others may differ in the last digits."""
    assert (answer.model, answer.version, list(answer.labels)) == (
        expected.model,
        expected.version,
        list(expected.labels),
    )
    assert [p.label for p in answer.predictions] == [p.label for p in expected.predictions]
    for got, want in zip(answer.predictions, expected.predictions, strict=True):
        assert list(got.probabilities) == pytest.approx(list(want.probabilities), rel=1e-4, abs=1e-6)


def test_the_default_server_is_the_thread_pool_server(gateway: Gateway) -> None:
    assert Settings().grpc_server == "threads"
    assert isinstance(gateway.grpc.server, ThreadPoolServer)


@pytest.mark.parametrize("kind", KINDS)
async def test_each_server_gives_the_same_answers_errors_health_and_reflection(
    settings: Settings, gateway: Gateway, kind: str
) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend, grpc_server=kind) as (surface, _),
        grpc.aio.insecure_channel(surface.address) as channel,
        grpc.aio.insecure_channel(gateway.grpc.address) as default_channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Classify(text_request(), metadata=(("x-request-id", "kinds-1"),), timeout=10)
        answer = await call
        trailing = await call.trailing_metadata()
        expected = await pb_grpc.ClassifierStub(default_channel).Classify(text_request(), timeout=10)  # type: ignore[no-untyped-call]
        missing = stub.Classify(text_request("no-such-model"), metadata=(("x-request-id", "kinds-2"),), timeout=10)
        error = await rpc_error(missing)
        error_trailing = await missing.trailing_metadata()
        batch = pb.ClassifyRequest(batch=[text_request(), text_request("no-such-model")])
        streamed = [a async for a in stub.ClassifyStream(iter([text_request(), batch]), timeout=10)]
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="classifier.v1.Classifier"), timeout=10
        )
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        listed = [
            r
            async for r in reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
        ]

    assert_same_answer(answer, expected)
    assert ("x-request-id", "kinds-1") in tuple(trailing)
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in (error.details() or "")
    assert ("x-request-id", "kinds-2") in tuple(error_trailing)
    assert [a.WhichOneof("result") for a in streamed] == ["response", None]
    assert len(streamed[1].batch) == 2
    assert_same_answer(streamed[0].response, expected)
    assert_same_answer(streamed[1].batch[0].response, expected)
    assert streamed[1].batch[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    names = {s.name for s in listed[0].list_services_response.service}
    assert {"classifier.v1.Classifier", "inference.GRPCInferenceService", "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
async def test_a_call_cancelled_by_its_client_cancels_its_work(
    settings: Settings, gateway: Gateway, kind: str, streamed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async with scripted_surface(settings, gateway.classifier.backend, grpc_server=kind) as (surface, backend):
        backend.predict_delay_s = 5.0
        backend.predict_started.clear()
        completed = backend.completed  # the readiness self-checks
        async with grpc.aio.insecure_channel(surface.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            if streamed:
                call = stub.ClassifyStream(timeout=30)
                await call.write(text_request())
            else:
                call = stub.Classify(text_request(), timeout=30)
            await asyncio.wait_for(backend.predict_started.wait(), 10)
            call.cancel()
            await wait_until(lambda: backend.cancelled == 1, timeout_s=10)

    assert backend.completed == completed
    # A client going away is no server error.
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]


async def test_calls_past_the_thread_pool_get_resource_exhausted(settings: Settings, gateway: Gateway) -> None:
    async with scripted_surface(settings, gateway.classifier.backend, grpc_server="threads", grpc_threads=1) as (
        surface,
        backend,
    ):
        backend.predict_delay_s = 0.5
        async with grpc.aio.insecure_channel(surface.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            first = await started_in_the_model(stub.Classify(text_request(), timeout=10), backend)
            refused = await rpc_error(stub.Classify(text_request(), timeout=10))
            answer = await first

    assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert answer.model == "tiny-text"
    assert len(answer.predictions) == 1
