"""``ClassificationObserver``: the one hook the classify core calls after each answered request.

Everything that watches answers (confidence and drift metrics, the prediction log) is fed from here, so
every surface that goes through the core (REST, gRPC, any later one) is observed the same way.
"""

from __future__ import annotations

import numpy as np

from features.spec import ModelSpec
from service.core.schemas import ClassifyCall, ClassifyResponse
from service.metrics import Metrics
from service.observability.prediction_metrics import PredictionMetrics
from service.settings import Settings


class ClassificationObserver:
    """Records each answered request; cheap and non-blocking (it runs on the event loop)."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        monitoring = settings.monitoring
        self._predictions = PredictionMetrics.of(metrics.registry, window=monitoring.drift_window)
        self._default_threshold = monitoring.low_confidence_threshold

    def classified(
        self,
        call: ClassifyCall,
        version: int,
        spec: ModelSpec,
        probabilities: np.ndarray,
        response: ClassifyResponse,  # noqa: ARG002  (the prediction log reads it)
        seconds: float,  # noqa: ARG002
    ) -> None:
        """One request was answered by ``version`` with these ``[rows, labels]`` probabilities."""
        # A version may carry its own threshold (an optional ``min_confidence`` in its spec).
        threshold = getattr(spec, "min_confidence", None)
        if threshold is None:
            threshold = self._default_threshold
        self._predictions.record(call.model, version, spec, probabilities, float(threshold))

    def close(self) -> None:
        """Flush and stop whatever runs beside the requests."""
