"""Prometheus metrics of the gateway, on a registry per app so tests can build several apps.

Latency per stage (decode, preprocess, backend, total) labelled by model, version, surface and status;
batch sizes of model calls; counts of predicted classes; admission gauges (requests running and queued
per model, input bytes in flight) and refusals, which autoscalers read.

With worker processes (``service.workers``) the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before any
worker imports prometheus_client, so every instrument writes its values to per-process files there, and
``/metrics`` on any worker renders all of them merged (prometheus_client's multiprocess mode): counters and
histograms summed over the workers (dead ones included, so totals never go back), gauges as the live
workers' sum (requests, bytes) or minimum (readiness), per each gauge's ``multiprocess_mode``; the drift
windows' shares and scores are computed from the live workers' summed window counts
(``service.observability.prediction_metrics.WorkerWindows``).
"""

from __future__ import annotations

import os
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector

from service.observability.prediction_metrics import WorkerWindows

#: Set (by the supervisor) to the directory where worker processes write their metric values.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

M = TypeVar("M", bound=MetricWrapperBase)


class LabelCache(Generic[M]):
    """A metric's children by label values, looked up once: ``metric.labels(...)`` takes a lock and
    validates every value on each call, a few microseconds that every request paid several times.
    Children are never removed here, so the cache holds what the metric itself holds."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        """The child for ``values`` (in the metric's label order)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class Metrics:
    """The gateway's instruments; one instance per app, passed to whatever records."""

    #: The model label of requests that named no known model, so made-up names cannot grow the series.
    UNKNOWN_MODEL = "_unknown"

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        #: Whether values go to the worker processes' shared files (``PROMETHEUS_MULTIPROC_DIR`` set).
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_ENV))
        self._known_models: set[str] = set()
        self.stage_seconds = Histogram(
            "classifier_stage_seconds",
            "Time spent per request stage.",
            ["stage", "model", "version", "surface", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "classifier_batch_size",
            "Rows per model call, after dynamic batching.",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "classifier_predictions",
            "Predicted classes (top-1), per model and version.",
            ["model", "version", "label"],
            registry=self.registry,
        )

        self.inflight = Gauge(
            "classifier_inflight_requests",
            "Classify requests holding an admission slot (decoding or predicting), per model.",
            ["model"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.queued = Gauge(
            "classifier_queued_requests",
            "Classify requests waiting for an admission slot, per model.",
            ["model"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.inflight_bytes = Gauge(
            "classifier_inflight_input_bytes",
            "Input bytes (request bodies, gRPC messages) of requests in flight, process-wide.",
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        self.refused = Counter(
            "classifier_refused",
            "Requests refused by admission (429), per model and reason.",
            ["model", "reason"],
            registry=self.registry,
        )
        self._stage = LabelCache(self.stage_seconds)
        self._batch = LabelCache(self.batch_size)
        self._predictions = LabelCache(self.predictions)
        self._inflight = LabelCache(self.inflight)
        self._queued = LabelCache(self.queued)

    def set_inflight(self, model: str, running: int) -> None:
        """Requests of ``model`` holding a slot now."""
        self._inflight(model).set(running)

    def set_queued(self, model: str, waiting: int) -> None:
        """Requests of ``model`` waiting for a slot now."""
        self._queued(model).set(waiting)

    def count_refused(self, model: str, reason: str) -> None:
        """One request refused by admission."""
        self.refused.labels(model if model in self._known_models else self.UNKNOWN_MODEL, reason).inc()

    def observe_stage(
        self, stage: str, seconds: float, *, model: str, version: int | None, surface: str, status: str
    ) -> None:
        """Record one stage's duration; ``version`` is None when it was not yet resolved."""
        model = model if model in self._known_models else self.UNKNOWN_MODEL
        self._stage(stage, model, "" if version is None else str(version), surface, status).observe(seconds)

    def know_model(self, name: str) -> None:
        """Label series with ``name`` from now on: the backend has confirmed the model exists."""
        self._known_models.add(name)

    def observe_batch(self, model: str, version: int, rows: int) -> None:
        """Record the size of one model call."""
        self._batch(model, str(version)).observe(rows)

    def count_prediction(self, model: str, version: int, label: str) -> None:
        """Count one top-1 prediction."""
        self._predictions(model, str(version), label).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format; with worker processes, every worker's values merged."""
        directory = os.environ.get(MULTIPROCESS_ENV)
        if directory:
            merged = CollectorRegistry()
            files = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
            merged.register(WorkerWindows(files))
            return generate_latest(merged)
        return generate_latest(self.registry)
