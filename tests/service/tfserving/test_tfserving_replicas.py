"""``ReplicaChannels`` follows the replica set behind a ``dns://`` target: real gRPC servers on loopback
addresses, a real DNS server whose answer the test changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from loadtest.scaleout.dns_server import ReplicaDNS
from service.backends.tfserving.replicas import DnsTarget, ReplicaChannels, addresses_target, resolve

NAME = "tfserving.test"
METHOD = "/test.Who/Am"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("dns:///tfserving:8500", DnsTarget("tfserving", 8500)),
        ("dns:tfserving", DnsTarget("tfserving", 443)),
        ("dns://127.0.0.1:5353/tf.ns.svc:8500", DnsTarget("tf.ns.svc", 8500, "127.0.0.1", 5353)),
        ("dns://10.0.0.10/tf:9000", DnsTarget("tf", 9000, "10.0.0.10", 53)),
        ("dns:///[::1]:8500", DnsTarget("::1", 8500)),
        ("localhost:8500", None),
        ("ipv4:127.0.0.1:8500", None),
    ],
)
def test_parse_dns_target(target, expected):
    assert DnsTarget.parse(target) == expected


def test_addresses_target_names_every_address():
    assert addresses_target(["127.0.0.2", "127.0.0.3"], 8500) == "ipv4:127.0.0.2:8500,127.0.0.3:8500"
    assert addresses_target(["::1"], 8500) == "ipv6:[::1]:8500"


@pytest.fixture
async def dns() -> AsyncIterator[tuple[ReplicaDNS, int]]:
    server, port = await ReplicaDNS.start(NAME)
    yield server, port
    server.close()


async def test_resolve_asks_the_named_dns_server(dns):
    server, port = dns
    server.addresses = ["127.0.0.3", "127.0.0.2"]
    assert await resolve(DnsTarget(NAME, 8500, "127.0.0.1", port)) == ("127.0.0.2", "127.0.0.3")
    with pytest.raises(OSError, match=r"unknown\.test"):
        await resolve(DnsTarget("unknown.test", 8500, "127.0.0.1", port))


async def test_resolve_uses_the_system_resolver_without_a_server():
    assert await resolve(DnsTarget("127.0.0.1", 8500)) == ("127.0.0.1",)


async def _server(host: str, port: int) -> grpc.aio.Server:
    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return host.encode()

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler("test.Who", {"Am": grpc.unary_unary_rpc_method_handler(who)})
    server.add_generic_rpc_handlers((handler,))
    assert server.add_insecure_port(f"{host}:{port}") == port
    await server.start()
    return server


async def _answers(channels: ReplicaChannels, calls: int) -> set[str]:
    seen = set()
    for _ in range(calls):
        answer = await channels.current.unary_unary(METHOD)(b"", timeout=5)
        seen.add(answer.decode())
    return seen


async def _until(channels: ReplicaChannels, expected: set[str]) -> set[str]:
    """Call until the answers of 12 calls come from exactly ``expected`` (at most 100 rounds)."""
    seen: set[str] = set()
    for _ in range(100):
        seen = await _answers(channels, 12)
        if seen == expected:
            break
        await asyncio.sleep(0.1)
    return seen


async def test_channels_follow_added_and_removed_replicas_without_failing_calls(dns, unused_tcp_port):
    server, dns_port = dns
    port = unused_tcp_port
    servers = {host: await _server(host, port) for host in ("127.0.0.2", "127.0.0.3", "127.0.0.4")}
    channels = ReplicaChannels(f"dns://127.0.0.1:{dns_port}/{NAME}:{port}", [], resolve_interval_s=0.2, close_grace_s=5)
    channels.start()
    try:
        for replicas in (
            {"127.0.0.2", "127.0.0.3"},
            {"127.0.0.2", "127.0.0.3", "127.0.0.4"},  # added: gets calls
            {"127.0.0.3", "127.0.0.4"},  # removed while still running: gets no more calls
        ):
            server.addresses = sorted(replicas)
            assert await _until(channels, replicas) == replicas
        assert "127.0.0.2" not in await _answers(channels, 30)
        assert channels.addresses == ("127.0.0.3", "127.0.0.4")
    finally:
        await channels.close(grace=None)
        for grpc_server in servers.values():
            await grpc_server.stop(None)


async def test_channels_keep_the_last_set_when_the_name_stops_resolving(dns, unused_tcp_port):
    server, dns_port = dns
    port = unused_tcp_port
    replica = await _server("127.0.0.2", port)
    server.addresses = ["127.0.0.2"]
    channels = ReplicaChannels(f"dns://127.0.0.1:{dns_port}/{NAME}:{port}", [], resolve_interval_s=0.2, close_grace_s=5)
    channels.start()
    try:
        assert await _until(channels, {"127.0.0.2"}) == {"127.0.0.2"}
        server.addresses = []  # no ready replica in the answer: keep calling the last known one
        queries = server.queries
        while server.queries < queries + 3:
            await asyncio.sleep(0.1)
        assert await _answers(channels, 5) == {"127.0.0.2"}
        assert channels.addresses == ("127.0.0.2",)
    finally:
        await channels.close(grace=None)
        await replica.stop(None)


async def test_a_plain_target_keeps_one_channel(unused_tcp_port):
    replica = await _server("127.0.0.1", unused_tcp_port)
    channels = ReplicaChannels(f"127.0.0.1:{unused_tcp_port}", [], resolve_interval_s=0.2, close_grace_s=5)
    channels.start()
    try:
        first = channels.current
        assert await _answers(channels, 3) == {"127.0.0.1"}
        assert channels.current is first and channels.addresses == ()
    finally:
        await channels.close(grace=None)
        await replica.stop(None)
