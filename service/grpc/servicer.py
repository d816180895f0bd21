"""The ``classifier.v1.Classifier`` servicer: parse, convert, call the core, convert back. Errors are
raised and mapped by ``service.grpc.errors``.

Requests arrive as bytes (``classifier_handler`` registers the methods without a request deserializer)
and are parsed here: a message gRPC's generated deserializer cannot parse (garbage, a truncated message,
invalid UTF-8 in a string field) used to end the call UNKNOWN with a protobuf DecodeError, and in a
stream it ended the whole stream INTERNAL (finding 7). Parsed here it is an ``InvalidInput``: a unary call
ends INVALID_ARGUMENT; in ``ClassifyStream`` that one request gets its INVALID_ARGUMENT error in the
stream and the requests after it are answered as usual. Each message's bytes are counted in the core's
``ByteBudget`` while it is handled.

Batched stream messages: a ``ClassifyStream`` message whose ``batch`` is set carries up to
``MAX_STREAM_BATCH`` requests; they run concurrently (the micro-batcher coalesces them) and their answers
go back in one message, in order, each exactly what the request would have got alone. That saves a
message round trip per request, which is most of what a request costs grpc.aio. The stream's window
counts messages, so a stream holds at most ``STREAM_WINDOW * MAX_STREAM_BATCH`` requests, and each of
them still needs an admission slot.

Deadlines: each call hands the core what is left of the caller's deadline (``context.time_remaining()``)
as ``ClassifyCall.timeout_s``. When the caller cancels or its deadline passes, grpc.aio cancels the
handler task and the ``CancelledError`` runs through the core's awaits, so no work is left waiting on
an answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from google.protobuf.message import DecodeError, Message

from service.core.classifier import Classifier
from service.errors import DeadlineExceeded, InvalidInput, SchemaViolation
from service.grpc.converters import ClassifyRequestConverter, ClassifyResponseConverter, ModelInfoConverter
from service.grpc.errors import mapped_stream, mapped_unary, status_of
from service.grpc.ordered_stream import answer_in_order

# Requests of one stream in flight at once: enough to fill the micro-batcher, bounded so that a fast
# sender is slowed by flow control instead of growing this process's memory.
STREAM_WINDOW = 64
#: Requests one batched ``ClassifyStream`` message may carry.
MAX_STREAM_BATCH = 256
SERVICE = "classifier.v1.Classifier"
M = TypeVar("M", bound=Message)


def parse(message_type: type[M], raw: bytes) -> M:
    """``raw`` as a ``message_type``; ``InvalidInput`` when it is not one (no protobuf text in the detail)."""
    message = message_type()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        raise InvalidInput(f"the request is not a valid {message_type.DESCRIPTOR.full_name} message") from exc
    return message  # type: ignore[no-any-return]


def time_left(context: grpc.aio.ServicerContext) -> float | None:
    """Seconds left of the caller's deadline, None if it set none; DeadlineExceeded if none is left."""
    left: float | None = context.time_remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded("the request's deadline passed before it was handled")
    return left


