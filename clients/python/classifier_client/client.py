"""``ClassifierClient`` (blocking) and ``AsyncClassifierClient`` (grpc.aio) for the gateway's gRPC API.

Both have a default deadline per call (``timeout``, which also bounds the retries of that call: an
attempt gets what is left of it), explicit send and receive message limits, an optional API key (``api_key=``,
sent as ``authorization: Bearer KEY``), TLS (``tls=True``, ``root_certificates=``, ``client_certificate=``),
and retries with backoff on UNAVAILABLE only (see ``retry``). Failed calls raise ``classifier_client.errors``
types. Streams (``classify_stream``) are not retried: a stream that broke may have delivered part of its
answers. ``classify_stream(..., batch_size=N)`` sends up to N requests per stream message (the gateway
answers them in one message), which costs far less per request than one message each. Everything but
the I/O lives in ``base.BaseClient``; the two classes differ only in how they call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from classifier_client.base import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_S,
    MAX_STREAM_BATCH,
    BaseClient,
    ClassifyOptions,
    StreamItem,
    abatched,
    batched,
    channel_options,
    check_batch_size,
    stream_items,
)
from classifier_client.errors import from_rpc_error
from classifier_client.messages import PathOrBytes, binary_inputs, text_inputs
from classifier_client.results import ClassifyResult, ModelInfo, classify_result, model_info
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

if TYPE_CHECKING:  # the client supports Python 3.10, whose typing has no Unpack
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_TIMEOUT_S",
    "MAX_STREAM_BATCH",
    "AsyncClassifierClient",
    "ClassifierClient",
    "StreamItem",
    "channel_options",
]
T = TypeVar("T")


class ClassifierClient(BaseClient):
    """Blocking client; ``with ClassifierClient("host:50051") as client: client.classify_text(...)``."""

    def _connect(self) -> None:
        options = self._channel_options
        self._channel = (
            grpc.secure_channel(self.target, self._credentials, options=options)
            if self._credentials is not None
            else grpc.insecure_channel(self.target, options=options)
        )
        self._stub = pb_grpc.ClassifierStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> ClassifierClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def classify(self, model: str, inputs: Sequence[pb.Input], **options: Unpack[ClassifyOptions]) -> ClassifyResult:
        """Classify ``Input`` messages with one version of ``model`` (``version`` or ``label`` pins it)."""
        request, timeout = self._classify_request(model, inputs, options)
        return classify_result(self._call(self._stub.Classify, request, timeout))

    def classify_image(
        self, model: str, image: PathOrBytes | Iterable[PathOrBytes], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one image file (path or bytes) or several."""
        return self.classify(model, binary_inputs("image", image), **options)

    def classify_audio(
        self, model: str, audio: PathOrBytes | Iterable[PathOrBytes], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one WAV file (path or bytes) or several."""
        return self.classify(model, binary_inputs("audio", audio), **options)

    def classify_text(
        self, model: str, text: str | Iterable[str], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one text or several."""
        return self.classify(model, text_inputs(text), **options)

    def classify_stream(
        self, requests: Iterable[pb.ClassifyRequest], *, timeout: float | None = None, batch_size: int = 1
    ) -> Iterator[StreamItem]:
        """Send many requests (see ``messages.build_request``) over one stream; yields one item per request,
        in order: a ``ClassifyResult`` or the ``ClassifierError`` of that request. ``timeout`` bounds the
        whole stream (None: no deadline; the gateway still bounds each request). ``batch_size``: up to this
        many consecutive requests per message (at most ``MAX_STREAM_BATCH``)."""
        check_batch_size(batch_size)
        sizes: deque[int] = deque()
        messages = batched(requests, batch_size, sizes)
        responses = self._stub.ClassifyStream(messages, timeout=timeout, metadata=self._metadata)
        try:
            for message in responses:
                yield from stream_items(message, sizes.popleft())
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
        attempts = self._attempts(timeout)
        while True:
            try:
                return method(request, timeout=attempts.left(), metadata=self._metadata)
            except grpc.RpcError as exc:
                pause = attempts.pause_after(exc.code())
                if pause is None:
                    raise from_rpc_error(exc) from exc
                time.sleep(pause)


class AsyncClassifierClient(BaseClient):
    """grpc.aio client; create it inside the event loop: ``async with AsyncClassifierClient(target) as c:``."""

    def _connect(self) -> None:
        options = self._channel_options
        self._channel = (
            grpc.aio.secure_channel(self.target, self._credentials, options=options)
            if self._credentials is not None
            else grpc.aio.insecure_channel(self.target, options=options)
        )
        self._stub = pb_grpc.ClassifierStub(self._channel)  # type: ignore[no-untyped-call]

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
        self, model: str, inputs: Sequence[pb.Input], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify ``Input`` messages with one version of ``model`` (``version`` or ``label`` pins it)."""
        request, timeout = self._classify_request(model, inputs, options)
        return classify_result(await self._call(self._stub.Classify, request, timeout))

    async def classify_image(
        self, model: str, image: PathOrBytes | Iterable[PathOrBytes], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one image file (path or bytes) or several; files are read off the event loop."""
        return await self.classify(model, await asyncio.to_thread(binary_inputs, "image", image), **options)

    async def classify_audio(
        self, model: str, audio: PathOrBytes | Iterable[PathOrBytes], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one WAV file (path or bytes) or several; files are read off the event loop."""
        return await self.classify(model, await asyncio.to_thread(binary_inputs, "audio", audio), **options)

    async def classify_text(
        self, model: str, text: str | Iterable[str], **options: Unpack[ClassifyOptions]
    ) -> ClassifyResult:
        """Classify one text or several."""
        return await self.classify(model, text_inputs(text), **options)

    async def classify_stream(
        self,
        requests: Iterable[pb.ClassifyRequest] | AsyncIterable[pb.ClassifyRequest],
        *,
        timeout: float | None = None,
        batch_size: int = 1,
    ) -> AsyncIterator[StreamItem]:
        """Send many requests over one stream; yields one item per request, in order: a ``ClassifyResult``
        or the ``ClassifierError`` of that request. ``timeout`` bounds the whole stream (None: none).
        ``batch_size``: up to this many consecutive requests per message (at most ``MAX_STREAM_BATCH``); a
        message leaves once it is full or the requests end, so a slow source wants a small batch."""
        check_batch_size(batch_size)
        sizes: deque[int] = deque()
        messages = (
            abatched(requests, batch_size, sizes)
            if isinstance(requests, AsyncIterable)
            else batched(requests, batch_size, sizes)
        )
        call = self._stub.ClassifyStream(messages, timeout=timeout, metadata=self._metadata)
        try:
            async for message in call:
                for item in stream_items(message, sizes.popleft()):
                    yield item
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
        attempts = self._attempts(timeout)
        while True:
            try:
                return await method(request, timeout=attempts.left(), metadata=self._metadata)
            except grpc.RpcError as exc:
                pause = attempts.pause_after(exc.code())
                if pause is None:
                    raise from_rpc_error(exc) from exc
                await asyncio.sleep(pause)
