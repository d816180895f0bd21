"""``PromptAcceptLoop`` (``service.rest.prompt_accept``): a new connection's first bytes reach its protocol
one turn of the loop after the protocol is made (asyncio's own accept takes two more), and connections are
counted by their server as before. Real sockets on loopback. (TLS listeners keep asyncio's path:
``tests/service/test_tls.py``.)"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from service.rest.prompt_accept import PromptAcceptLoop, loop_factory


class Turns:
    """Counts the loop's turns: a callback that schedules itself again each time it runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.count = 0
        self._loop = loop
        self._running = True
        loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        if self._running:
            self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._running = False


class Echo(asyncio.Protocol):
    """Answers each chunk with itself; notes the turn it was made in and the turn of its first bytes."""

    def __init__(self, turns: Turns, seen: list[tuple[int, int]]) -> None:
        self.turns = turns
        self.seen = seen
        self.made_at = turns.count
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.seen.append((-1, -1))  # the client closed: counted apart, see ``_turns_to_first_bytes``

    def data_received(self, data: bytes) -> None:
        if self.made_at >= 0:
            self.seen.append((self.made_at, self.turns.count))
            self.made_at = -1
        assert self.transport is not None
        self.transport.write(data)


def _turns_to_first_bytes(make_loop: Callable[[], asyncio.AbstractEventLoop], clients: int) -> list[int]:
    """Turns between each accepted protocol's making and its first ``data_received``; every client sends its
    request before the server has accepted it, as a client does right after the handshake."""
    loop = make_loop()
    try:

        async def scenario() -> list[int]:
            turns = Turns(loop)
            seen: list[tuple[int, int]] = []
            server = await loop.create_server(lambda: Echo(turns, seen), "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            connections = []
            for index in range(clients):  # blocking connect and send: the loop does not run meanwhile
                client = socket.create_connection(("127.0.0.1", port))
                client.sendall(b"ping %d" % index)
                connections.append(client)
            async with asyncio.timeout(10):
                while len(seen) < clients:
                    await asyncio.sleep(0)
            for index, client in enumerate(connections):  # every connection answers its own bytes
                client.settimeout(5)
                assert client.recv(64) == b"ping %d" % index
                client.close()
            async with asyncio.timeout(10):  # and each server side sees its client go
                while len(seen) < 2 * clients:
                    await asyncio.sleep(0.01)
            turns.stop()
            server.close()
            await server.wait_closed()
            return [first - made for made, first in seen if made >= 0]

        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_the_first_bytes_of_a_new_connection_are_read_one_turn_after_its_protocol_is_made() -> None:
    assert _turns_to_first_bytes(PromptAcceptLoop, clients=20) == [1] * 20
    # asyncio's own accept: the transport's set-up and the reader's registration each take a turn more.
    assert min(_turns_to_first_bytes(asyncio.SelectorEventLoop, clients=20)) >= 2


def test_the_gateways_loop_factory_makes_the_prompt_loop() -> None:
    loop = loop_factory()
    try:
        assert isinstance(loop, PromptAcceptLoop)
    finally:
        loop.close()
