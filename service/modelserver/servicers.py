"""The gRPC servicers of the local model server: TF Serving's PredictionService and ModelService.

Thin: each method hands the official request message to the data plane and maps ``service.errors`` to
gRPC codes with the gateway's ``status_of`` (one table, ``service/errors.py``). Unknown and internal
errors are INTERNAL with a generic message; the detail goes to the log only. GetModelMetadata answers the
signature defs (``service.modelserver.metadata``); Classify, Regress, MultiInference and
HandleReloadConfigRequest answer UNIMPLEMENTED. ``ActiveCalls`` counts the calls being answered, so a
graceful stop can wait until every call already received has been answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from service.grpc.errors import status_of
from service.modelserver.dataplane import ModelServerDataPlane
from service.modelserver.metadata import ModelMetadataReader

log = logging.getLogger(__name__)
T = TypeVar("T")
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


class ActiveCalls:
    """Calls being answered now, and when that number last changed (``_changed`` is set on each change)."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = time.monotonic()
        self._changed = asyncio.Event()

    def __enter__(self) -> None:
        self.count += 1
        self._mark()

    def __exit__(self, *_: object) -> None:
        self.count -= 1
        self._mark()

    def _mark(self) -> None:
        self.changed = time.monotonic()
        self._changed.set()

    async def quiet(self, quiet_s: float, timeout_s: float) -> bool:
        """Wait until no call has been active for ``quiet_s`` seconds; False if ``timeout_s`` passed first."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    self._changed.clear()
                    idle_s = quiet_s - (time.monotonic() - self.changed)
                    if not self.count and idle_s <= 0:
                        return True
                    # The next call starting or ending, or (when idle) the end of the quiet period.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(None if self.count else idle_s):
                            await self._changed.wait()
        except TimeoutError:
            return False


async def _served(work: Awaitable[T], context: Context, calls: ActiveCalls) -> T:
    """``work``'s answer, counted as an active call; an error it raises aborts the call with its status."""
    try:
        with calls:
            return await work
    except Exception as exc:
        code, detail = status_of(exc)
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
        return await _served(work, context, self._calls)

    async def Classify(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Classify")

    async def Regress(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "Regress")

    async def MultiInference(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "MultiInference")

    async def GetModelMetadata(self, request: Any, context: Context) -> Any:
        return await _served(self._metadata.get_model_metadata(request), context, self._calls)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    """``tensorflow.serving.ModelService``: GetModelStatus; HandleReloadConfigRequest UNIMPLEMENTED."""

    def __init__(self, dataplane: ModelServerDataPlane, calls: ActiveCalls | None = None) -> None:
        self._dataplane = dataplane
        self._calls = calls or ActiveCalls()

    async def GetModelStatus(self, request: Any, context: Context) -> Any:
        return await _served(self._dataplane.get_model_status(request), context, self._calls)

    async def HandleReloadConfigRequest(self, _request: Any, context: Context) -> Any:
        await _unimplemented(context, "HandleReloadConfigRequest")
