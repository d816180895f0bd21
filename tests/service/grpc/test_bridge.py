"""The thread-pool server's bridge (``service.grpc.bridge``): a call that fails leaves no reference cycle.

An idle gateway makes no full garbage collection, so a request held by a cycle stays in memory until
traffic comes back: 16 concurrent 31 MB messages that failed kept ~2 GB that way (``make memory``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

import grpc
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from test_errors import rpc_error, text_request

import service

SERVICE_DIR = f"{Path(service.__file__).parent}/"


def _service_frames_in_cycles() -> list[str]:
    """The gateway's frames (``service/``) that only a garbage collection would free."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return [
            f"{obj.f_code.co_filename.rsplit('/', 2)[-1]}:{obj.f_code.co_name}"
            for obj in gc.garbage
            if isinstance(obj, FrameType) and obj.f_code.co_filename.startswith(SERVICE_DIR)
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def _cycles_after(fail: Callable[[], Awaitable[None]]) -> list[str]:
    await fail()  # once first: a call's first run sets up what later ones reuse
    gc.collect()
    gc.disable()  # as in a gateway whose requests outlived the young generations: a cycle made here stays
    try:
        await fail()
        await asyncio.sleep(0.2)  # the pool thread ends the call after the client has the status
        return _service_frames_in_cycles()
    finally:
        gc.enable()


async def test_a_unary_call_that_fails_leaves_no_cycle(stub: pb_grpc.ClassifierStub) -> None:
    async def fail() -> None:
        error = await rpc_error(stub.Classify(text_request("no-such-model"), timeout=10))
        assert error.code() == grpc.StatusCode.NOT_FOUND

    assert await _cycles_after(fail) == []


async def test_a_stream_with_a_failed_request_leaves_no_cycle(stub: pb_grpc.ClassifierStub) -> None:
    async def fail() -> None:
        # The unknown model's request gets its error in the stream, and the stream goes on.
        call = stub.ClassifyStream(iter([text_request("no-such-model"), text_request()]), timeout=10)
        answers = [answer async for answer in call]
        assert [answer.HasField("error") for answer in answers] == [True, False]

    assert await _cycles_after(fail) == []
