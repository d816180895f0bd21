"""Every gateway error reaches a gRPC caller as its class's status code with a clear message, never a
traceback; unexpected errors are INTERNAL "internal error" with the traceback in the log only."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from grpc_support import scripted_surface

from service import errors
from service.gateway import Gateway
from service.settings import Settings
from training.testing import tiny_input


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    """The error a call ended with (fails the test if it succeeded)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert "Traceback" not in (caught.value.details() or "")
    return caught.value


def text_request(model: str = "tiny-text", **fields: Any) -> pb.ClassifyRequest:
    return pb.ClassifyRequest(model=model, inputs=[pb.Input(text="rain and wind")], **fields)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (text_request("no-such-model"), grpc.StatusCode.NOT_FOUND, "no-such-model"),
        (text_request(version=99), grpc.StatusCode.NOT_FOUND, "no served version 99"),
        (text_request(version_label="nightly"), grpc.StatusCode.NOT_FOUND, "no version label 'nightly'"),
        (
            pb.ClassifyRequest(model="tiny-image", inputs=[pb.Input(image=b"GIF89a but not really")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "instance 0",
        ),
        (
            pb.ClassifyRequest(model="tiny-audio", inputs=[pb.Input(text="words for a speech model")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "instance 0",
        ),
        (pb.ClassifyRequest(model="tiny-text"), grpc.StatusCode.INVALID_ARGUMENT, "at least one input"),
        (pb.ClassifyRequest(inputs=[pb.Input(text="x")]), grpc.StatusCode.INVALID_ARGUMENT, "'model' is required"),
        (
            pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="x"), pb.Input()]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 1 has none of",
        ),
        (
            pb.ClassifyRequest(model="tiny-text", inputs=[pb.Input(text="x")] * 65),
            grpc.StatusCode.INVALID_ARGUMENT,
            "65 instances",
        ),
    ],
    ids=[
        "unknown-model",
        "unknown-version",
        "unknown-label",
        "undecodable-image",
        "text-to-audio-model",
        "no-inputs",
        "no-model",
        "empty-input",
        "too-many-inputs",
    ],
)
async def test_bad_requests_get_their_code_and_message(
    stub: pb_grpc.ClassifierStub, request_: pb.ClassifyRequest, code: grpc.StatusCode, message: str
) -> None:
    error = await rpc_error(stub.Classify(request_, timeout=30))

    assert error.code() is code
    assert message in (error.details() or "")


async def test_get_unknown_model_is_not_found(stub: pb_grpc.ClassifierStub) -> None:
    error = await rpc_error(stub.GetModel(pb.GetModelRequest(name="nope"), timeout=10))

    assert error.code() is grpc.StatusCode.NOT_FOUND


async def test_message_past_the_limit_is_resource_exhausted(settings: Settings, gateway: Gateway) -> None:
    limited = 64 * 1024
    async with (
        scripted_surface(settings, gateway.classifier.backend, grpc_max_message_bytes=limited) as (surface, _),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        big = pb.ClassifyRequest(model="tiny-image", inputs=[pb.Input(image=b"\0" * (2 * limited))])
        error = await rpc_error(stub.Classify(big, timeout=10))
        ok = await stub.Classify(text_request(), timeout=30)

    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ok.model == "tiny-text"


# Every concrete class of the hierarchy, raised where the backend runs: the code is the class's own.
SERVICE_ERRORS = [
    errors.InvalidInput,
    errors.Unauthenticated,
    errors.ModelNotFound,
    errors.VersionNotFound,
    errors.LabelNotFound,
    errors.PayloadTooLarge,
    errors.UnsupportedMediaType,
    errors.SchemaViolation,
    errors.Overloaded,
    errors.ModelNotReady,
    errors.BackendUnavailable,
    errors.DeadlineExceeded,
]


async def test_each_service_error_maps_to_its_grpc_code(settings: Settings, gateway: Gateway) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend) as (surface, backend),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        seen = {}
        for cls in SERVICE_ERRORS:
            backend.fail_with = cls(f"scripted {cls.__name__}")
            error = await rpc_error(stub.Classify(text_request(), timeout=30))
            seen[cls.__name__] = (error.code().name, error.details())

    assert seen == {cls.__name__: (cls.grpc_code, f"scripted {cls.__name__}") for cls in SERVICE_ERRORS}
    assert {code for code, _ in seen.values()} >= {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "UNAUTHENTICATED",
    }


async def test_unexpected_error_is_internal_with_traceback_only_in_the_log(
    settings: Settings, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="service.grpc")
    async with scripted_surface(settings, gateway.classifier.backend) as (surface, backend):
        backend.fail_with = RuntimeError("secret internals: /srv/model.bin")
        async with grpc.aio.insecure_channel(surface.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            error = await rpc_error(stub.Classify(text_request(), timeout=30))
            stream = [m async for m in stub.ClassifyStream(iter([text_request()]), timeout=30)]

    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    assert stream[0].error == pb.Error(code=grpc.StatusCode.INTERNAL.value[0], message="internal error")
    mapped = [r for r in caplog.records if r.name == "service.grpc.errors"]
    assert len(mapped) == 2  # the unary call and the stream's request, each with its traceback
    assert all(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in mapped)


async def test_models_still_loading_are_unavailable(settings: Settings, gateway: Gateway) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend, loaded=False) as (surface, _),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        error = await rpc_error(stub.Classify(text_request(), timeout=30))

    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert "no AVAILABLE version" in (error.details() or "")


async def test_client_deadline_is_deadline_exceeded_and_cancels_the_work(settings: Settings, gateway: Gateway) -> None:
    async with scripted_surface(settings, gateway.classifier.backend) as (surface, backend):
        backend.predict_delay_s = 5.0
        completed = backend.completed  # the readiness self-checks
        async with grpc.aio.insecure_channel(surface.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            png = tiny_input("tiny-image", "circle")
            assert isinstance(png, bytes)
            image = pb.Input(image=png)
            error = await rpc_error(stub.Classify(pb.ClassifyRequest(model="tiny-image", inputs=[image]), timeout=0.5))
            # The server learns of the expired deadline and cancels the handler, down into the backend.
            for _ in range(100):
                if backend.cancelled:
                    break
                await asyncio.sleep(0.02)

    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert backend.cancelled == 1
    assert backend.completed == completed


async def test_remaining_deadline_becomes_the_core_timeout(settings: Settings, gateway: Gateway) -> None:
    async with (
        scripted_surface(settings, gateway.classifier.backend, request_timeout_s=30) as (surface, backend),
        grpc.aio.insecure_channel(surface.address) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        checks = len(backend.timeouts)  # the readiness self-checks
        await stub.Classify(text_request(), timeout=3)
        await stub.Classify(text_request())  # no deadline: the server's request_timeout_s

    with_deadline, without = backend.timeouts[checks:]
    assert with_deadline is not None and 1.0 < with_deadline <= 3.0
    assert without is not None and 25.0 < without <= 30.0
