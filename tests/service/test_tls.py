"""TLS on both surfaces with certificates made here: round trips over REST and gRPC, client certificates
required when a CA is set, and a new certificate served after the files change, without a restart."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from certificates import Authority, Issued
from classifier_client import AsyncClassifierClient, RetryPolicy, Unavailable
from cryptography import x509
from gateway_support import running_gateway

from service.gateway import Gateway
from service.rest.prompt_accept import PromptAcceptLoop, loop_factory
from service.settings import Settings, TlsSettings

POLL_S = 0.2


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority("classifier test CA")


@pytest.fixture
def server_files(tmp_path: Path, authority: Authority) -> tuple[Path, Path, Issued]:
    issued = authority.issue("gateway", server=True)
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    issued.write(cert_file, key_file)
    return cert_file, key_file, issued


def tls_settings(tmp_path: Path, tls: TlsSettings) -> Settings:
    # No models: TLS is about the transport, and an empty repository starts in no time.
    (tmp_path / "models").mkdir(exist_ok=True)
    return Settings(models_dir=tmp_path / "models", port=0, grpc_port=0, poll_interval_s=POLL_S, tls=tls)


def client_context(*cas: Authority, client: Issued | None = None, tmp_path: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata="".join(ca.cert_pem.decode() for ca in cas))
    if client is not None and tmp_path is not None:
        client.write(tmp_path / "client.pem", tmp_path / "client.key")
        context.load_cert_chain(tmp_path / "client.pem", tmp_path / "client.key")
    return context


@pytest.fixture
async def tls_gateway(tmp_path: Path, server_files: tuple[Path, Path, Issued]) -> AsyncIterator[Gateway]:
    cert_file, key_file, _ = server_files
    async with running_gateway(
        tls_settings(tmp_path, TlsSettings(cert_file=cert_file, key_file=key_file)), ready=False
    ) as gateway:
        yield gateway


async def served_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial number of the certificate a new TLS connection to ``port`` is shown."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()
    return x509.load_der_x509_certificate(der).serial_number


async def grpc_models(address: str, roots: bytes, client: Issued | None = None) -> list[str]:
    pair = None if client is None else (client.cert_pem, client.key_pem)
    async with AsyncClassifierClient(
        address, root_certificates=roots, client_certificate=pair, timeout=5, retry=RetryPolicy(max_attempts=1)
    ) as c:
        return [m.name for m in await c.list_models()]


async def test_rest_and_grpc_round_trip_over_tls(tls_gateway: Gateway, authority: Authority) -> None:
    assert tls_gateway.rest.url.startswith("https://")
    async with httpx.AsyncClient(base_url=tls_gateway.rest.url, verify=client_context(authority)) as client:
        health = await client.get("/healthz")
        models = await client.get("/v1/models")

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert models.status_code == 200 and models.json() == {"models": []}
    assert await grpc_models(tls_gateway.grpc.address, authority.cert_pem) == []


async def test_plaintext_and_untrusted_clients_are_refused(tls_gateway: Gateway) -> None:
    stranger = Authority("someone else")
    plain_url = tls_gateway.rest.url.replace("https://", "http://")
    async with httpx.AsyncClient() as plain:
        with pytest.raises(httpx.TransportError):
            await plain.get(plain_url + "/healthz")
    async with httpx.AsyncClient(verify=client_context(stranger)) as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(tls_gateway.rest.url + "/healthz")
    with pytest.raises(Unavailable):
        await grpc_models(tls_gateway.grpc.address, stranger.cert_pem)
    async with grpc.aio.insecure_channel(tls_gateway.grpc.address) as channel:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_client_certificate_required_when_ca_is_set(
    tmp_path: Path, server_files: tuple[Path, Path, Issued], authority: Authority
) -> None:
    cert_file, key_file, _ = server_files
    client_ca = Authority("client CA")
    (tmp_path / "clients-ca.pem").write_bytes(client_ca.cert_pem)
    tls = TlsSettings(cert_file=cert_file, key_file=key_file, ca_file=tmp_path / "clients-ca.pem")
    known = client_ca.issue("known client", server=False)
    unknown = Authority("rogue CA").issue("rogue client", server=False)

    async with running_gateway(tls_settings(tmp_path, tls), ready=False) as gateway:
        async with httpx.AsyncClient(verify=client_context(authority)) as anonymous:
            with pytest.raises(httpx.TransportError):
                await anonymous.get(gateway.rest.url + "/healthz")
        async with httpx.AsyncClient(verify=client_context(authority, client=unknown, tmp_path=tmp_path)) as rogue:
            with pytest.raises(httpx.TransportError):
                await rogue.get(gateway.rest.url + "/healthz")
        async with httpx.AsyncClient(verify=client_context(authority, client=known, tmp_path=tmp_path)) as trusted:
            answered = await trusted.get(gateway.rest.url + "/healthz")
        with pytest.raises(Unavailable):
            await grpc_models(gateway.grpc.address, authority.cert_pem)
        with pytest.raises(Unavailable):
            await grpc_models(gateway.grpc.address, authority.cert_pem, unknown)
        listed = await grpc_models(gateway.grpc.address, authority.cert_pem, known)

    assert answered.status_code == 200
    assert listed == []


async def test_changed_certificate_files_are_served_without_restart(
    tls_gateway: Gateway, server_files: tuple[Path, Path, Issued], authority: Authority
) -> None:
    cert_file, key_file, first = server_files
    successor = Authority("successor CA")
    both = client_context(authority, successor)
    assert await served_serial(tls_gateway.rest.port, both) == first.serial
    with pytest.raises(Unavailable):
        await grpc_models(tls_gateway.grpc.address, successor.cert_pem)

    second = successor.issue("gateway", server=True)
    second.write(cert_file, key_file)
    for _ in range(100):  # the reloader polls every POLL_S
        if await served_serial(tls_gateway.rest.port, both) == second.serial:
            break
        await asyncio.sleep(POLL_S / 2)

    assert await served_serial(tls_gateway.rest.port, both) == second.serial
    assert await grpc_models(tls_gateway.grpc.address, successor.cert_pem) == []


async def test_broken_new_files_keep_the_old_certificate(
    tls_gateway: Gateway, server_files: tuple[Path, Path, Issued], authority: Authority
) -> None:
    cert_file, _, first = server_files
    cert_file.write_text("not a certificate")
    await asyncio.sleep(POLL_S * 4)

    assert await served_serial(tls_gateway.rest.port, client_context(authority)) == first.serial
    assert await grpc_models(tls_gateway.grpc.address, authority.cert_pem) == []


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        TlsSettings(cert_file=tmp_path / "a.pem")
    with pytest.raises(ValueError, match="ca_file"):
        TlsSettings(ca_file=tmp_path / "ca.pem")


def test_the_gateways_event_loop_leaves_tls_accepts_to_asyncio(
    server_files: tuple[Path, Path, Issued], authority: Authority
) -> None:
    """``service.rest.prompt_accept`` hands plain connections over itself; a TLS listener keeps asyncio's
    accept, with its handshake, and answers."""
    cert_file, key_file, _ = server_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    loop = loop_factory()

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

        def connection_lost(self, exc: Exception | None) -> None:
            lost.set()

    lost = asyncio.Event()

    async def round_trip() -> bytes:
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(authority))
        writer.write(b"over tls")
        answer = await asyncio.wait_for(reader.readexactly(8), 10)
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(lost.wait(), 10)
        server.close()
        await server.wait_closed()
        return answer

    try:
        assert isinstance(loop, PromptAcceptLoop)
        assert loop.run_until_complete(round_trip()) == b"over tls"
    finally:
        loop.close()
