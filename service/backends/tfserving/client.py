"""The gRPC client of TF Serving: a ``grpc.aio`` channel, deadlines, bounded retries, error mapping.

Calls TF Serving's own method paths with this project's wire messages (``service.tfserving_wire``), so
nothing here imports TensorFlow. Every call has a deadline; only UNAVAILABLE is retried (the request never
reached a model: connection refused, server restarting), a few times with jittered exponential backoff and
never past the deadline, by the same ``RetryPolicy`` the Python client uses; each attempt takes the current
channel (``replicas.ReplicaChannels`` follows the replica set behind a ``dns:`` target), whose round robin
sends a retry to another ready replica. gRPC status codes become ``service.errors`` types in one table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import TypeVar, cast

import grpc
from classifier_client.retry import RetryPolicy
from google.protobuf.message import Message
from opentelemetry.trace import SpanKind

from service.backends.tfserving.replicas import ReplicaChannels
from service.errors import (
    BackendUnavailable,
    DeadlineExceeded,
    InternalError,
    InvalidInput,
    ModelNotFound,
    Overloaded,
    ServiceError,
    VersionNotFound,
)
from service.observability import tracing
from service.settings import Settings
from service.tfserving_wire import GET_MODEL_STATUS_METHOD, PREDICT_METHOD
from service.tfserving_wire.get_model_status_pb2 import GetModelStatusRequest, GetModelStatusResponse
from service.tfserving_wire.model_pb2 import ModelSpec as ServableSpec  # which servable; not features' ModelSpec
from service.tfserving_wire.predict_pb2 import PredictRequest, PredictResponse

log = logging.getLogger(__name__)
ResponseT = TypeVar("ResponseT", bound=Message)

#: Attempts of one call when TF Serving answers UNAVAILABLE, and the backoff between them.
RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2)

#: At most one warning per this many seconds about calls that failed UNAVAILABLE (the others: debug).
UNAVAILABLE_LOG_INTERVAL_S = 10.0

#: gRPC status of a TF Serving answer -> the gateway's error (NOT_FOUND depends on whether a version was pinned).
_ERROR_OF_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    grpc.StatusCode.UNAVAILABLE: BackendUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
}


def channel_options(settings: Settings) -> list[tuple[str, str | int]]:
    """Options of the channel to TF Serving: message limits, quick reconnects, round robin over replicas."""
    options: list[tuple[str, str | int]] = [
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        # A restarted TF Serving should be found again within about a second, not after minutes of backoff.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.enable_retries", 0),  # retries are ours, bounded and visible, not the channel's
    ]
    if settings.tfserving_target.startswith(("dns:", "ipv4:", "ipv6:")):
        # A name or address list that may stand for several replicas: spread calls over all of them.
        options.append(("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})))
    return options


class TFServingClient:
    """Predict and GetModelStatus over reused channels; raises ``service.errors`` types only."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channels: ReplicaChannels | None = None
        self._unavailable_logged_at = -UNAVAILABLE_LOG_INTERVAL_S
        self._unavailable_unlogged = 0

    def _log_unavailable(self, method: str, details: str) -> None:
        # While TF Serving is down every call and status poll fails: one warning per interval, with the
        # count of the others, instead of a line per call (hundreds a second under load).
        now = time.monotonic()
        if now - self._unavailable_logged_at < UNAVAILABLE_LOG_INTERVAL_S:
            self._unavailable_unlogged += 1
            log.debug("TF Serving call %s: UNAVAILABLE: %s", method, details)
            return
        more = f" ({self._unavailable_unlogged} more UNAVAILABLE calls since the last warning)"
        log.warning(
            "TF Serving call %s: UNAVAILABLE: %s%s", method, details, more if self._unavailable_unlogged else ""
        )
        self._unavailable_logged_at, self._unavailable_unlogged = now, 0

    def open(self) -> None:
        """Create the channel (connects lazily, on the first call); call inside the event loop."""
        if self._channels is None:
            settings = self._settings
            credentials = None
            if settings.tfserving_tls or settings.tfserving_root_cert_file is not None:
                roots = settings.tfserving_root_cert_file
                credentials = grpc.ssl_channel_credentials(None if roots is None else roots.read_bytes())
            self._channels = ReplicaChannels(
                settings.tfserving_target,
                channel_options(settings),
                resolve_interval_s=settings.tfserving_resolve_interval_s,
                close_grace_s=settings.tfserving_timeout_s,
                credentials=credentials,
            )
            self._channels.start()

    async def close(self, grace: float | None = None) -> None:
        """Close the channel; calls in flight get ``grace`` seconds to finish."""
        if self._channels is not None:
            channels, self._channels = self._channels, None
            await channels.close(grace)

    async def predict(self, request: PredictRequest, *, timeout: float | None) -> PredictResponse:
        """One Predict call; ``timeout`` is what is left of the caller's deadline (None: no deadline)."""
        with tracing.span("TF Serving Predict", SpanKind.CLIENT) as span:
            if span is not None:
                span.set_attributes(
                    {
                        "rpc.system": "grpc",
                        "rpc.method": PREDICT_METHOD,
                        "classifier.model": request.model_spec.name,
                        "classifier.version": request.model_spec.version.value,
                    }
                )
            return await self._call(PREDICT_METHOD, request, PredictResponse.FromString, timeout, request.model_spec)

    async def get_model_status(self, request: GetModelStatusRequest, *, timeout: float) -> GetModelStatusResponse:
        """One GetModelStatus call."""
        return await self._call(
            GET_MODEL_STATUS_METHOD, request, GetModelStatusResponse.FromString, timeout, request.model_spec
        )

    async def _call(
        self,
        method: str,
        request: Message,
        parse: Callable[[bytes], ResponseT],
        timeout: float | None,
        model_spec: ServableSpec,
    ) -> ResponseT:
        if self._channels is None:
            raise BackendUnavailable("the TF Serving client is closed")
        channels = self._channels
        budget = self._settings.tfserving_timeout_s
        if timeout is not None:
            budget = min(budget, timeout)
        attempts = RETRY.attempts(budget)
        while True:
            # The current channel at each attempt: a retry goes to the replicas known now.
            call = channels.current.unary_unary(method, request_serializer=_serialize, response_deserializer=parse)
            try:
                # The trace goes on inside TF Serving (or whatever serves its API) when it reads traceparent.
                return await call(  # type: ignore[no-any-return]
                    request, timeout=attempts.left(), metadata=tracing.outgoing_metadata()
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.UNAVAILABLE:
                    channels.wake()  # a replica went away: look the name up again now
                pause = attempts.pause_after(exc.code())
                if pause is None:
                    if exc.code() is grpc.StatusCode.UNAVAILABLE:
                        self._log_unavailable(method, exc.details() or "")
                    raise _translate(exc, method, model_spec) from exc
                log.debug("TF Serving unavailable (%s); retrying in %.3fs", exc.details(), pause)
                await asyncio.sleep(pause)


def _serialize(message: Message) -> bytes:
    return cast(bytes, message.SerializeToString())


def _translate(exc: grpc.aio.AioRpcError, method: str, model_spec: ServableSpec) -> ServiceError:
    """The gateway's error for a failed TF Serving call. TF Serving's details (addresses, file paths,
    library messages) go to the log only; the public detail names the model and the kind of failure."""
    code, details, name = exc.code(), exc.details() or "", model_spec.name
    if code is grpc.StatusCode.NOT_FOUND:
        log.debug("TF Serving call %s: NOT_FOUND: %s", method, details)
        if model_spec.HasField("version"):
            version = model_spec.version.value
            return VersionNotFound(f"TF Serving does not serve version {version} of model '{name}'")
        return ModelNotFound(f"TF Serving does not serve model '{name}'")
    error = _ERROR_OF_CODE.get(code)
    if error is BackendUnavailable:  # logged by the caller, throttled: an outage fails every call
        return BackendUnavailable("the model backend (TF Serving) is unavailable; retry later")
    if error is not None:
        log.info("TF Serving call %s: %s: %s", method, code.name, details)
        return error(f"TF Serving refused the call for model '{name}' ({code.name})")
    log.error("TF Serving call %s failed with %s: %s", method, code.name, details)
    return InternalError(f"TF Serving failed with {code.name}")
