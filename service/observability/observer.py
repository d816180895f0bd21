"""``ClassificationObserver``: the one hook the classify core calls after each answered request.

Everything that watches answers (confidence and drift metrics, the prediction log) is fed from here, so
every surface that goes through the core (REST, gRPC, any later one) is observed the same way.

The prediction log runs only when ``prediction_log.path`` is set; its counters exist either way.
"""

from __future__ import annotations

import time

import numpy as np

from features.spec import ModelSpec
from service.core.readiness import Readiness
from service.core.schemas import ClassifyCall, ClassifyResponse
from service.metrics import Metrics
from service.observability.prediction_log import LoggedRequest, PredictionLog, PredictionLogMetrics, worker_log_path
from service.observability.prediction_metrics import PredictionMetrics
from service.observability.request_ids import current_request_id
from service.observability.request_metrics import RequestMetrics
from service.settings import Settings


class ClassificationObserver:
    """Records each answered request; cheap and non-blocking (it runs on the event loop)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        monitoring = settings.monitoring
        self._predictions = PredictionMetrics.of(
            metrics.registry, window=monitoring.drift_window, shared=metrics.multiprocess
        )
        self._default_threshold = monitoring.low_confidence_threshold
        self._requests = RequestMetrics.of(metrics.registry)
        log_metrics = PredictionLogMetrics.of(metrics.registry)
        log_settings = settings.prediction_log
        if log_settings.path is not None:
            # One writer per file: each worker process appends to a file of its own.
            path = worker_log_path(log_settings.path, settings.worker_id)
            log_settings = log_settings.model_copy(update={"path": path})
        self._log = PredictionLog(log_settings, log_metrics) if log_settings.path else None

    def classified(
        self,
        call: ClassifyCall,
        version: int,
        spec: ModelSpec,
        probabilities: np.ndarray,
        response: ClassifyResponse,
        seconds: float,
    ) -> None:
        """One request was answered by ``version`` with these ``[rows, labels]`` probabilities."""
        # A version may carry its own threshold (an optional ``min_confidence`` in its spec).
        threshold = getattr(spec, "min_confidence", None)
        if threshold is None:
            threshold = self._default_threshold
        self._predictions.record(call.model, version, spec, probabilities, float(threshold))
        if self._log is not None and self._log.sampled():
            self._log.submit(
                LoggedRequest(
                    time=time.time(),
                    request_id=current_request_id(),
                    model=call.model,
                    version=version,
                    spec_hash=spec.content_hash,
                    surface=call.surface,
                    latency_s=seconds,
                    inputs=call.inputs,
                    top_k=[[(s.label, s.score) for s in p.top_k] for p in response.predictions],
                )
            )

    def readiness_checked(self, readiness: Readiness) -> None:
        """A readiness check ended: per model, ready or why not."""
        self._requests.readiness(readiness)

    def close(self) -> None:
        """Flush and stop whatever runs beside the requests."""
        if self._log is not None:
            self._log.close()
