"""Helpers of the observability tests: gateway settings, classify bodies and scraped samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.settings import Settings


def observed_settings(models_dir: Path, **overrides: Any) -> Settings:
    """A test gateway: loopback, free ports, REST and gRPC, a quick repository poll."""
    values: dict[str, Any] = {
        "models_dir": models_dir,
        "host": "127.0.0.1",
        "port": 0,
        "grpc_enabled": True,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "poll_interval_s": 0.2,
        "preprocess_threads": 2,
        "inference_threads": 1,
    }
    values.update(overrides)
    return Settings(**values)


def text_body(*texts: str) -> dict[str, Any]:
    """A JSON classify body of text instances."""
    return {"instances": [{"text": text} for text in texts]}


def metric_samples(exposition: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample named ``name`` in a Prometheus text exposition, by its sorted labels."""
    found = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found
