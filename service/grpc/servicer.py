"""The ``classifier.v1.Classifier`` servicer: convert, call the core, convert back. Errors are raised and
mapped by ``service.grpc.errors``.

Deadlines: each call hands the core what is left of the caller's deadline (``context.time_remaining()``)
as ``ClassifyCall.timeout_s``. When the caller cancels or its deadline passes, grpc.aio cancels the
handler task and the ``CancelledError`` runs through the core's awaits, so no work is left waiting on
an answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

from service.core.classifier import Classifier
from service.errors import DeadlineExceeded
from service.grpc.converters import ClassifyRequestConverter, ClassifyResponseConverter, ModelInfoConverter
from service.grpc.errors import status_of

# Requests of one stream in flight at once: enough to fill the micro-batcher, bounded so that a fast
# sender is slowed by flow control instead of growing this process's memory.
STREAM_WINDOW = 64


def time_left(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds left of the caller's deadline, None if it set none; DeadlineExceeded if none is left."""
    left: float | None = context.time_remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded("the request's deadline passed before it was handled")
    return left


class ClassifierServicer(pb_grpc.ClassifierServicer):
    """Thin gRPC surface over ``Classifier``."""

    def __init__(self, classifier: Classifier, *, stream_window: int = STREAM_WINDOW) -> None:
        self._classifier = classifier
        self._stream_window = stream_window

    async def Classify(self, request: pb.ClassifyRequest, context: grpc.aio.ServicerContext) -> pb.ClassifyResponse:
        call = ClassifyRequestConverter.to_types(request, timeout_s=time_left(context))
        return ClassifyResponseConverter.from_types(await self._classifier.classify(call))

    async def ClassifyStream(
        self, request_iterator: AsyncIterator[pb.ClassifyRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ClassifyStreamResponse]:
        # A reader task starts each request as it arrives; answers go out in request order.
        pending: asyncio.Queue[asyncio.Task[pb.ClassifyStreamResponse] | None] = asyncio.Queue(self._stream_window)

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await pending.put(asyncio.create_task(self._stream_item(request, context)))
            finally:
                await pending.put(None)

        reader = asyncio.create_task(read())
        started: list[asyncio.Task[pb.ClassifyStreamResponse]] = []
        try:
            while (task := await pending.get()) is not None:
                started.append(task)
                yield await task
                started.pop()
            await reader  # re-raises what ended the request stream, if it was an error
        finally:
            reader.cancel()
            while not pending.empty():
                if (queued := pending.get_nowait()) is not None:
                    started.append(queued)
            for task in started:
                task.cancel()
            # Wait for the cancelled work to unwind; what it raised was answered or no longer matters.
            await asyncio.gather(reader, *started, return_exceptions=True)

    async def _stream_item(
        self, request: pb.ClassifyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClassifyStreamResponse:
        try:
            call = ClassifyRequestConverter.to_types(request, timeout_s=time_left(context))
            response = ClassifyResponseConverter.from_types(await self._classifier.classify(call))
        except Exception as exc:
            code, message = status_of(exc)
            return pb.ClassifyStreamResponse(error=pb.Error(code=code.value[0], message=message))
        return pb.ClassifyStreamResponse(response=response)

    async def ListModels(
        self, _request: pb.ListModelsRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        models = await self._classifier.list_models()
        return pb.ListModelsResponse(models=[ModelInfoConverter.from_types(m) for m in models])

    async def GetModel(self, request: pb.GetModelRequest, _context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        return ModelInfoConverter.from_types(await self._classifier.get_model(request.name))
