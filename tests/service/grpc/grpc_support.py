"""Helpers of the gRPC surface tests: a backend that can be told to load slowly, stall or fail, and a
surface built over it.

``ScriptedBackend`` wraps the gateway's real embedded backend: every answer comes from real models
unless a test scripts otherwise. It is how the tests reach states a healthy gateway does not show on
demand (models still loading, a slow or failing backend).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import numpy as np

from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus, VersionState, VersionStatus
from service.core.classifier import Classifier
from service.grpc import GrpcSurface, create_grpc_server
from service.metrics import Metrics
from service.settings import Settings

T = TypeVar("T")


class _Gate(asyncio.Event):
    """An event whose every flip is a state change of ``backend`` (its versions turn LOADING or back)."""

    def __init__(self, backend: ModelBackend) -> None:
        super().__init__()
        self._backend = backend

    def set(self) -> None:
        super().set()
        self._backend.publish_change()

    def clear(self) -> None:
        super().clear()
        self._backend.publish_change()


class ScriptedBackend(ModelBackend):
    """Delegates to ``inner``; ``loaded`` unset reports every version LOADING, ``predict_delay_s`` stalls
    predictions, ``fail_with`` raises from them. Records the ``timeout`` of each prediction and counts
    those cancelled while stalled."""

    def __init__(self, inner: ModelBackend) -> None:
        self.inner = inner
        self.loaded = _Gate(self)
        self.loaded.set()
        self.predict_delay_s = 0.0
        self.fail_with: BaseException | None = None
        self.predict_started = asyncio.Event()
        self.cancelled = 0
        self.completed = 0
        self.timeouts: list[float | None] = []

    async def start(self) -> None:
        """The inner backend is already started."""

    async def close(self) -> None:
        """The inner backend belongs to the gateway."""

    async def list_models(self) -> list[ModelStatus]:
        return [self._gated(s) for s in await self.inner.list_models()]

    async def model_status(self, name: str) -> ModelStatus:
        return self._gated(await self.inner.model_status(name))

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        return await self.inner.get_spec(name, version)

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        self.predict_started.set()
        self.timeouts.append(timeout)
        try:
            if self.predict_delay_s:
                await asyncio.sleep(self.predict_delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail_with is not None:
            raise self.fail_with
        answer = await self.inner.predict(name, version, inputs, timeout=timeout)
        self.completed += 1
        return answer

    def _gated(self, status: ModelStatus) -> ModelStatus:
        if self.loaded.is_set():
            return status
        loading = tuple(VersionStatus(v.version, VersionState.LOADING) for v in status.versions)
        return ModelStatus(status.name, loading)


@asynccontextmanager
async def scripted_surface(
    settings: Settings, inner: ModelBackend, *, loaded: bool = True, **overrides: Any
) -> AsyncIterator[tuple[GrpcSurface, ScriptedBackend]]:
    """A started gRPC surface on a free port over a fresh classify core and a ``ScriptedBackend``.

    ``loaded``: models report AVAILABLE and the surface is yielded once its health says SERVING (the
    self-checks are done and will not mix with the test's calls); else they report LOADING.
    """
    settings = settings.model_copy(update={"grpc_port": 0, **overrides})
    backend = ScriptedBackend(inner)
    if not loaded:
        backend.loaded.clear()
    classifier = Classifier(settings, backend, Metrics())
    surface = create_grpc_server(settings, classifier, health_retry_s=0.05)
    await surface.start()
    try:
        if loaded:
            await wait_until(lambda: surface.health.serving)
        yield surface, backend
    finally:
        await surface.stop(grace=1)
        await asyncio.to_thread(classifier.close)


async def wait_until(condition: Any, timeout_s: float = 30.0) -> None:
    """Poll ``condition()`` until true; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.02)


async def started_in_the_model(call: Awaitable[T], backend: ScriptedBackend) -> asyncio.Future[T]:
    """``call`` started and returned once ``backend`` is inside its model call (held there by
    ``predict_delay_s``), so the test can act while the call is in flight."""
    backend.predict_started.clear()
    running = asyncio.ensure_future(call)
    await asyncio.wait_for(backend.predict_started.wait(), 10)
    return running
