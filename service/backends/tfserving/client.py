"""The gRPC client of TF Serving: one ``grpc.aio`` channel, deadlines, bounded retries, error mapping.

Calls TF Serving's own method paths with this project's wire messages (``service.tfserving_wire``), so
nothing here imports TensorFlow. Every call has a deadline; only UNAVAILABLE is retried (the request never
reached a model: connection refused, server restarting), a few times with jittered exponential backoff and
never past the deadline. gRPC status codes become ``service.errors`` types in one table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar, cast

import grpc
from google.protobuf.message import Message

from service.errors import (
    BackendUnavailable,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    Overloaded,
    ServiceError,
    VersionNotFound,
)
from service.settings import Settings
from service.tfserving_wire import GET_MODEL_STATUS_METHOD, PREDICT_METHOD
from service.tfserving_wire.get_model_status_pb2 import GetModelStatusRequest, GetModelStatusResponse
from service.tfserving_wire.model_pb2 import ModelSpec
from service.tfserving_wire.predict_pb2 import PredictRequest, PredictResponse

log = logging.getLogger(__name__)
ResponseT = TypeVar("ResponseT", bound=Message)

#: Attempts of one call when TF Serving answers UNAVAILABLE, and the first backoff between them.
MAX_ATTEMPTS = 3
FIRST_BACKOFF_S = 0.05

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
    """Predict and GetModelStatus over one reused channel; raises ``service.errors`` types only."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        """Create the channel (connects lazily, on the first call)."""
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self._settings.tfserving_target, options=channel_options(self._settings)
            )

    async def close(self, grace: float | None = None) -> None:
        """Close the channel; calls in flight get ``grace`` seconds to finish."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(grace)

    async def predict(self, request: PredictRequest, *, timeout: float | None) -> PredictResponse:
        """One Predict call; ``timeout`` is what is left of the caller's deadline (None: no deadline)."""
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
        model_spec: ModelSpec,
    ) -> ResponseT:
        if self._channel is None:
            raise BackendUnavailable("the TF Serving client is closed")
        budget = self._settings.tfserving_timeout_s
        if timeout is not None:
            budget = min(budget, timeout)
        deadline = time.monotonic() + budget
        call = self._channel.unary_unary(method, request_serializer=_serialize, response_deserializer=parse)
        backoff = FIRST_BACKOFF_S
        for attempt in range(1, MAX_ATTEMPTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(f"no answer from TF Serving within {budget:.3g}s")
            try:
                return await call(request, timeout=left)  # type: ignore[no-any-return]
            except grpc.aio.AioRpcError as exc:
                pause = backoff * random.uniform(0.5, 1.5)
                retry = attempt < MAX_ATTEMPTS and time.monotonic() + pause < deadline
                if exc.code() is grpc.StatusCode.UNAVAILABLE and retry:
                    log.debug("TF Serving unavailable (%s), attempt %d; retrying", exc.details(), attempt)
                    await asyncio.sleep(pause)
                    backoff *= 2
                    continue
                raise _translate(exc, method, model_spec) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _serialize(message: Message) -> bytes:
    return cast(bytes, message.SerializeToString())


def _translate(exc: grpc.aio.AioRpcError, method: str, model_spec: ModelSpec) -> ServiceError:
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
    if error is BackendUnavailable:
        log.warning("TF Serving call %s: UNAVAILABLE: %s", method, details)
        return BackendUnavailable("the model backend (TF Serving) is unavailable; retry later")
    if error is not None:
        log.info("TF Serving call %s: %s: %s", method, code.name, details)
        return error(f"TF Serving refused the call for model '{name}' ({code.name})")
    log.error("TF Serving call %s failed with %s: %s", method, code.name, details)
    return ServiceError(f"TF Serving failed with {code.name}")
