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


class RequestLimits(BaseModel):
    """Bounds enforced before expensive work."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Bytes of one request body.")
    max_instances: int = Field(default=64, gt=0, description="Instances in one classify request.")
    max_image_pixels: int = Field(default=40_000_000, gt=0, description="Pixels of one decoded image.")
    max_audio_seconds: float = Field(default=30.0, gt=0, description="Seconds of one recording.")
    max_text_chars: int = Field(default=100_000, gt=0, description="Characters of one text.")

    def input_limits(self) -> InputLimits:
        """The per-input part, in the feature package's terms."""
        return InputLimits(
            max_image_pixels=self.max_image_pixels,
            max_audio_seconds=self.max_audio_seconds,
            max_text_chars=self.max_text_chars,
        )


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


class ConnectionLimits(BaseModel):
    """Bounds on connections, in size and time (REST: ``service.rest.connection_limits`` and
    ``service.rest.body_guard``; gRPC: server options in ``service.grpc.server``)."""

    max_header_bytes: int = Field(default=32 * 1024, gt=0, description="Bytes of one request's headers; 431.")
    max_headers: int = Field(default=100, gt=0, description="Header lines of one request; 431.")
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time for a request's headers, from its first byte (or the connection)."
    )
    body_timeout_s: float = Field(default=30.0, gt=0, description="Time to receive a whole request body; 408.")
    body_idle_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest pause between two parts of a request body; 408."
    )
    shutdown_body_grace_s: float = Field(
        default=2.0, ge=0, description="On shutdown: time left to bodies still arriving before they get 503."
    )
    keep_alive_s: float = Field(default=5.0, gt=0, description="Idle time before a keep-alive connection is closed.")
    max_connections: int = Field(
        default=2048, gt=0, description="Open REST connections (and requests) before new requests get 503."
    )
    grpc_max_concurrent_streams: int = Field(default=128, gt=0, description="Concurrent gRPC calls per connection.")
    grpc_max_metadata_bytes: int = Field(default=16 * 1024, gt=0, description="Bytes of a gRPC call's metadata.")
    grpc_keepalive_s: float = Field(
        default=60.0, gt=0, description="Interval of the gRPC server's keepalive pings on idle connections."
    )
    grpc_keepalive_timeout_s: float = Field(
        default=20.0, gt=0, description="A connection that does not answer a keepalive ping in this time is closed."
    )


class AdmissionSettings(BaseModel):
    """Admission before decoding: bounded queues per model, refusal when the wait would be too long,
    and a process-wide budget of request bytes (``service.core.admission``)."""

    latency_target_s: float = Field(
        default=2.0,
        gt=0,
        description="Refuse (429) a request whose expected queue wait plus service time passes this, or its"
        " own deadline if sooner. Expected wait = measured service time x requests ahead / parallel slots.",
    )
    max_concurrent_per_model: int = Field(
        default=64, gt=0, description="Requests of one model decoding or predicting at once (the rest queue)."
    )
    max_queued_per_model: int = Field(
        default=256, ge=0, description="Requests of one model waiting for a slot; past it: 429 at once."
    )
    max_inflight_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Input bytes (raw bodies and messages) of all requests in flight; past it: 429.",
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After of a 429 from admission.")


class DecodingSettings(BaseModel):
    """Where inputs are decoded (``service.core.decoding``): small ones in threads, heavy ones in worker
    processes that a deadline can kill, each model with its own share of them."""

    heavy_input_bytes: int = Field(
        default=256 * 1024,
        gt=0,
        description="Inputs of at least this many bytes (characters for text) decode in a worker process.",
    )
    processes: int = Field(default=2, ge=1, description="Worker processes for heavy decodes.")
    heavy_per_model: int = Field(
        default=1, ge=1, description="Heavy decodes of one model at once, so one model cannot take every worker."
    )
    trim_after_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description="After requests of this many input bytes have finished, return freed heap to the OS"
        " (glibc malloc_trim); 0: never.",
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
    connections: ConnectionLimits = Field(default_factory=ConnectionLimits)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    decoding: DecodingSettings = Field(default_factory=DecodingSettings)
    preprocess_threads: int = Field(default=4, gt=0, description="Threads decoding and preprocessing inputs.")
    inference_threads: int = Field(default=2, gt=0, description="Threads running model calls (embedded).")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Deadline when the caller sets none.")
    default_top_k: int = Field(default=5, ge=1, description="top_k when the request names none.")

    tfserving_target: str = Field(
        default="localhost:8500", description="TF Serving gRPC target; dns:///host:port balances replicas."
    )
    tfserving_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of a TF Serving call.")

    log_level: Literal["debug", "info", "warning", "error"] = "info"
