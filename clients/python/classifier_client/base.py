"""What the blocking and the asyncio client share: everything that does no I/O (httpx's BaseClient split).

``BaseClient`` holds the settings of a client (target, default deadline, message limits, retry policy,
credentials, per-call metadata), builds the channel options, and turns answers into ``results`` types.
``ClassifierClient`` and ``AsyncClassifierClient`` add only the channel and the calls. A new client
option (an API key, say) is added here once: a constructor argument, kept in ``_metadata`` or the
channel options, and both clients send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import grpc

from classifier_client.auth import channel_credentials
from classifier_client.errors import ClassifierError, error_for_number
from classifier_client.messages import build_request
from classifier_client.results import ClassifyResult, classify_result
from classifier_client.retry import Attempts, RetryPolicy
from classifier_client.v1 import classifier_pb2 as pb

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # the gateway's default grpc_max_message_bytes
StreamItem = ClassifyResult | ClassifierError


class ClassifyOptions(TypedDict, total=False):
    """Keyword options of every classify method: which version, how many labels, the call's deadline, and
    the confidence under which the answer abstains."""

    version: int | None
    label: str | None
    top_k: int | None
    timeout: float | None
    min_confidence: float | None


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Channel options that set both message limits; gRPC's default receive limit is only 4 MiB."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def stream_item(message: pb.ClassifyStreamResponse) -> StreamItem:
    """One answer of ``ClassifyStream``: a result, or the error of that one request."""
    if message.WhichOneof("result") == "error":
        return error_for_number(message.error.code, message.error.message)
    return classify_result(message.response)


class BaseClient:
    """The settings and the I/O-free steps of a classifier client."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        api_key: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        client_certificate: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.target = target
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._credentials = channel_credentials(
            credentials=credentials, tls=tls, root_certificates=root_certificates, client_certificate=client_certificate
        )
        self._channel_options = channel_options(max_message_bytes)
        #: Sent with every call. The key travels as plain call metadata, not call credentials: gRPC sends
        #: those only over TLS, and a gateway on loopback or behind a TLS-terminating proxy may be plaintext.
        self._metadata: tuple[tuple[str, str], ...] = (
            () if api_key is None else (("authorization", f"Bearer {api_key}"),)
        )
        self._connect()

    def _connect(self) -> None:
        """Open the channel and the stub (the blocking or the asyncio kind)."""
        raise NotImplementedError

    def _attempts(self, timeout: float | None) -> Attempts:
        """The attempts of one unary call: ``timeout`` (else the client's default) bounds them all."""
        return self._retry.attempts(timeout or self._timeout)

    @staticmethod
    def _classify_request(
        model: str, inputs: Sequence[pb.Input], options: ClassifyOptions
    ) -> tuple[pb.ClassifyRequest, float | None]:
        """The request for ``classify`` and the call's own deadline."""
        request = build_request(
            model,
            inputs,
            version=options.get("version"),
            label=options.get("label"),
            top_k=options.get("top_k"),
            min_confidence=options.get("min_confidence"),
        )
        return request, options.get("timeout")
