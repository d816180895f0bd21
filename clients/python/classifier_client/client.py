"""``ClassifierClient`` (blocking) and ``AsyncClassifierClient`` (grpc.aio) for the gateway's gRPC API.

Both have a default deadline per call (``timeout``, which also bounds the retries of that call: an
attempt gets what is left of it, and a call whose deadline runs out while retrying raises
``DeadlineExceeded``), explicit send and receive message limits, and retries with backoff on UNAVAILABLE
only (see ``retry``). Failed calls raise ``classifier_client.errors`` types. Streams
(``classify_stream``) are not retried: a stream that broke may have delivered part of its answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from classifier_client.errors import ClassifierError, DeadlineExceeded, error_for_number, from_rpc_error
from classifier_client.messages import PathOrBytes, binary_inputs, build_request, text_inputs
from classifier_client.results import ClassifyResult, ModelInfo, classify_result, model_info
from classifier_client.retry import RetryPolicy
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # the gateway's default grpc_max_message_bytes
T = TypeVar("T")
StreamItem = ClassifyResult | ClassifierError


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


def _deadline_error() -> DeadlineExceeded:
    return DeadlineExceeded(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed between retries")


class ClassifierClient:
    """Blocking client; ``with ClassifierClient("host:50051") as client: client.classify_text(...)``."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        options = channel_options(max_message_bytes)
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.ClassifierStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._retry = retry or RetryPolicy()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> ClassifierClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def classify(
        self,
        model: str,
        inputs: Sequence[pb.Input],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
        min_confidence: float | None = None,
    ) -> ClassifyResult:
        """Classify ``Input`` messages with one version of ``model``; below ``min_confidence``, abstain."""
        request = build_request(model, inputs, version=version, label=label, top_k=top_k, min_confidence=min_confidence)
        return classify_result(self._call(self._stub.Classify, request, timeout))

    def classify_image(
        self,
        model: str,
        image: PathOrBytes | Iterable[PathOrBytes],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one image file (path or bytes) or several."""
        inputs = binary_inputs("image", image)
        return self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    def classify_audio(
        self,
        model: str,
        audio: PathOrBytes | Iterable[PathOrBytes],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one WAV file (path or bytes) or several."""
        inputs = binary_inputs("audio", audio)
        return self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    def classify_text(
        self,
        model: str,
        text: str | Iterable[str],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one text or several."""
        inputs = text_inputs(text)
        return self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    def classify_stream(
        self, requests: Iterable[pb.ClassifyRequest], *, timeout: float | None = None
    ) -> Iterator[StreamItem]:
        """Send many requests (see ``messages.build_request``) over one stream; yields one item per request,
        in order: a ``ClassifyResult`` or the ``ClassifierError`` of that request. ``timeout`` bounds the
        whole stream (None: no deadline; the gateway still bounds each request)."""
        responses = self._stub.ClassifyStream(iter(requests), timeout=timeout)
        try:
            for message in responses:
                yield stream_item(message)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        finally:
            responses.cancel()

    def list_models(self, *, timeout: float | None = None) -> list[ModelInfo]:
        """Every served model."""
        answer = self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return [model_info(m) for m in answer.models]

    def get_model(self, name: str, *, timeout: float | None = None) -> ModelInfo:
        """One model, with its input limits."""
        return model_info(self._call(self._stub.GetModel, pb.GetModelRequest(name=name), timeout))

    def _call(self, method: Callable[..., T], request: Any, timeout: float | None) -> T:
        deadline = time.monotonic() + (timeout or self._timeout)
        backoffs = self._retry.backoffs()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _deadline_error()
            try:
                return method(request, timeout=left)
            except grpc.RpcError as exc:
                delay = next(backoffs, None) if self._retry.should_retry(exc.code()) else None
                if delay is None or time.monotonic() + delay >= deadline:
                    raise from_rpc_error(exc) from exc
                time.sleep(delay)


class AsyncClassifierClient:
    """grpc.aio client; create it inside the event loop: ``async with AsyncClassifierClient(target) as c:``."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retry: RetryPolicy | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        options = channel_options(max_message_bytes)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.ClassifierStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._retry = retry or RetryPolicy()

    async def close(self) -> None:
        """Close the channel; calls still running are cancelled."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClassifierClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def classify(
        self,
        model: str,
        inputs: Sequence[pb.Input],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
        min_confidence: float | None = None,
    ) -> ClassifyResult:
        """Classify ``Input`` messages with one version of ``model``; below ``min_confidence``, abstain."""
        request = build_request(model, inputs, version=version, label=label, top_k=top_k, min_confidence=min_confidence)
        return classify_result(await self._call(self._stub.Classify, request, timeout))

    async def classify_image(
        self,
        model: str,
        image: PathOrBytes | Iterable[PathOrBytes],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one image file (path or bytes) or several; files are read off the event loop."""
        inputs = await asyncio.to_thread(binary_inputs, "image", image)
        return await self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    async def classify_audio(
        self,
        model: str,
        audio: PathOrBytes | Iterable[PathOrBytes],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one WAV file (path or bytes) or several; files are read off the event loop."""
        inputs = await asyncio.to_thread(binary_inputs, "audio", audio)
        return await self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    async def classify_text(
        self,
        model: str,
        text: str | Iterable[str],
        *,
        version: int | None = None,
        label: str | None = None,
        top_k: int | None = None,
        timeout: float | None = None,
    ) -> ClassifyResult:
        """Classify one text or several."""
        inputs = text_inputs(text)
        return await self.classify(model, inputs, version=version, label=label, top_k=top_k, timeout=timeout)

    async def classify_stream(
        self,
        requests: Iterable[pb.ClassifyRequest] | AsyncIterable[pb.ClassifyRequest],
        *,
        timeout: float | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Send many requests over one stream; yields one item per request, in order: a ``ClassifyResult``
        or the ``ClassifierError`` of that request. ``timeout`` bounds the whole stream (None: none)."""
        call = self._stub.ClassifyStream(requests, timeout=timeout)
        try:
            async for message in call:
                yield stream_item(message)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from exc
        finally:
            call.cancel()

    async def list_models(self, *, timeout: float | None = None) -> list[ModelInfo]:
        """Every served model."""
        answer = await self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)
        return [model_info(m) for m in answer.models]

    async def get_model(self, name: str, *, timeout: float | None = None) -> ModelInfo:
        """One model, with its input limits."""
        return model_info(await self._call(self._stub.GetModel, pb.GetModelRequest(name=name), timeout))

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any, timeout: float | None) -> T:
        deadline = time.monotonic() + (timeout or self._timeout)
        backoffs = self._retry.backoffs()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _deadline_error()
            try:
                return await method(request, timeout=left)
            except grpc.RpcError as exc:
                delay = next(backoffs, None) if self._retry.should_retry(exc.code()) else None
                if delay is None or time.monotonic() + delay >= deadline:
                    raise from_rpc_error(exc) from exc
                await asyncio.sleep(delay)
