"""Helpers of the observability tests: gateway settings and classify bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
