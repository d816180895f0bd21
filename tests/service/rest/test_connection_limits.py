"""The HTTP protocol's body-ready extension: set when a request's body is there before its app runs.

A real server on loopback (``RestServer``, our httptools protocol) over a small app that records what
the extension said when the request reached it; the limits of the protocol are tested with the gateway
in ``test_rest_admission_and_limits``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request
from starlette.responses import Response

from service.rest.connection_limits import BODY_READY_EXTENSION
from service.rest.server import RestServer

HEAD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"


class Recorded:
    """What the app saw: the extension's state on arrival, and the body it then read."""

    def __init__(self) -> None:
        self.ready_on_arrival: list[bool | None] = []


@pytest.fixture
async def server() -> AsyncIterator[tuple[RestServer, Recorded]]:
    recorded = Recorded()
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        ready = request.scope.get("extensions", {}).get(BODY_READY_EXTENSION, {}).get("event")
        recorded.ready_on_arrival.append(None if ready is None else ready.is_set())
        return Response(await request.body(), media_type="text/plain")

    rest = RestServer(app, "127.0.0.1", 0, graceful_timeout_s=5, access_log=False)
    await rest.start()
    try:
        yield rest, recorded
    finally:
        await rest.stop()


async def _exchange(rest: RestServer, *parts: bytes, pause_s: float) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", rest.port)
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause_s)
        return await asyncio.wait_for(reader.readuntil(b"hello"), timeout=10)
    finally:
        writer.close()


async def test_a_body_sent_with_its_headers_is_ready_when_the_app_starts(server: tuple[RestServer, Recorded]) -> None:
    rest, recorded = server
    answer = await _exchange(rest, HEAD + b"hello", pause_s=0)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert recorded.ready_on_arrival == [True]


async def test_a_body_sent_after_its_headers_is_not_ready_and_still_read(server: tuple[RestServer, Recorded]) -> None:
    rest, recorded = server
    answer = await _exchange(rest, HEAD, b"hello", pause_s=0.2)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"hello")
    assert recorded.ready_on_arrival == [False]
