"""The gRPC servicers of the local model server: TF Serving's PredictionService and ModelService.

Thin: each method hands the official request message to the data plane and maps ``service.errors`` to
gRPC codes through the class's ``grpc_code`` (one table, ``service/errors.py``). Unknown errors are
INTERNAL with a generic message; the traceback goes to the log only. Classify, Regress, MultiInference,
GetModelMetadata and HandleReloadConfigRequest answer UNIMPLEMENTED.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from service.errors import ServiceError
from service.modelserver.dataplane import ModelServerDataPlane

log = logging.getLogger(__name__)
T = TypeVar("T")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


async def _answer(work: Awaitable[T], context: Context) -> T:
    try:
        return await work
    except ServiceError as exc:
        code, detail = grpc.StatusCode[exc.grpc_code], exc.detail
    except Exception:
        log.exception("unexpected error in the model server")
        code, detail = grpc.StatusCode.INTERNAL, "internal error"
    await context.abort(code, detail)
    raise AssertionError("abort() ends the call by raising")


async def _unimplemented(context: Context, method: str) -> NoReturn:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this model server")
    raise AssertionError("abort() ends the call by raising")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    """``tensorflow.serving.PredictionService``: Predict; the rest UNIMPLEMENTED."""

    def __init__(self, dataplane: ModelServerDataPlane) -> None:
        self._dataplane = dataplane

    async def Predict(self, request: Any, context: Context) -> Any:
        return await _answer(self._dataplane.predict(request, timeout=context.time_remaining()), context)

    async def Classify(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Classify")

    async def Regress(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Regress")

    async def MultiInference(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "MultiInference")

    async def GetModelMetadata(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "GetModelMetadata")


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    """``tensorflow.serving.ModelService``: GetModelStatus; HandleReloadConfigRequest UNIMPLEMENTED."""

    def __init__(self, dataplane: ModelServerDataPlane) -> None:
        self._dataplane = dataplane

    async def GetModelStatus(self, request: Any, context: Context) -> Any:
        return await _answer(self._dataplane.get_model_status(request), context)

    async def HandleReloadConfigRequest(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "HandleReloadConfigRequest")
