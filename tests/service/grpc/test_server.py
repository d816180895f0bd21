"""The server's life cycle: binding, a graceful stop that finishes in-flight calls, refusal afterwards."""

from __future__ import annotations

import grpc
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_support import scripted_surface, started_in_the_model

from service.core.classifier import Classifier
from service.gateway import Gateway
from service.grpc import create_grpc_server
from service.metrics import Metrics
from service.settings import Settings


def text_request() -> pb.ClassifyRequest:
    return pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="goal for the team")])


async def test_port_zero_binds_a_free_port(gateway: Gateway) -> None:
    assert gateway.grpc.port > 0
    assert gateway.grpc.address == f"127.0.0.1:{gateway.grpc.port}"


async def test_a_busy_port_fails_to_bind_with_oserror(settings: Settings, gateway: Gateway) -> None:
    taken = settings.model_copy(update={"grpc_port": gateway.grpc.port})
    classifier = Classifier(taken, gateway.classifier.backend, Metrics())
    try:
        with pytest.raises(OSError, match="cannot bind"):
            create_grpc_server(taken, classifier)
    finally:
        classifier.close()


async def test_stop_finishes_in_flight_calls_then_refuses_new_ones(settings: Settings, gateway: Gateway) -> None:
    async with scripted_surface(settings, gateway.classifier.backend) as (surface, backend):
        backend.predict_delay_s = 0.5
        async with grpc.aio.insecure_channel(surface.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            in_flight = await started_in_the_model(stub.Classify(text_request(), timeout=10), backend)

            await surface.stop(grace=5)
            answer = await in_flight
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Classify(text_request(), timeout=2)

    assert answer.model == "tiny-text"
    assert len(answer.predictions) == 1
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
