"""Request ids through a real gateway: accepted or replaced, echoed by REST (header and problem body) and by
gRPC (trailing metadata), never a reason to refuse a request."""

from __future__ import annotations

import re

import grpc
import httpx
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2
from observability_support import text_body

from service.observability.request_ids import accept_request_id
from service.v2.wire import grpc_service_pb2 as v2_pb

_GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_rest_echoes_a_sane_request_id(client: httpx.AsyncClient) -> None:
    offered = "req-7f3a.b2:c/9+=_x"
    response = await client.post(
        "/v1/models/tiny-text:classify", json=text_body("sunny and warm"), headers={"X-Request-ID": offered}
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == offered


async def test_rest_generates_an_id_when_none_is_sent(client: httpx.AsyncClient) -> None:
    first = await client.get("/v1/models")
    second = await client.get("/v1/models")
    assert first.status_code == second.status_code == 200
    assert _GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("offered", ["a" * 129, "two words", "semi;colon", 'quote"d', "é-accent"])
async def test_rest_replaces_an_odd_request_id(client: httpx.AsyncClient, offered: str) -> None:
    response = await client.post(
        "/v1/models/tiny-text:classify",
        json=text_body("match at the stadium"),
        headers={"X-Request-ID": offered.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert response.status_code == 200, response.text
    assert _GENERATED.fullmatch(response.headers["x-request-id"])


async def test_rest_problem_body_names_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/models/no-such-model:classify", json=text_body("x"), headers={"X-Request-ID": "trace-me-404"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == "trace-me-404"
    assert response.headers["x-request-id"] == "trace-me-404"


async def test_rest_unknown_route_problem_names_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "route-404"})
    assert response.status_code == 404
    assert response.json()["request_id"] == "route-404"


def _classify_request(model: str) -> pb.ClassifyRequest:
    return pb.ClassifyRequest(model=model, inputs=[pb.Input(text="rain all day")])


async def test_grpc_echoes_the_request_id_in_trailing_metadata(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
    call = stub.Classify(_classify_request("tiny-text"), metadata=(("x-request-id", "grpc-abc-1"),), timeout=60)
    response = await call
    assert response.version == 1
    assert ("x-request-id", "grpc-abc-1") in tuple(await call.trailing_metadata())


async def test_grpc_error_carries_the_request_id(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
    call = stub.Classify(_classify_request("nope"), metadata=(("x-request-id", "grpc-err-2"),), timeout=60)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
    assert ("x-request-id", "grpc-err-2") in tuple(raised.value.trailing_metadata())


async def test_grpc_replaces_an_odd_request_id(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
    call = stub.Classify(_classify_request("tiny-text"), metadata=(("x-request-id", "x" * 500),), timeout=60)
    await call
    echoed = dict(tuple(await call.trailing_metadata()))["x-request-id"]
    assert _GENERATED.fullmatch(echoed)


async def test_every_grpc_service_gets_a_request_id_and_is_counted(
    channel: grpc.aio.Channel, client: httpx.AsyncClient
) -> None:
    # Health and V2 are registered beside classifier.v1; the request context wraps all of them alike.
    counted = 'classifier_requests_total{code="OK",surface="grpc"}'

    def ok_count(body: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(counted))

    before = ok_count((await client.get("/metrics")).text)
    health = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    live = channel.unary_unary(
        "/inference.GRPCInferenceService/ServerLive",
        request_serializer=v2_pb.ServerLiveRequest.SerializeToString,
        response_deserializer=v2_pb.ServerLiveResponse.FromString,
    )
    health_call = health(health_pb2.HealthCheckRequest(), metadata=(("x-request-id", "health-1"),), timeout=30)
    live_call = live(v2_pb.ServerLiveRequest(), metadata=(("x-request-id", "live-1"),), timeout=30)

    assert (await health_call).status == health_pb2.HealthCheckResponse.SERVING
    assert (await live_call).live
    assert ("x-request-id", "health-1") in tuple(await health_call.trailing_metadata())
    assert ("x-request-id", "live-1") in tuple(await live_call.trailing_metadata())
    assert ok_count((await client.get("/metrics")).text) == before + 2


def test_accept_request_id_rules() -> None:
    assert accept_request_id("abc") == "abc"
    assert accept_request_id(b"abc") == "abc"
    assert accept_request_id(b"\xff\xfe") != "\xff\xfe"
    assert _GENERATED.fullmatch(accept_request_id(""))
    assert _GENERATED.fullmatch(accept_request_id(None))
    assert accept_request_id("a" * 128) == "a" * 128
    assert _GENERATED.fullmatch(accept_request_id("a" * 129))
