"""The standard gRPC health service (``grpc.health.v1``), kept in step with ``Classifier.readiness()``.

Statuses are reported for the whole server (``""``), ``classifier.v1.Classifier`` and
``inference.GRPCInferenceService`` (V2): NOT_SERVING
from the start, SERVING once every expected model is ready (an AVAILABLE version passed its
self-check), NOT_SERVING again if that stops being true, and NOT_SERVING for good from the first step of
shutdown, so load balancers stop sending before the server stops accepting.

Readiness is re-checked on each state change the backend publishes (``ModelBackend.changes``), and,
while not ready, also every ``retry_s``: a self-check can fail for a passing reason (a full queue)
without the backend's state changing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from grpc_health.v1 import health, health_pb2

from service.core.classifier import Classifier

log = logging.getLogger(__name__)

SERVICE_NAME = "classifier.v1.Classifier"
V2_SERVICE_NAME = "inference.GRPCInferenceService"
REPORTED = ("", SERVICE_NAME, V2_SERVICE_NAME)
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: While not ready, readiness is checked again this often even without a state change.
HEALTH_RETRY_S = 0.25


class ReadinessHealth:
    """Owns the health servicer and the task that follows readiness."""

    def __init__(self, classifier: Classifier, *, retry_s: float) -> None:
        self.servicer = health.aio.HealthServicer()
        self._classifier = classifier
        self._retry_s = retry_s
        self._held = False  # set_serving(False) holds NOT_SERVING until set_serving(True)
        self._serving = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Report NOT_SERVING, then follow readiness in a background task."""
        await self._report(serving=False)
        self._task = asyncio.create_task(self._follow(), name="grpc-health-readiness")

    async def set_serving(self, serving: bool) -> None:
        """Force a status: False holds NOT_SERVING (draining); True reports SERVING and resumes following
        readiness at its next check."""
        self._held = not serving
        await self._report(serving=serving)

    async def shutdown(self) -> None:
        """NOT_SERVING for good, then stop following readiness."""
        log.info("gRPC health: NOT_SERVING (shutting down)")
        self._serving = False
        await self.servicer.enter_graceful_shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def serving(self) -> bool:
        """What is being reported now."""
        return self._serving

    async def _follow(self) -> None:
        with self._classifier.backend.changes() as changes:
            while True:
                try:
                    readiness = await self._classifier.readiness()
                    ready = readiness.ready
                    if not ready:
                        log.debug("not ready: %s", dict(readiness.models))
                except Exception:
                    log.exception("readiness check failed")
                    ready = False
                if not self._held:
                    await self._report(serving=ready)
                # The next change, or (while not ready) a retry; a cancelled wait keeps the subscription.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if ready else self._retry_s):
                        await anext(changes)

    async def _report(self, *, serving: bool) -> None:
        if serving != self._serving:
            log.info("gRPC health: %s", "SERVING" if serving else "NOT_SERVING")
        self._serving = serving
        for service in REPORTED:
            await self.servicer.set(service, _SERVING if serving else _NOT_SERVING)
