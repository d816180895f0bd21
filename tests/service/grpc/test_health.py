"""The standard health service follows readiness: NOT_SERVING while models load, SERVING once they
classified their self-check sample, NOT_SERVING again when that stops being true and from the first
step of shutdown."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_support import scripted_surface, wait_until

from service.gateway import Gateway
from service.settings import Settings

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
NAMES = ("", "classifier.v1.Classifier")


async def statuses(health: health_pb2_grpc.HealthStub) -> list[int]:
    return [(await health.Check(health_pb2.HealthCheckRequest(service=n), timeout=5)).status for n in NAMES]


async def next_status(watch: grpc.aio.UnaryStreamCall, timeout_s: float = 30) -> int:
    message = await asyncio.wait_for(watch.read(), timeout_s)
    assert message is not grpc.aio.EOF
    return int(message.status)


async def test_serving_gateway_reports_serving(gateway: Gateway, channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)

    assert await statuses(health) == [SERVING, SERVING]


async def test_not_serving_while_loading_then_serving_then_not_serving_at_shutdown(
    settings: Settings, gateway: Gateway
) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend, loaded=False) as (surface, backend),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="classifier.v1.Classifier"))

        assert await next_status(watch) == NOT_SERVING
        await asyncio.sleep(0.3)  # several readiness polls: still loading
        assert await statuses(health) == [NOT_SERVING, NOT_SERVING]

        backend.loaded.set()
        assert await next_status(watch) == SERVING
        assert await statuses(health) == [SERVING, SERVING]

        # A watcher hears NOT_SERVING before the server stops taking calls.
        stopping = asyncio.create_task(surface.stop(grace=2))
        assert await next_status(watch, timeout_s=5) == NOT_SERVING
        await stopping


async def test_serving_turns_off_when_models_stop_being_available(settings: Settings, gateway: Gateway) -> None:
    async with scripted_surface(settings, gateway.classifier.backend) as (surface, backend):
        backend.loaded.clear()
        await wait_until(lambda: not surface.health.serving)
        async with grpc.aio.insecure_channel(surface.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert await statuses(health) == [NOT_SERVING, NOT_SERVING]
            backend.loaded.set()
            await wait_until(lambda: surface.health.serving)
            assert await statuses(health) == [SERVING, SERVING]


async def test_set_serving_false_holds_until_set_true(settings: Settings, gateway: Gateway) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend) as (surface, _),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)

        await surface.set_serving(False)
        await asyncio.sleep(0.3)  # readiness polls keep finding every model ready
        held = await statuses(health)
        await surface.set_serving(True)
        resumed = await statuses(health)

    assert held == [NOT_SERVING, NOT_SERVING]
    assert resumed == [SERVING, SERVING]
