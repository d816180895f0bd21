"""Gateway settings, read once from the environment (prefix ``CLASSIFIER_``) and passed down.

Nested values use ``__``: ``CLASSIFIER_LIMITS__MAX_BODY_BYTES=1000000``. Dict and list settings take
JSON: ``CLASSIFIER_VERSION_LABELS='{"digits": {"stable": 1, "canary": 2}}'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.limits import InputLimits


class RequestLimits(InputLimits):
    """Bounds enforced before expensive work: the body and instance count here, the feature limits and
    per-request budgets (pixels, samples, characters) with their defaults in ``features.limits``."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Bytes of one request body.")
    max_instances: int = Field(default=64, gt=0, description="Instances in one classify request.")

    def input_limits(self) -> InputLimits:
        """The feature package's part, as its own type."""
        return InputLimits.model_validate(self.model_dump(include=set(InputLimits.model_fields)))


class BatchingSettings(BaseModel):
    """Dynamic micro-batching per model version (embedded backend)."""

    max_batch_size: int = Field(default=32, gt=0, description="Most rows in one model call.")
    batch_timeout_ms: float = Field(
        default=2.0, ge=0, description="How long a partial batch waits for more rows before it runs."
    )
    max_queued_rows: int = Field(
        default=2048, gt=0, description="Rows waiting per version before requests are refused with 429."
    )
    eager_when_idle: bool = Field(
        default=True,
        description="Apply the batch window only while another call of the version runs; an idle model takes a"
        " request at once (saves up to batch_timeout_ms at low load; under load, rows still queue behind the"
        " running call and go as one batch). False: every batch waits the window, as TF Serving does.",
    )


class Settings(BaseSettings):
    """Everything the gateway can be told; tests build ``Settings(...)`` directly."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", env_nested_delimiter="__", extra="ignore")

    models_dir: Path = Field(default=Path("models"), description="Model repository: NAME/VERSION/.")
    backend: Literal["embedded", "tfserving"] = Field(
        default="embedded", description="Where models run: in this process, or in TensorFlow Serving."
    )
    models: list[str] | None = Field(
        default=None, description="Models to serve and wait for in /readyz; None: every model found."
    )

    host: str = Field(default="127.0.0.1", description="REST bind address.")
    port: int = Field(default=8000, ge=0, le=65535, description="REST port.")
    grpc_enabled: bool = Field(default=True, description="Serve gRPC beside REST.")
    grpc_host: str = Field(default="127.0.0.1", description="gRPC bind address.")
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="gRPC port.")
    grpc_max_message_bytes: int = Field(default=32 * 1024 * 1024, gt=0, description="gRPC message limit.")

    version_policy: Literal["latest", "all", "specific"] = Field(
        default="latest", description="Which versions to serve per model (TF Serving's model_version_policy)."
    )
    latest_versions: int = Field(default=1, ge=1, description="With policy 'latest': how many newest versions.")
    specific_versions: dict[str, list[int]] = Field(
        default_factory=dict, description="With policy 'specific': versions to serve, per model."
    )
    version_labels: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Per model, label -> version, e.g. stable and canary."
    )
    poll_interval_s: float = Field(default=2.0, gt=0, description="How often the model repository is scanned.")

    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    limits: RequestLimits = Field(default_factory=RequestLimits)
    preprocess_threads: int = Field(default=4, gt=0, description="Threads decoding and preprocessing inputs.")
    inference_threads: int = Field(default=2, gt=0, description="Threads running model calls (embedded).")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Deadline when the caller sets none.")
    default_top_k: int = Field(default=5, ge=1, description="top_k when the request names none.")

    tfserving_target: str = Field(
        default="localhost:8500", description="TF Serving gRPC target; dns:///host:port balances replicas."
    )
    tfserving_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of a TF Serving call.")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
