"""Answers per surface and status code, and per-model readiness, as Prometheus series.

- ``classifier_requests_total{surface, code}``: every answered request; ``code`` is the HTTP status on REST
  (``200``, ``429``, ``503`` ...) and the status code name on gRPC (``OK``, ``RESOURCE_EXHAUSTED`` ...), so
  one series family gives the 5xx and 429 ratios of both surfaces.
- ``classifier_model_ready{model}``: 1 when the model passed the readiness self-check at the last check
  (``/readyz`` or the gRPC health poll), else 0.
"""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge

from service.core.readiness import READY, Readiness

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, RequestMetrics] = weakref.WeakKeyDictionary()


class RequestMetrics:
    """The instruments above, once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._requests = Counter(
            "classifier_requests",
            "Answered requests per surface and status code (HTTP status or gRPC code name).",
            ["surface", "code"],
            registry=registry,
        )
        self._ready = Gauge(
            "classifier_model_ready",
            "1 when the model passed the readiness self-check at the last check, else 0.",
            ["model"],
            registry=registry,
            multiprocess_mode="livemin",  # with workers: 1 only while every live worker is ready
        )
        # Children bound once: the per-request cost is one dict hit and one increment.
        self._children: dict[tuple[str, str], Counter] = {}

    @classmethod
    def of(cls, registry: CollectorRegistry) -> RequestMetrics:
        """The instance of ``registry``."""
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = cls(registry)
        return found

    def count(self, surface: str, code: str) -> None:
        """Count one answered request."""
        child = self._children.get((surface, code))
        if child is None:
            child = self._children[(surface, code)] = self._requests.labels(surface, code)
        child.inc()

    def readiness(self, readiness: Readiness) -> None:
        """Record a readiness report: per model, 1 when ready, else 0."""
        for model, state in readiness.models.items():
            self._ready.labels(model).set(1 if state == READY else 0)
