"""The classify pipeline, the one core that REST and gRPC call.

resolve version -> that version's spec -> validate and preprocess every input (off the event loop)
-> backend predict pinned to that version -> probabilities, top-k and labels.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from features import preprocess
from features.errors import FeatureError, InputTooLarge
from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus, VersionState
from service.core.schemas import (
    ClassifyCall,
    ClassifyResponse,
    InputLimitsInfo,
    ModelInfo,
    Prediction,
    RawInput,
    ScoredLabel,
    VersionInfo,
)
from service.core.selfcheck import sample_input
from service.errors import (
    DeadlineExceeded,
    InvalidInput,
    LabelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    ServiceError,
    VersionNotFound,
)
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Classifier:
    """Answers classify, list and describe requests for every surface, over one backend."""

    def __init__(self, settings: Settings, backend: ModelBackend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self._input_limits = settings.limits.input_limits()
        self._pool = ThreadPoolExecutor(settings.preprocess_threads, thread_name_prefix="preprocess")
        self._checked: set[tuple[str, int]] = set()

    def close(self) -> None:
        """Release the preprocessing threads (after in-flight requests have finished)."""
        self._pool.shutdown(wait=True)

    # -- classify -----------------------------------------------------------------------------------

    async def classify(self, call: ClassifyCall) -> ClassifyResponse:
        """Classify every input of ``call`` with one model version; answers are in input order."""
        started = time.perf_counter()
        deadline = time.monotonic() + (call.timeout_s or self.settings.request_timeout_s)
        version: int | None = None
        status = "ok"
        try:
            if len(call.inputs) > self.settings.limits.max_instances:
                raise PayloadTooLarge(
                    f"{len(call.inputs)} instances in one request; the limit is {self.settings.limits.max_instances}"
                )
            version = await self.resolve_version(call.model, call.version, call.version_label)
            try:
                return await self._classify_with(call, version, deadline)
            except ModelNotReady:
                # An unpinned request can race a version swap: the version it resolved may retire before its
                # rows reach the backend. It then gets the new newest version, preprocessed with that spec.
                if call.version is not None or call.version_label is not None:
                    raise
                retired, version = version, await self.resolve_version(call.model, None, None)
                if version == retired:
                    raise
                return await self._classify_with(call, version, deadline)
        except ServiceError as exc:
            status = type(exc).__name__
            raise
        except Exception:
            status = "ServiceError"
            raise
        finally:
            self._observe("total", started, call, version, status)

    async def _classify_with(self, call: ClassifyCall, version: int, deadline: float) -> ClassifyResponse:
        spec = await self.backend.get_spec(call.model, version)
        top_k = min(call.top_k or self.settings.default_top_k, len(spec.labels))

        t0 = time.perf_counter()
        batch = await self._within(deadline, self._preprocess(call.inputs, spec))
        self._observe("preprocess", t0, call, version, "ok")

        t0 = time.perf_counter()
        probabilities = await self.backend.predict(call.model, version, batch, timeout=self._remaining(deadline))
        self._observe("backend", t0, call, version, "ok")
        threshold = call.min_confidence if call.min_confidence is not None else spec.min_confidence
        return self._answer(call.model, version, spec, probabilities, top_k, threshold)

    async def resolve_version(self, model: str, version: int | None, label: str | None) -> int:
        """The version a request gets: the one named, the one its label maps to, else the newest AVAILABLE."""
        status = await self.backend.model_status(model)
        self.metrics.know_model(model)
        if label is not None:
            labels = self.settings.version_labels.get(model, {})
            if label not in labels:
                raise LabelNotFound(f"model '{model}' has no version label '{label}'", known=sorted(labels))
            version = labels[label]
        if version is None:
            available = status.available()
            if not available:
                raise ModelNotReady(f"model '{model}' has no AVAILABLE version yet")
            return available[0]
        for entry in status.versions:
            if entry.version == version:
                if entry.state is not VersionState.AVAILABLE:
                    raise ModelNotReady(f"version {version} of model '{model}' is {entry.state.value}")
                return version
        raise VersionNotFound(f"model '{model}' has no served version {version}")

    async def _preprocess(self, inputs: list[RawInput], spec: ModelSpec) -> np.ndarray:
        loop = asyncio.get_running_loop()
        jobs = [loop.run_in_executor(self._pool, self._preprocess_one, i, raw, spec) for i, raw in enumerate(inputs)]
        rows = await asyncio.gather(*jobs)
        return np.stack(rows)

    def _preprocess_one(self, index: int, raw: RawInput, spec: ModelSpec) -> np.ndarray:
        try:
            return preprocess(raw, spec, self._input_limits)
        except InputTooLarge as exc:
            raise PayloadTooLarge(f"instance {index}: {exc}") from exc
        except FeatureError as exc:
            raise InvalidInput(f"instance {index}: {exc}") from exc

    def _answer(
        self,
        model: str,
        version: int,
        spec: ModelSpec,
        probabilities: np.ndarray,
        top_k: int,
        min_confidence: float | None = None,
    ) -> ClassifyResponse:
        labels = spec.labels
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        predictions = []
        for row, ranked in zip(probabilities.tolist(), order.tolist(), strict=True):
            top = [ScoredLabel(label=labels[j], score=row[j]) for j in ranked]
            predictions.append(
                Prediction(
                    label=top[0].label,
                    score=top[0].score,
                    top_k=top,
                    probabilities=dict(zip(labels, row, strict=True)),
                    abstained=min_confidence is not None and top[0].score < min_confidence,
                )
            )
            self.metrics.count_prediction(model, version, top[0].label)
        return ClassifyResponse(model=model, version=version, predictions=predictions)

    # -- describe -----------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        """Every served model with its versions, labels and modality."""
        statuses = await self.backend.list_models()
        wanted = self.settings.models
        return [await self._describe(s) for s in statuses if wanted is None or s.name in wanted]

    async def get_model(self, name: str) -> ModelInfo:
        """One model, with the input limits a client must respect."""
        info = await self._describe(await self.backend.model_status(name))
        limits = self.settings.limits
        info.input_limits = InputLimitsInfo(
            max_body_bytes=limits.max_body_bytes,
            max_instances=limits.max_instances,
            max_image_pixels=limits.max_image_pixels,
            max_audio_seconds=limits.max_audio_seconds,
            max_text_chars=limits.max_text_chars,
        )
        return info

    async def _describe(self, status: ModelStatus) -> ModelInfo:
        available = status.available()
        spec = await self.backend.get_spec(status.name, available[0]) if available else None
        return ModelInfo(
            name=status.name,
            modality=spec.modality if spec else None,
            labels=list(spec.labels) if spec else [],
            versions=[VersionInfo(version=v.version, state=v.state.value, error=v.error) for v in status.versions],
            default_version=available[0] if available else None,
            version_labels=self.settings.version_labels.get(status.name, {}),
            spec_hash=spec.content_hash if spec else None,
        )

    # -- readiness ----------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, str]:
        """Per expected model, 'ready' or why not. Ready means an AVAILABLE version has classified a
        real sample end to end (preprocess and predict) at least once."""
        report: dict[str, str] = {}
        try:
            statuses = {s.name: s for s in await self.backend.list_models()}
        except ServiceError as exc:
            return {"backend": exc.detail}
        names = self.settings.models if self.settings.models is not None else sorted(statuses)
        if not names:
            return {"models": "no model found in the repository"}
        for name in names:
            status = statuses.get(name)
            available = status.available() if status else []
            if not available:
                report[name] = "no AVAILABLE version"
                continue
            version = available[0]
            if (name, version) not in self._checked:
                try:
                    spec = await self.backend.get_spec(name, version)
                    await self.classify(
                        ClassifyCall(model=name, version=version, inputs=[sample_input(spec)], surface="rest")
                    )
                except ServiceError as exc:
                    report[name] = f"self-check of version {version} failed: {exc.detail}"
                    continue
                self._checked.add((name, version))
            report[name] = "ready"
        return report

    # -- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _remaining(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the request's deadline passed")
        return left

    async def _within(self, deadline: float, work: Coroutine[Any, Any, T]) -> T:
        try:
            left = self._remaining(deadline)
        except DeadlineExceeded:
            work.close()  # never started; closing it keeps it from being reported as never awaited
            raise
        try:
            return await asyncio.wait_for(work, left)
        except TimeoutError as exc:
            raise DeadlineExceeded("the request's deadline passed") from exc

    def _observe(self, stage: str, started: float, call: ClassifyCall, version: int | None, status: str) -> None:
        self.metrics.observe_stage(
            stage,
            time.perf_counter() - started,
            model=call.model,
            version=version,
            surface=call.surface,
            status=status,
        )
