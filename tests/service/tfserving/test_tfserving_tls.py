"""The TF Serving backend reaches a TLS target: with the right roots its call gets through the handshake
(here to a server that implements nothing, so the answer is UNIMPLEMENTED); in plaintext it cannot."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from service.backends.tfserving.client import TFServingClient
from service.errors import BackendUnavailable, ServiceError
from service.settings import Settings, TlsSettings
from service.tfserving_wire.get_model_status_pb2 import GetModelStatusRequest
from service.tls import ServerTls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from certificates import Authority


@pytest.fixture
async def tls_target(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A TLS gRPC server on loopback (certificate for 127.0.0.1) and the CA file that signed it."""
    authority = Authority("tf serving CA")
    authority.issue("tfserving", server=True).write(tmp_path / "server.pem", tmp_path / "server.key")
    (tmp_path / "ca.pem").write_bytes(authority.cert_pem)
    tls = ServerTls(TlsSettings(cert_file=tmp_path / "server.pem", key_file=tmp_path / "server.key"), poll_interval_s=1)
    server = grpc.aio.server()
    port = server.add_secure_port("127.0.0.1:0", tls.grpc_credentials())
    await server.start()
    try:
        yield f"127.0.0.1:{port}", tmp_path / "ca.pem"
    finally:
        await server.stop(0)


async def status_error(settings: Settings) -> ServiceError:
    client = TFServingClient(settings)
    client.open()
    request = GetModelStatusRequest()
    request.model_spec.name = "any"
    try:
        with pytest.raises(ServiceError) as caught:
            await client.get_model_status(request, timeout=3)
    finally:
        await client.close()
    return caught.value


async def test_tls_client_gets_through_the_handshake(tls_target: tuple[str, Path]) -> None:
    target, ca_file = tls_target

    error = await status_error(Settings(tfserving_target=target, tfserving_root_cert_file=ca_file))

    assert not isinstance(error, BackendUnavailable)
    assert "UNIMPLEMENTED" in error.detail


async def test_plaintext_client_cannot_reach_a_tls_target(tls_target: tuple[str, Path]) -> None:
    target, _ = tls_target

    error = await status_error(Settings(tfserving_target=target, tfserving_timeout_s=3))

    assert isinstance(error, BackendUnavailable)
