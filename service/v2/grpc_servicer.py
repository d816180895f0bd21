"""The ``inference.GRPCInferenceService`` servicer: convert, call ``V2DataPlane``, convert back.

Errors abort with the code and message of the one table (``grpc_errors``). ``ModelStreamInfer``
(Triton's streaming extension) answers requests in order with per-request errors in ``error_message``,
holding at most ``STREAM_WINDOW`` requests in flight so a fast sender is slowed by flow control.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from service.grpc.errors import status_of
from service.grpc.ordered_stream import answer_in_order
from service.grpc.servicer import time_left
from service.v2.converters import InferRequestConverter, InferResultConverter, ModelMetadataConverter
from service.v2.dataplane import EXTENSIONS, SERVER_NAME, V2DataPlane
from service.v2.types import parse_version
from service.v2.wire import grpc_service_pb2 as pb
from service.v2.wire import grpc_service_pb2_grpc as pb_grpc

STREAM_WINDOW = 64
R = TypeVar("R")


def grpc_errors(
    method: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[R]]:
    """A unary V2 servicer method whose errors abort the call with the code and message of the one table."""

    @functools.wraps(method)
    async def guarded(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            code, message = status_of(exc)
            await context.abort(code, message)
            raise  # abort raises; this keeps type checkers from seeing a fall-through

    return guarded


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Thin gRPC surface over ``V2DataPlane``."""

    def __init__(self, dataplane: V2DataPlane, *, stream_window: int = STREAM_WINDOW) -> None:
        self._dataplane = dataplane
        self._stream_window = stream_window

    @grpc_errors
    async def ServerLive(
        self, _request: pb.ServerLiveRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=await self._dataplane.live())

    @grpc_errors
    async def ServerReady(
        self, _request: pb.ServerReadyRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self._dataplane.server_ready())

    @grpc_errors
    async def ModelReady(
        self, request: pb.ModelReadyRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        ready = await self._dataplane.model_ready(request.name, parse_version(request.version))
        return pb.ModelReadyResponse(ready=ready)

    @grpc_errors
    async def ServerMetadata(
        self, _request: pb.ServerMetadataRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name=SERVER_NAME, version=self._dataplane.server_version, extensions=list(EXTENSIONS)
        )

    @grpc_errors
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        meta = await self._dataplane.model_metadata(request.name, parse_version(request.version))
        return ModelMetadataConverter.from_types(meta)

    @grpc_errors
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        decoded = InferRequestConverter.to_types(request, timeout_s=time_left(context))
        return InferResultConverter.from_types(await self._dataplane.infer(decoded, "v2-grpc"))

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        answers = answer_in_order(
            request_iterator, lambda request: self._stream_answer(request, context), self._stream_window
        )
        async for answer in answers:
            yield answer

    async def _stream_answer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStreamInferResponse:
        try:
            decoded = InferRequestConverter.to_types(request, timeout_s=time_left(context))
            response = InferResultConverter.from_types(await self._dataplane.infer(decoded, "v2-grpc"))
        except Exception as exc:
            _, message = status_of(exc)
            return pb.ModelStreamInferResponse(
                error_message=message, infer_response=pb.ModelInferResponse(id=request.id)
            )
        return pb.ModelStreamInferResponse(infer_response=response)