class ClassifierServicer:
    """Thin gRPC surface over ``Classifier``; methods take the request's bytes (see ``classifier_handler``)."""

    def __init__(self, classifier: Classifier, *, stream_window: int = STREAM_WINDOW) -> None:
        self._classifier = classifier
        self._stream_window = stream_window

    async def Classify(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.ClassifyResponse:
        budget = self._classifier.budget
        budget.reserve(len(raw))
        try:
            call = ClassifyRequestConverter.to_types(parse(pb.ClassifyRequest, raw), timeout_s=time_left(context))
            return ClassifyResponseConverter.from_types(await self._classifier.classify(call))
        finally:
            budget.release(len(raw))

    async def ClassifyStream(
        self, request_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ClassifyStreamResponse]:
        # Each message starts as it arrives; answers go out in message order.
        async for answer in answer_in_order(
            request_iterator, lambda raw: self._stream_message(raw, context), self._stream_window
        ):
            yield answer

    async def _stream_message(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.ClassifyStreamResponse:
        budget = self._classifier.budget
        try:
            budget.reserve(len(raw))
        except Exception as exc:
            return _stream_error(exc)
        answer = pb.ClassifyStreamResponse()
        try:
            request = parse(pb.ClassifyRequest, raw)
            if not request.batch:
                await self._stream_request(request, answer, context)
                return answer
            batch = _batch_of(request)
            # Each request fills its own slot of the one answer, so nothing is copied afterwards.
            slots = [answer.batch.add() for _ in batch]
            if len(batch) == 1:
                await self._stream_request(batch[0], slots[0], context)
            else:
                await asyncio.gather(
                    *(self._stream_request(item, slot, context) for item, slot in zip(batch, slots, strict=True))
                )
            return answer
        except Exception as exc:
            return _stream_error(exc)
        finally:
            budget.release(len(raw))

    async def _stream_request(
        self, request: pb.ClassifyRequest, slot: pb.ClassifyStreamResponse, context: grpc.aio.ServicerContext
    ) -> None:
        """Fill ``slot`` with the answer to ``request``, or with its error."""
        try:
            call = ClassifyRequestConverter.to_types(request, timeout_s=time_left(context))
            response = await self._classifier.classify(call)
            ClassifyResponseConverter.from_types(response, into=slot.response)
        except Exception as exc:
            _fill_error(slot, exc)

    async def ListModels(self, raw: bytes, _context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        parse(pb.ListModelsRequest, raw)
        models = await self._classifier.list_models()
        return pb.ListModelsResponse(models=[ModelInfoConverter.from_types(m) for m in models])

    async def GetModel(self, raw: bytes, _context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        request = parse(pb.GetModelRequest, raw)
        return ModelInfoConverter.from_types(await self._classifier.get_model(request.name))


def _batch_of(container: pb.ClassifyRequest) -> list[pb.ClassifyRequest]:
    """The requests of a batched message; ``SchemaViolation`` when it is not a plain container."""
    if (
        container.model
        or container.inputs
        or container.top_k
        or container.WhichOneof("version_choice") is not None
        or container.HasField("min_confidence")
    ):
        raise SchemaViolation("a message with 'batch' carries its requests only; set every other field in them")
    if len(container.batch) > MAX_STREAM_BATCH:
        raise SchemaViolation(f"{len(container.batch)} requests in one batch; the limit is {MAX_STREAM_BATCH}")
    return list(container.batch)


def _fill_error(slot: pb.ClassifyStreamResponse, exc: Exception) -> None:
    code, message = status_of(exc)
    slot.Clear()
    slot.error.code = code.value[0]
    slot.error.message = message


def _stream_error(exc: Exception) -> pb.ClassifyStreamResponse:
    answer = pb.ClassifyStreamResponse()
    _fill_error(answer, exc)
    return answer


def classifier_handler(servicer: ClassifierServicer) -> grpc.GenericRpcHandler:
    """The service's methods with requests passed as bytes (no request deserializer) and responses
    serialized as usual, so that parsing, and its failures, happen inside the handlers; what a method
    raises becomes its status (``service.grpc.errors``)."""
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Classify": grpc.unary_unary_rpc_method_handler(
                mapped_unary(servicer.Classify), response_serializer=pb.ClassifyResponse.SerializeToString
            ),
            "ClassifyStream": grpc.stream_stream_rpc_method_handler(
                mapped_stream(servicer.ClassifyStream),
                response_serializer=pb.ClassifyStreamResponse.SerializeToString,
            ),
            "ListModels": grpc.unary_unary_rpc_method_handler(
                mapped_unary(servicer.ListModels), response_serializer=pb.ListModelsResponse.SerializeToString
            ),
            "GetModel": grpc.unary_unary_rpc_method_handler(
                mapped_unary(servicer.GetModel), response_serializer=pb.ModelInfo.SerializeToString
            ),
        },
    )
