"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (every model classified a real
sample), ``/metrics`` (Prometheus text).

With worker processes, each probe is answered by whichever worker the kernel gave the connection, for
itself (its own models, its own event loop), and says which in the ``X-Classifier-Worker`` header.
"""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.responses import Response

from service.core.classifier import Classifier
from service.metrics import Metrics

#: Response header of /healthz and /readyz naming the worker process that answered (worker mode only).
WORKER_HEADER = "X-Classifier-Worker"


class Liveness(BaseModel):
    """The process is up and its event loop answers."""

    status: str = "ok"


class Readiness(BaseModel):
    """Whether every expected model can classify now, and per model why not."""

    ready: bool
    models: dict[str, str] = Field(description="Per model: 'ready', or the reason it is not.")
    notes: dict[str, str] | None = Field(
        default=None, description="Conditions an operator must see that do not stop serving (e.g. 'rollout')."
    )


def health_router(classifier: Classifier, metrics: Metrics) -> APIRouter:
    """Liveness, readiness and metrics routes."""
    router = APIRouter(tags=["operations"])
    worker = classifier.settings.worker_id
    worker_header = {} if worker is None else {WORKER_HEADER: str(worker)}

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz(response: Response) -> Liveness:
        response.headers.update(worker_header)
        return Liveness()

    @router.get(
        "/readyz",
        summary="Readiness: every expected model has classified a real sample",
        response_class=Response,
        responses={
            200: {"model": Readiness, "description": "Every expected model is ready."},
            503: {"model": Readiness, "description": "Some model is not ready; the report says why."},
        },
    )
    async def readyz() -> Response:
        readiness = await classifier.readiness()
        body = Readiness(ready=readiness.ready, models=dict(readiness.models), notes=dict(readiness.notes) or None)
        status = 200 if readiness.ready else 503
        return Response(
            body.model_dump_json(exclude_none=True),
            status_code=status,
            media_type="application/json",
            headers=worker_header,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
