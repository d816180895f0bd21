"""The TF Serving backend: models run in TensorFlow Serving, reached over gRPC; no TensorFlow in this process.

- Model names: TF Serving has no "list models" RPC, so the names come from ``settings.models``; if unset,
  from the TF Serving model config file ``models_dir/models.config`` (``service.tfserving_config``) when
  it is readable; else from the ``NAME/VERSION/`` folders of ``models_dir``. They are re-read on each poll.
- Status: ``ModelService.GetModelStatus`` per model, refreshed in the background every
  ``poll_interval_s`` (every 0.5 s at most while TF Serving is unreachable, so recovery is quick), so the
  per-request ``model_status`` and ``list_models`` are in-memory reads. While TF Serving is unreachable
  both raise BackendUnavailable (503; readiness turns false).
- Spec: ``Predict`` on the ``spec`` signature (``probe`` int32 ``[1]`` -> ``spec_json``), once per
  (model, version), cached; concurrent first requests share one call.
- Predict: rows of concurrent requests for one version are coalesced by the shared batching core
  (``service.backends.batching``, the embedded batcher's rule: eager when idle, a window while an RPC of
  the version runs, deadlines expire in the queue, answers split back in order), so the gateway pays one
  RPC per batch, at most ``tfserving_calls_per_version`` at once. A batch holds at most
  ``settings.batching.max_batch_size`` rows (TF Serving refuses larger batches than its own
  ``max_batch_size``). Pinned to the version (``model_spec.version``), inputs as raw ``tensor_content``
  bytes; the answer must name the version asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

import numpy as np
from google.protobuf import text_format
from pydantic import ValidationError

from features import contract
from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus, VersionState, VersionStatus
from service.backends.batching import BatchQueue
from service.backends.tfserving.client import TFServingClient
from service.errors import (
    BackendUnavailable,
    DeadlineExceeded,
    InternalError,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    VersionNotFound,
)
from service.metrics import Metrics
from service.settings import Settings
from service.tfserving_config import MODEL_CONFIG_FILE, discover_models, read_model_names
from service.tfserving_wire.get_model_status_pb2 import (
    ErrorCode,
    GetModelStatusRequest,
    GetModelStatusResponse,
    ModelVersionStatus,
)
from service.tfserving_wire.predict_pb2 import PredictRequest, PredictResponse
from service.tfserving_wire.tensors import fill_tensor, tensor_to_array

log = logging.getLogger(__name__)

#: Longest wait for one GetModelStatus answer; status calls are cheap, a slow one means trouble.
STATUS_TIMEOUT_S = 5.0
#: The public detail of a 503 (and of ``/readyz``) while TF Serving is unreachable.
UNREACHABLE = "the model backend (TF Serving) is unreachable; retry later"
#: Poll interval cap while TF Serving is unreachable.
RECONNECT_POLL_S = 0.5

_STATE_OF: dict[int, VersionState] = {
    ModelVersionStatus.START: VersionState.START,
    ModelVersionStatus.LOADING: VersionState.LOADING,
    ModelVersionStatus.AVAILABLE: VersionState.AVAILABLE,
    ModelVersionStatus.UNLOADING: VersionState.UNLOADING,
    ModelVersionStatus.END: VersionState.END,
}


class TFServingBackend(ModelBackend):
    """Runs every model in TensorFlow Serving at ``settings.tfserving_target``."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._client = TFServingClient(settings)
        self._statuses: dict[str, ModelStatus] = {}
        self._reachable = False
        self._specs: dict[tuple[str, int], ModelSpec] = {}
        self._spec_fetches: dict[tuple[str, int], asyncio.Task[ModelSpec]] = {}
        self._queues: dict[tuple[str, int], BatchQueue] = {}
        self._closing_queues: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the channel and read the status once; TF Serving being down is not an error here."""
        self._client.open()
        await self.refresh()
        self._poller = asyncio.create_task(self._poll_forever(), name="tfserving-status-poller")

    async def close(self) -> None:
        """Stop polling, let predictions in flight finish (up to the call timeout), close the channel."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        queues, self._queues = list(self._queues.values()), {}
        closing = [*(q.close() for q in queues), *self._closing_queues]
        try:
            # Every queued request is still sent and answered (their deadlines bound the wait).
            await asyncio.wait_for(asyncio.gather(*closing), self._settings.tfserving_timeout_s)
            await asyncio.wait_for(self._idle.wait(), self._settings.tfserving_timeout_s)
        except TimeoutError:
            log.warning("closing the TF Serving channel with %d predictions still in flight", self._in_flight)
        await self._client.close(grace=self._settings.tfserving_timeout_s)

    # -- status -------------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelStatus]:
        """Every expected model with its versions, as of the last poll."""
        self._require_reachable()
        return [self._statuses[name] for name in sorted(self._statuses)]

    async def model_status(self, name: str) -> ModelStatus:
        """One model's versions, as of the last poll (an in-memory read)."""
        self._require_reachable()
        status = self._statuses.get(name)
        if status is None:
            raise ModelNotFound(f"no model named '{name}'")
        return status

    async def refresh(self) -> None:
        """Ask TF Serving for the status of every expected model now."""
        names = await asyncio.to_thread(self._expected_models)
        answers = await asyncio.gather(*(self._fetch_status(name) for name in names), return_exceptions=True)
        statuses: dict[str, ModelStatus] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BackendUnavailable | DeadlineExceeded):
                if self._reachable:
                    log.warning("TF Serving at %s is unreachable: %s", self._settings.tfserving_target, answer.detail)
                    self._reachable = False
                    self.publish_change()
                return
            if isinstance(answer, BaseException):
                log.warning("status of model '%s' unknown: %r", name, answer)
                if name in self._statuses:
                    statuses[name] = self._statuses[name]
                continue
            statuses[name] = answer
        if not self._reachable:
            log.info("TF Serving at %s answers", self._settings.tfserving_target)
        changed = not self._reachable or statuses != self._statuses
        self._statuses, self._reachable = statuses, True
        if changed:
            self.publish_change()
        served = {(s.name, v.version) for s in statuses.values() for v in s.versions if v.state is not VersionState.END}
        for key in [key for key in self._specs if key not in served]:
            del self._specs[key]
        self._drop_queues(served)

    async def _fetch_status(self, name: str) -> ModelStatus:
        request = GetModelStatusRequest()
        request.model_spec.name = name
        try:
            response = await self._client.get_model_status(request, timeout=STATUS_TIMEOUT_S)
        except ModelNotFound:
            return ModelStatus(name=name, versions=())  # expected, but TF Serving has no version of it yet
        return _model_status(name, response)

    async def _poll_forever(self) -> None:
        while True:
            interval = self._settings.poll_interval_s
            if not self._reachable:
                interval = min(interval, RECONNECT_POLL_S)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that arrives
            # just as the wake-up event fires, and close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing the model status failed")

    def _expected_models(self) -> list[str]:
        if self._settings.models is not None:
            return list(self._settings.models)
        config = self._settings.models_dir / MODEL_CONFIG_FILE
        if config.is_file():
            try:
                return read_model_names(config)
            except (OSError, text_format.ParseError) as exc:
                log.warning("cannot read model names from %s (%s); scanning the folder instead", config, exc)
        return discover_models(self._settings.models_dir)

    def _require_reachable(self) -> None:
        # The public detail names no address and no gRPC text (finding 9); both are in the log line written
        # when the backend became unreachable.
        if not self._reachable:
            raise BackendUnavailable(UNREACHABLE)

    # -- spec ---------------------------------------------------------------------------------------

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        """The version's spec, read once through its ``spec`` signature and cached."""
        key = (name, version)
        spec = self._specs.get(key)
        if spec is not None:
            return spec
        fetch = self._spec_fetches.get(key)
        if fetch is None:
            fetch = asyncio.create_task(self._fetch_spec(name, version), name=f"spec-{name}-{version}")
            self._spec_fetches[key] = fetch
            fetch.add_done_callback(lambda _: self._spec_fetches.pop(key, None))
        return await asyncio.shield(fetch)

    async def _fetch_spec(self, name: str, version: int) -> ModelSpec:
        request = _pinned_request(name, version, contract.SPEC_SIGNATURE)
        fill_tensor(request.inputs[contract.SPEC_INPUT], np.zeros(1, dtype=np.int32))
        request.output_filter.append(contract.SPEC_OUTPUT)
        response = await self._client.predict(request, timeout=None)
        _check_version(response, name, version)
        try:
            text = tensor_to_array(response.outputs[contract.SPEC_OUTPUT]).reshape(-1)[0]
            spec = ModelSpec.from_json(text)
        except (KeyError, IndexError, InvalidInput, ValidationError) as exc:
            raise InternalError(f"version {version} of model '{name}' has no valid spec: {exc}") from exc
        self._specs[(name, version)] = spec
        return spec

    # -- predict ------------------------------------------------------------------------------------

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        """Probabilities from exactly ``version``, sent to TF Serving in a batch with concurrent requests.

        ``alone`` changes nothing here: a Predict RPC has no thread hand-off to save."""
        del alone
        spec = await self.get_spec(name, version)
        try:
            contract.check_batch(inputs, spec.features)
        except contract.BatchMismatch as exc:
            raise InvalidInput(f"model '{name}' version {version}: {exc}") from exc
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._queue(name, version, spec).submit(inputs, timeout)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    def _queue(self, name: str, version: int, spec: ModelSpec) -> BatchQueue:
        key = (name, version)
        queue = self._queues.get(key)
        if queue is None:
            call = partial(self._predict_batch, name, version, spec.features.input_name, len(spec.labels))
            queue = BatchQueue(
                call,
                settings=self._settings.batching,
                slots=self._settings.tfserving_calls_per_version,
                on_batch=lambda rows: self._metrics.observe_batch(name, version, rows),
                label=f"model '{name}' version {version}",
            )
            queue.start()
            self._queues[key] = queue
        return queue

    def _drop_queues(self, served: set[tuple[str, int]]) -> None:
        """Close the queues of versions TF Serving no longer serves (their queued requests are still sent)."""
        for key in list(self._queues):
            if key not in served:
                queue = self._queues.pop(key)
                task = asyncio.create_task(queue.close(), name=f"close-queue-{key[0]}-{key[1]}")
                self._closing_queues.add(task)
                task.add_done_callback(self._closing_queues.discard)

    async def _predict_batch(
        self, name: str, version: int, input_name: str, labels: int, parts: list[np.ndarray], timeout: float | None
    ) -> np.ndarray:
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return await self._predict_chunk(name, version, input_name, rows, labels, timeout)

    async def _predict_chunk(
        self, name: str, version: int, input_name: str, rows: np.ndarray, labels: int, timeout: float | None
    ) -> np.ndarray:
        request = _pinned_request(name, version, contract.SERVING_SIGNATURE)
        fill_tensor(request.inputs[input_name], rows)
        request.output_filter.append(contract.PROBABILITIES_OUTPUT)
        try:
            response = await self._client.predict(request, timeout=timeout)
        except VersionNotFound as exc:
            # The cached status still named this version, TF Serving has unloaded it: refresh now.
            self._wake.set()
            raise ModelNotReady(f"version {version} of model '{name}' is no longer served; retry") from exc
        except BackendUnavailable:
            self._wake.set()
            raise
        _check_version(response, name, version)
        try:
            probabilities = tensor_to_array(response.outputs[contract.PROBABILITIES_OUTPUT])
        except (KeyError, InvalidInput) as exc:
            raise InternalError(f"TF Serving's answer for model '{name}' has no valid probabilities: {exc}") from exc
        if probabilities.shape != (len(rows), labels):
            raise InternalError(
                f"TF Serving answered probabilities of shape {list(probabilities.shape)} for"
                f" {len(rows)} rows of model '{name}' ({labels} labels)"
            )
        return probabilities.astype(np.float32, copy=False)


def _pinned_request(name: str, version: int, signature: str) -> PredictRequest:
    request = PredictRequest()
    request.model_spec.name = name
    request.model_spec.version.value = version
    request.model_spec.signature_name = signature
    return request


def _check_version(response: PredictResponse, name: str, version: int) -> None:
    # Train/serve parity: the input was preprocessed with this version's spec, so only it may answer.
    if response.model_spec.HasField("version") and response.model_spec.version.value != version:
        raise InternalError(
            f"TF Serving answered with version {response.model_spec.version.value} of model '{name}',"
            f" not the pinned version {version}"
        )


def _model_status(name: str, response: GetModelStatusResponse) -> ModelStatus:
    versions = []
    for entry in response.model_version_status:
        state = _STATE_OF.get(entry.state)
        if state is None:
            continue
        error = None
        if entry.status.error_code != ErrorCode.OK:
            error = entry.status.error_message or ErrorCode.Name(entry.status.error_code)
        versions.append(VersionStatus(version=entry.version, state=state, error=error))
    versions.sort(key=lambda v: v.version, reverse=True)
    return ModelStatus(name=name, versions=tuple(versions))
