"""The ``classifier.v1.Classifier`` servicer: parse, convert, call the core, convert back. Errors are
raised and mapped by ``service.grpc.errors``.

Requests arrive as bytes (``classifier_handler`` registers the methods without a request deserializer)
and are parsed here: a message gRPC's generated deserializer cannot parse (garbage, a truncated message,
invalid UTF-8 in a string field) used to end the call UNKNOWN with a protobuf DecodeError, and in a
stream it ended the whole stream INTERNAL (finding 7). Parsed here it is an ``InvalidInput``: a unary call
ends INVALID_ARGUMENT; in ``ClassifyStream`` that one request gets its INVALID_ARGUMENT error in the
stream and the requests after it are answered as usual. Each message's bytes are counted in the core's
``ByteBudget`` while it is handled.

Deadlines: each call hands the core what is left of the caller's deadline (``context.time_remaining()``)
as ``ClassifyCall.timeout_s``. When the caller cancels or its deadline passes, grpc.aio cancels the
handler task and the ``CancelledError`` runs through the core's awaits, so no work is left waiting on
an answer nobody will read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from google.protobuf.message import DecodeError, Message

from service.core.classifier import Classifier
from service.errors import DeadlineExceeded, InvalidInput
from service.grpc.converters import ClassifyRequestConverter, ClassifyResponseConverter, ModelInfoConverter
from service.grpc.errors import status_of
from service.grpc.ordered_stream import answer_in_order

# Requests of one stream in flight at once: enough to fill the micro-batcher, bounded so that a fast
# sender is slowed by flow control instead of growing this process's memory.
STREAM_WINDOW = 64
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
        # Each request starts as it arrives; answers go out in request order.
        async for answer in answer_in_order(
            request_iterator, lambda raw: self._stream_item(raw, context), self._stream_window
        ):
            yield answer

    async def _stream_item(self, raw: bytes, context: grpc.aio.ServicerContext) -> pb.ClassifyStreamResponse:
        budget = self._classifier.budget
        try:
            budget.reserve(len(raw))
        except Exception as exc:
            return _stream_error(exc)
        try:
            call = ClassifyRequestConverter.to_types(parse(pb.ClassifyRequest, raw), timeout_s=time_left(context))
            response = ClassifyResponseConverter.from_types(await self._classifier.classify(call))
        except Exception as exc:
            return _stream_error(exc)
        finally:
            budget.release(len(raw))
        return pb.ClassifyStreamResponse(response=response)

    async def ListModels(self, raw: bytes, _context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
        parse(pb.ListModelsRequest, raw)
        models = await self._classifier.list_models()
        return pb.ListModelsResponse(models=[ModelInfoConverter.from_types(m) for m in models])

    async def GetModel(self, raw: bytes, _context: grpc.aio.ServicerContext) -> pb.ModelInfo:
        request = parse(pb.GetModelRequest, raw)
        return ModelInfoConverter.from_types(await self._classifier.get_model(request.name))


def _stream_error(exc: Exception) -> pb.ClassifyStreamResponse:
    code, message = status_of(exc)
    return pb.ClassifyStreamResponse(error=pb.Error(code=code.value[0], message=message))


def classifier_handler(servicer: ClassifierServicer) -> grpc.GenericRpcHandler:
    """The service's methods with requests passed as bytes (no request deserializer) and responses
    serialized as usual, so that parsing, and its failures, happen inside the handlers."""
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Classify": grpc.unary_unary_rpc_method_handler(
                servicer.Classify, response_serializer=pb.ClassifyResponse.SerializeToString
            ),
            "ClassifyStream": grpc.stream_stream_rpc_method_handler(
                servicer.ClassifyStream, response_serializer=pb.ClassifyStreamResponse.SerializeToString
            ),
            "ListModels": grpc.unary_unary_rpc_method_handler(
                servicer.ListModels, response_serializer=pb.ListModelsResponse.SerializeToString
            ),
            "GetModel": grpc.unary_unary_rpc_method_handler(
                servicer.GetModel, response_serializer=pb.ModelInfo.SerializeToString
            ),
        },
    )
