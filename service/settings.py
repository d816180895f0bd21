"""Gateway settings, read once from the environment (prefix ``CLASSIFIER_``) and passed down.

Nested values use ``__``: ``CLASSIFIER_LIMITS__MAX_BODY_BYTES=1000000``. Dict and list settings take
JSON: ``CLASSIFIER_VERSION_LABELS='{"digits": {"stable": 1, "canary": 2}}'``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.limits import InputLimits

#: Seconds a stopping surface allows beyond the request deadline for the answer to be sent.
SHUTDOWN_SLACK_S = 5


class RequestLimits(InputLimits):
    """Bounds enforced before expensive work: the body and instance count here, the feature limits and
    per-request budgets (pixels, samples, characters) with their defaults in ``features.limits``."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="Bytes of one request body.")
    max_instances: int = Field(default=64, gt=0, description="Instances in one classify request.")

    def input_limits(self) -> InputLimits:
        """The feature package's part, as its own type."""
        return InputLimits.model_validate(self.model_dump(include=set(InputLimits.model_fields)))


class BatchingSettings(BaseModel):
    """Dynamic micro-batching per model version (embedded backend: model calls; TF Serving mode: Predict RPCs)."""

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
    inline_call_ms: float = Field(
        default=1.0,
        ge=0,
        description="Embedded backend: a request alone (no other of its model in flight, nothing else ready on the"
        " event loop) runs the model on the event loop, without a thread hand-off, when the version is idle and"
        " its last model call took at most this long (the loop is held that long); 0: never.",
    )


class MonitoringSettings(BaseModel):
    """Confidence and drift metrics per model version (``service.observability.prediction_metrics``)."""

    drift_window: int = Field(
        default=1000, gt=0, le=1_000_000, description="Predictions per version in the class-share window."
    )
    low_confidence_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Top-1 probability under which an answer counts as low-confidence, for versions whose spec"
        " sets no min_confidence of its own.",
    )


class PredictionLogSettings(BaseModel):
    """The JSON-lines log of answered predictions (``service.observability.prediction_log``); off without a path."""

    path: Path | None = Field(default=None, description="The log file; rotated files get .1, .2 ... None: off.")
    sample_rate: float = Field(default=1.0, ge=0, le=1, description="Share of requests logged (decided per request).")
    max_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Size at which the file is rotated.")
    backup_count: int = Field(default=5, ge=1, description="Rotated files kept; older ones are deleted.")
    queue_size: int = Field(
        default=1024, gt=0, description="Requests waiting for the writer thread; when full, records are dropped."
    )
    raw_inputs: bool = Field(default=False, description="Also store each raw input (text, or base64 of bytes).")
    raw_max_bytes: int = Field(
        default=256 * 1024, gt=0, description="Raw inputs larger than this are never stored (their hash still is)."
    )


class TracingSettings(BaseModel):
    """OpenTelemetry tracing (``service.observability.tracing``); exporter, sampler and service name come from
    the standard ``OTEL_*`` variables."""

    enabled: bool = Field(default=False, description="Make spans per request and export them over OTLP.")


class AuthSettings(BaseModel):
    """API keys (``service.auth``): off unless ``keys_file`` is set."""

    keys_file: Path | None = Field(
        default=None,
        description="Keys file written by `python -m service.keys`; set: every API call needs a key. Reloaded"
        " when it changes (checked every poll_interval_s), in every process.",
    )
    open_paths: list[str] = Field(
        default_factory=lambda: ["/healthz", "/readyz", "/metrics"],
        description="REST paths answered without a key (probes and scrapes); [] closes them too. The page"
        " at / with its assets and the OpenAPI document are always open: they carry no data.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Separate processes serving with the same keys file and no shared runtime directory: each"
        " enforces rate/workers (and burst/workers) per key, so a key's total stays within its limit. Workers of"
        " one gateway (CLASSIFIER_WORKERS) share each key's bucket instead and ignore this.",
    )


