"""What the blocking and the asyncio client share: everything that does no I/O (httpx's BaseClient split).

``BaseClient`` holds the settings of a client (target, default deadline, message limits, retry policy,
credentials, per-call metadata), builds the channel options, and turns answers into ``results`` types.
``ClassifierClient`` and ``AsyncClassifierClient`` add only the channel and the calls. A new client
option (an API key, say) is added here once: a constructor argument, kept in ``_metadata`` or the
channel options, and both clients send it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
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
#: The most requests the gateway takes in one batched ``ClassifyStream`` message.
MAX_STREAM_BATCH = 256
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


def check_batch_size(batch_size: int) -> None:
    """``ValueError`` unless 1 <= ``batch_size`` <= ``MAX_STREAM_BATCH``."""
    if not 1 <= batch_size <= MAX_STREAM_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_STREAM_BATCH}, not {batch_size}")


#: What ``batched`` records for a request sent as a plain message (``batch_size`` 1).
PLAIN = 0


def batched(requests: Iterable[pb.ClassifyRequest], batch_size: int, sent: deque[int]) -> Iterator[pb.ClassifyRequest]:
    """The stream's messages: with ``batch_size`` 1 each request as it is; else containers of up to
    ``batch_size`` consecutive requests (``ClassifyRequest.batch``). Each message's request count (``PLAIN``
    for a plain one) is appended to ``sent`` as it leaves, for ``stream_items``."""
    if batch_size == 1:
        for request in requests:
            sent.append(PLAIN)
            yield request
        return
    group: list[pb.ClassifyRequest] = []
    for request in requests:
        group.append(request)
        if len(group) == batch_size:
            sent.append(len(group))
            yield pb.ClassifyRequest(batch=group)
            group = []
    if group:
        sent.append(len(group))
        yield pb.ClassifyRequest(batch=group)


async def abatched(
    requests: AsyncIterable[pb.ClassifyRequest], batch_size: int, sent: deque[int]
) -> AsyncIterator[pb.ClassifyRequest]:
    """``batched`` for an asynchronous source."""
    group: list[pb.ClassifyRequest] = []
    async for request in requests:
        if batch_size == 1:
            sent.append(PLAIN)
            yield request
            continue
        group.append(request)
        if len(group) == batch_size:
            sent.append(len(group))
            yield pb.ClassifyRequest(batch=group)
            group = []
    if group:
        sent.append(len(group))
        yield pb.ClassifyRequest(batch=group)


def stream_items(message: pb.ClassifyStreamResponse, sent: int) -> list[StreamItem]:
    """The items of the answer to a message of ``sent`` requests (``PLAIN``: a plain message): the batch's
    answers in order, or, when the gateway refused the whole message, its error once per request."""
    if sent == PLAIN:
        return [stream_item(message)]
    if message.WhichOneof("result") == "error":
        return [stream_item(message) for _ in range(sent)]
    return [stream_item(answer) for answer in message.batch]


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
