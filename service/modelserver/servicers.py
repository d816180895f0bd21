"""The gRPC servicers of the local model server: TF Serving's PredictionService and ModelService.

Thin: each method hands the official request message to the data plane and maps ``service.errors`` to
gRPC codes through the class's ``grpc_code`` (one table, ``service/errors.py``). Unknown errors are
INTERNAL with a generic message; the traceback goes to the log only. GetModelMetadata answers the
signature defs (``service.modelserver.metadata``); Classify, Regress, MultiInference and
HandleReloadConfigRequest answer UNIMPLEMENTED. ``ActiveCalls`` counts the calls
being answered, so a graceful stop can wait until every call already received has been answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from service.errors import ServiceError
from service.modelserver.dataplane import ModelServerDataPlane
from service.modelserver.metadata import ModelMetadataReader

log = logging.getLogger(__name__)
T = TypeVar("T")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class ActiveCalls:
    """Calls being answered now, and when that number last changed."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = time.monotonic()

    def __enter__(self) -> None:
        self.count += 1
        self.changed = time.monotonic()

    def __exit__(self, *_: object) -> None:
        self.count -= 1
        self.changed = time.monotonic()

    async def quiet(self, quiet_s: float, timeout_s: float) -> bool:
        """Wait until no call has been active for ``quiet_s`` seconds; False if ``timeout_s`` passed first."""
        deadline = time.monotonic() + timeout_s
        while self.count or time.monotonic() - self.changed < quiet_s:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True


async def _answer(work: Awaitable[T], context: Context, calls: ActiveCalls) -> T:
    try:
        with calls:
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
    """``tensorflow.serving.PredictionService``: Predict and GetModelMetadata; the rest UNIMPLEMENTED."""

    def __init__(self, dataplane: ModelServerDataPlane, calls: ActiveCalls | None = None) -> None:
        self._dataplane = dataplane
        self._metadata = ModelMetadataReader(dataplane)
        self._calls = calls or ActiveCalls()

    async def Predict(self, request: Any, context: Context) -> Any:
        work = self._dataplane.predict(request, timeout=context.time_remaining())
        return await _answer(work, context, self._calls)

    async def Classify(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Classify")

    async def Regress(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Regress")

    async def MultiInference(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "MultiInference")

    async def GetModelMetadata(self, request: Any, context: Context) -> Any:
        return await _answer(self._metadata.get_model_metadata(request), context, self._calls)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    """``tensorflow.serving.ModelService``: GetModelStatus; HandleReloadConfigRequest UNIMPLEMENTED."""

    def __init__(self, dataplane: ModelServerDataPlane, calls: ActiveCalls | None = None) -> None:
        self._dataplane = dataplane
        self._calls = calls or ActiveCalls()

    async def GetModelStatus(self, request: Any, context: Context) -> Any:
        return await _answer(self._dataplane.get_model_status(request), context, self._calls)

    async def HandleReloadConfigRequest(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "HandleReloadConfigRequest")