class TlsSettings(BaseModel):
    """TLS for REST and gRPC: off unless ``cert_file`` and ``key_file`` are set; reloaded when they change."""

    cert_file: Path | None = Field(default=None, description="PEM certificate chain of the server.")
    key_file: Path | None = Field(default=None, description="PEM private key of the server.")
    ca_file: Path | None = Field(
        default=None, description="PEM CA bundle; set: clients must present a certificate it signed (mutual TLS)."
    )

    @property
    def enabled(self) -> bool:
        """Whether the surfaces serve TLS."""
        return self.cert_file is not None and self.key_file is not None

    @model_validator(mode="after")
    def _complete(self) -> TlsSettings:
        # Half a configuration would silently serve plaintext; refuse it at start-up instead.
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: set both cert_file and key_file, or neither")
        if self.ca_file is not None and self.cert_file is None:
            raise ValueError("tls: ca_file (client certificates) needs cert_file and key_file")
        return self


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
        description="Refuse (429) a request whose expected answer passes a quarter of this, or its own deadline"
        " if sooner. Expected answer = requests in the model's lane, this one included / measured throughput.",
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
    max_loop_lag_s: float = Field(
        default=0.5,
        gt=0,
        description="Refuse (429) new requests while the event loop runs this many seconds late: requests are"
        " then queued before admission can see them, and refusing at once drains that backlog.",
    )
    headroom_lag_s: float = Field(
        default=0.01,
        gt=0,
        description="During an overload (the lanes refuse for expected wait), admit at a rate that keeps the event"
        " loop at most this late, refusing the rest (429, reason loop_headroom), so refusals stay fast"
        " (service.core.headroom).",
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After of a 429 from admission.")


class DecodingSettings(BaseModel):
    """Where inputs are decoded (``service.core.decoding``): short texts (and, for a request alone, small images
    and short audio) on the event loop, other small inputs in threads, heavy ones in worker processes that a
    deadline can kill, each model with its own share of them."""

    inline_text_chars: int = Field(
        default=16384,
        ge=0,
        description="Texts of at most this many characters are preprocessed on the event loop (about 2 ms at"
        " most), without a thread hand-off; 0: never.",
    )
    inline_image_pixels: int = Field(
        default=16384,
        ge=0,
        description="When a request is alone (no other of its model in flight, nothing else ready on the event"
        " loop), images whose headers state at most this many"
        " pixels (128 x 128) are decoded on the event loop (a 28 x 28 PNG: ~0.2 ms; a 128 x 128 JPEG: ~0.4 ms),"
        " without a thread hand-off; 0: never.",
    )
    inline_audio_samples: int = Field(
        default=0,
        ge=0,
        description="The same rule for audio: a header stating at most this many samples (frames x channels;"
        " 16000 is 1 s at 16 kHz, ~0.3 ms to decode). 0 (the default): never; unlike images, one-client latency"
        " was not shown better with 16000 on the bench machine.",
    )

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


class RolloutSettings(BaseModel):
    """Rollouts of a candidate version (``service.rollout``): weighted canary, shadow traffic, the gate.

    Off without ``path``. The state file is shared by every gateway process and replica; each process
    re-reads it every ``poll_interval_s`` and writes its own comparison counts beside it.
    """

    path: Path | None = Field(
        default=None,
        description="The rollout state file (JSON, written atomically) on a writable location every gateway"
        " shares; None: rollouts are off and the endpoints answer 404.",
    )
    seed: int | None = Field(
        default=None, description="Seed of the canary and shadow draws (tests); None: unpredictable."
    )
    shadow_max_concurrent: int = Field(
        default=2, ge=1, description="Shadow runs at once per process; a sampled request past it is shed."
    )
    shadow_timeout_s: float = Field(default=5.0, gt=0, description="Deadline of one shadow run.")
    counts_stale_s: float = Field(
        default=30.0,
        gt=0,
        description="A process's comparison counts file older than this is left out of the combined report"
        " (the process is gone).",
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

    workers: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        default=1,
        description="Gateway processes sharing the REST and gRPC ports (SO_REUSEPORT), each with its own event"
        " loop, under a supervisor (service.workers); 'auto': the cores this process may run on. 1: one process,"
        " no supervisor.",
    )
    worker_id: int | None = Field(
        default=None,
        ge=0,
        description="Set by the supervisor in each worker's environment (0..workers-1); None: not a worker.",
    )
    worker_restarts_per_minute: int = Field(
        default=5,
        ge=0,
        description="Unexpected worker deaths the supervisor restarts within a minute; one more stops the gateway.",
    )
    runtime_dir: Path | None = Field(
        default=None,
        description="Directory the supervisor shares with its workers (Prometheus multiprocess files, rate-limit"
        " buckets); set by the supervisor.",
    )

    host: str = Field(default="127.0.0.1", description="REST bind address.")
    port: int = Field(default=8000, ge=0, le=65535, description="REST port.")
    grpc_enabled: bool = Field(default=True, description="Serve gRPC beside REST.")
    grpc_host: str = Field(default="127.0.0.1", description="gRPC bind address.")
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="gRPC port.")
    grpc_max_message_bytes: int = Field(default=32 * 1024 * 1024, gt=0, description="gRPC message limit.")
    grpc_server: Literal["threads", "aio"] = Field(
        default="threads",
        description="gRPC server: 'threads' (grpc's thread-pool server handing each call to the event loop,"
        " service.grpc.threaded; more unary calls per model call) or 'aio' (grpc.aio on the event loop).",
    )
    grpc_threads: int = Field(
        default=64, gt=0, description="With grpc_server 'threads': pool threads, and calls taken at once."
    )

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
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    prediction_log: PredictionLogSettings = Field(default_factory=PredictionLogSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    connections: ConnectionLimits = Field(default_factory=ConnectionLimits)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    decoding: DecodingSettings = Field(default_factory=DecodingSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    preprocess_threads: int = Field(default=4, gt=0, description="Threads decoding and preprocessing inputs.")
    compute_thread_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Nice value of the preprocessing, model-call and model-loading threads, so that the event"
        " loop's thread (reading, refusing, answering) runs first on a busy core; 0 leaves them as they are.",
    )
    inference_threads: int = Field(default=2, gt=0, description="Threads running model calls (embedded).")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Deadline when the caller sets none.")
    default_top_k: int = Field(default=5, ge=1, description="top_k when the request names none.")

    tfserving_target: str = Field(
        default="localhost:8500", description="TF Serving gRPC target; dns:///host:port balances replicas."
    )
    tfserving_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of a TF Serving call.")
    tfserving_calls_per_version: int = Field(
        default=4,
        gt=0,
        description="Predict RPCs of one model version in flight at once; while all are busy, rows queue and the"
        " next RPC carries a fuller batch.",
    )
    tfserving_resolve_interval_s: float = Field(
        default=2.0,
        ge=0,
        description="How often a dns: target is looked up again, so added replicas get traffic and removed ones"
        " none (0: only when gRPC's resolver decides to, after a connection fails).",
    )

    tfserving_tls: bool = Field(default=False, description="Call TF Serving over TLS (system roots by default).")
    tfserving_root_cert_file: Path | None = Field(
        default=None, description="PEM roots that TF Serving's certificate must chain to (implies TLS)."
    )

    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed to call the API cross-origin; [] (default): none."
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def worker_count(self) -> int:
        """Gateway processes to run: ``workers``, with 'auto' resolved to the usable cores."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.workers

    @property
    def shutdown_grace_s(self) -> int:
        """How long a stopping surface waits for in-flight requests: at most their deadline, plus slack
        for the answer to be written."""
        return math.ceil(self.request_timeout_s) + SHUTDOWN_SLACK_S

    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or one JSON object per line (with the request id)."
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        # asyncio by default: under overload uvloop accepted about one new connection per loop turn, so
        # thousands of connected clients sat unread in the kernel's accept queue for 10-15 s while admission
        # saw nothing (RELIABILITY.md, overload); asyncio accepts every waiting connection at once. The
        # bench showed no throughput difference between the two.
        default="asyncio",
        description="The event loop of `python -m service`: asyncio (the standard library's, the default) or"
        " uvloop (auto: uvloop when installed). uvloop accepts new connections too slowly under overload.",
    )
