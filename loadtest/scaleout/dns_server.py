"""A small authoritative DNS server on loopback that answers one name with a replica set the caller changes.

It stands in for a Kubernetes headless Service (whose name resolves to the ready pods): gRPC's target form
``dns://127.0.0.1:PORT/NAME:8500`` names the server to ask, so nothing on the machine changes. Answers carry
TTL 0; A queries for the name get the current addresses, other types of it an empty answer, other names
NXDOMAIN. Messages are parsed and built with dnspython.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)


class ReplicaDNS(asyncio.DatagramProtocol):
    """Answers ``name`` with ``addresses`` (change them at any time) over UDP."""

    def __init__(self, name: str, addresses: list[str] | None = None) -> None:
        self.name = dns.name.from_text(name)
        self.addresses: list[str] = list(addresses or [])
        self.queries = 0
        self._transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def start(cls, name: str, host: str = "127.0.0.1", port: int = 0) -> tuple[ReplicaDNS, int]:
        """A server bound to ``host:port`` (0: a free port); returns it and its port."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(lambda: cls(name), local_addr=(host, port))
        return protocol, transport.get_extra_info("sockname")[1]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket to answer on."""
        self._transport = cast(asyncio.DatagramTransport, transport)

    def close(self) -> None:
        """Stop answering and release the port."""
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Answer one query."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # not DNS: nothing to answer
        self.queries += 1
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            if question.name != self.name:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A and self.addresses:
                response.answer.append(dns.rrset.from_text_list(self.name, 0, dns.rdataclass.IN, "A", self.addresses))
        if self._transport is not None:
            self._transport.sendto(response.to_wire(), addr)
