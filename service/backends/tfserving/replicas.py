"""The channel to TF Serving, kept in step with the replica set behind a ``dns:`` target.

gRPC's own DNS resolver looks a name up again only when a connection fails, so replicas added behind a
name (a Kubernetes headless Service) would get no traffic until something broke, and replicas removed from
it would keep their connections. ``ReplicaChannels`` therefore looks the name up itself every
``resolve_interval_s`` (against the DNS server the target names, ``dns://HOST:PORT/name:port``, else the
system's resolver) and, when the set of addresses changes, opens a channel on exactly that set
(``ipv4:a:port,b:port``, round robin), waits until it has a ready connection, makes it current and closes
the previous one with a grace period, so calls already running on it finish there. Calls always take the
current channel: new replicas get traffic within about one interval, removed ones get no new calls.

Other targets (``host:port``, ``ipv4:…``) use one channel for their whole life; so does a ``dns:`` target
when ``resolve_interval_s`` is 0 (gRPC's resolver alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import grpc

log = logging.getLogger(__name__)

#: gRPC's default port for a ``dns:`` target without one.
DEFAULT_PORT = 443
#: Longest wait for one lookup.
LOOKUP_TIMEOUT_S = 2.0
#: Shortest time between two lookups, however often calls ask for one.
MIN_GAP_S = 0.2
#: Longest wait for a new channel's first ready connection before it is used anyway.
CONNECT_TIMEOUT_S = 2.0

#: gRPC service config that spreads calls over every address of a channel.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

ChannelOptions = Sequence[tuple[str, str | int]]


@dataclass(frozen=True)
class DnsTarget:
    """A parsed ``dns:[//server[:port]/]host[:port]`` target."""

    host: str
    port: int
    server: str | None = None
    server_port: int = 53

    @classmethod
    def parse(cls, target: str) -> DnsTarget | None:
        """The parts of a ``dns:`` target; None for any other scheme."""
        if not target.startswith("dns:"):
            return None
        rest, server, server_port = target.removeprefix("dns:"), None, 53
        if rest.startswith("//"):
            authority, _, rest = rest[2:].partition("/")
            if authority:
                server, server_port = _split_host_port(authority, 53)
        host, port = _split_host_port(rest.lstrip("/"), DEFAULT_PORT)
        return cls(host=host, port=port, server=server, server_port=server_port)

    @property
    def authority(self) -> str:
        """``host:port``, sent as the calls' authority whichever address they go to."""
        return f"{self.host}:{self.port}"


async def resolve(target: DnsTarget) -> tuple[str, ...]:
    """The target's addresses now, sorted (IPv4 ones when there are any); raises OSError when the lookup fails."""
    if target.server is not None:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [target.server]
        resolver.port = target.server_port
        try:
            answer = await resolver.resolve(target.host, "A", lifetime=LOOKUP_TIMEOUT_S)
        except dns.exception.DNSException as exc:
            raise OSError(f"looking up {target.host} at {target.server}:{target.server_port}: {exc}") from exc
        addresses = {record.to_text() for record in answer}
    else:
        # The system's resolver: /etc/hosts, search domains, and the cluster DNS in a Kubernetes pod.
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(LOOKUP_TIMEOUT_S):
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        addresses = {str(info[4][0]) for info in infos}
    ipv4 = {a for a in addresses if ipaddress.ip_address(a).version == 4}
    return tuple(sorted(ipv4 or addresses, key=ipaddress.ip_address))


def addresses_target(addresses: Sequence[str], port: int) -> str:
    """A gRPC target naming exactly these addresses (all of one family)."""
    if ipaddress.ip_address(addresses[0]).version == 4:
        return "ipv4:" + ",".join(f"{a}:{port}" for a in addresses)
    return "ipv6:" + ",".join(f"[{a}]:{port}" for a in addresses)


class ReplicaChannels:
    """The current channel to TF Serving; for a ``dns:`` target, re-resolved and replaced as replicas change."""

    def __init__(
        self,
        target: str,
        options: ChannelOptions,
        *,
        resolve_interval_s: float,
        close_grace_s: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._options = list(options)
        self._dns = DnsTarget.parse(target) if resolve_interval_s > 0 else None
        self._interval = resolve_interval_s
        self._grace = close_grace_s
        self._addresses: tuple[str, ...] = ()
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._credentials = credentials
        self.current: grpc.aio.Channel = self._channel(target, self._options)

    def _channel(self, target: str, options: ChannelOptions) -> grpc.aio.Channel:
        if self._credentials is None:
            return grpc.aio.insecure_channel(target, options=options)
        return grpc.aio.secure_channel(target, self._credentials, options=options)

    def start(self) -> None:
        """Begin re-resolving (a ``dns:`` target only); call inside the event loop."""
        if self._dns is not None and self._watcher is None:
            self._watcher = asyncio.create_task(self._follow(self._dns), name="tfserving-replicas")

    def wake(self) -> None:
        """Look the name up again now (a call found a replica unavailable)."""
        self._wake.set()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses of the current channel, as last resolved (empty before the first lookup)."""
        return self._addresses

    async def close(self, grace: float | None) -> None:
        """Stop re-resolving and close every channel; calls in flight get ``grace`` seconds."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
        await asyncio.gather(self.current.close(grace), *self._closing, return_exceptions=True)

    async def _follow(self, target: DnsTarget) -> None:
        failing = False
        while True:
            try:
                addresses = await resolve(target)
                failing = False
            except (OSError, TimeoutError) as exc:
                if not failing:
                    log.warning("cannot look up TF Serving replicas (%s); keeping %s", exc, self._addresses)
                failing, addresses = True, ()
            if addresses and addresses != self._addresses:
                try:
                    await self._switch(target, addresses)
                except Exception:  # keep following; the current channel stays in use
                    log.exception("switching to the TF Serving replicas %s failed", addresses)
            # Wakes from failing calls come in bursts: one lookup per MIN_GAP_S at most.
            await asyncio.sleep(MIN_GAP_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, self._interval - MIN_GAP_S)):
                    await self._wake.wait()
            self._wake.clear()

    async def _switch(self, target: DnsTarget, addresses: tuple[str, ...]) -> None:
        options = [*self._options, ("grpc.default_authority", target.authority)]
        if not any(key == "grpc.service_config" for key, _ in options):
            options.append(("grpc.service_config", ROUND_ROBIN))  # spread calls over every address
        channel = self._channel(addresses_target(addresses, target.port), options)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await channel.channel_ready()
        except TimeoutError:
            log.warning("no replica of %s ready within %.3gs; switching anyway", addresses, CONNECT_TIMEOUT_S)
        log.info("replicas of %s: %s (were: %s)", target.host, ", ".join(addresses), ", ".join(self._addresses))
        previous, self.current, self._addresses = self.current, channel, addresses
        closing = asyncio.create_task(previous.close(self._grace), name="tfserving-channel-close")
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)


def _split_host_port(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest.removeprefix(":") or default_port)
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        return text, default_port
    return host, int(port)
