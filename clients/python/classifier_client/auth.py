"""TLS for the client: the channel credentials that ``tls=`` / ``root_certificates=`` / ``client_certificate=``
ask for. (The API key is call metadata, kept by ``base.BaseClient``; over a network, use TLS, or the key can
be read on the way.)"""

from __future__ import annotations

import grpc


def channel_credentials(
    *,
    credentials: grpc.ChannelCredentials | None,
    tls: bool,
    root_certificates: bytes | None,
    client_certificate: tuple[bytes, bytes] | None,
) -> grpc.ChannelCredentials | None:
    """The credentials of the channel: given ones, else TLS when asked for (system roots unless
    ``root_certificates``; ``client_certificate`` is ``(chain_pem, key_pem)``), else None (plaintext)."""
    if credentials is not None:
        return credentials
    if not (tls or root_certificates is not None or client_certificate is not None):
        return None
    chain, key = client_certificate if client_certificate is not None else (None, None)
    return grpc.ssl_channel_credentials(root_certificates=root_certificates, private_key=key, certificate_chain=chain)
