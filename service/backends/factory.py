"""Builds the backend that settings name; imports only the chosen one (TF Serving mode never loads TensorFlow)."""

from __future__ import annotations

from service.backends.base import ModelBackend
from service.metrics import Metrics
from service.settings import Settings


def create_backend(settings: Settings, metrics: Metrics) -> ModelBackend:
    """The embedded TensorFlow runtime or the TF Serving client, as ``settings.backend`` says."""
    if settings.backend == "tfserving":
        from service.backends.tfserving import TFServingBackend

        return TFServingBackend(settings, metrics)
    from service.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(settings, metrics)
