"""API keys and TLS for the client: an interceptor that sends ``authorization: Bearer KEY`` on every call,
and the channel credentials that ``tls=`` / ``root_certificates=`` / ``client_certificate=`` ask for.

The key travels as call metadata through an interceptor rather than as call credentials, because gRPC
sends call credentials only over TLS, and a gateway on loopback or behind a TLS-terminating proxy may
rightly be plaintext. Over a network, use TLS, or the key can be read on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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


def _with_key(metadata: Any, header: tuple[str, str]) -> list[tuple[str, Any]]:
    return [*(metadata or ()), header]


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class ApiKeyInterceptor(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Blocking channels: adds ``authorization: Bearer KEY`` to every unary and streaming call."""

    def __init__(self, api_key: str) -> None:
        self._header = ("authorization", f"Bearer {api_key}")

    def _details(self, details: Any) -> Any:
        return _CallDetails(
            details.method,
            details.timeout,
            _with_key(details.metadata, self._header),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


class _AsyncKeyHeader:
    def __init__(self, api_key: str) -> None:
        self._header = ("authorization", f"Bearer {api_key}")

    def _details(self, details: Any) -> Any:
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*_with_key(details.metadata, self._header)),
            details.credentials,
            details.wait_for_ready,
        )


class _AsyncUnaryKey(_AsyncKeyHeader, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _AsyncStreamKey(_AsyncKeyHeader, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


def async_api_key_interceptors(api_key: str) -> list[grpc.aio.ClientInterceptor]:
    """grpc.aio channels: interceptors adding ``authorization: Bearer KEY`` to unary and streaming calls.

    Two objects, because a grpc.aio channel files each interceptor under the first call kind it implements.
    """
    return [_AsyncUnaryKey(api_key), _AsyncStreamKey(api_key)]
