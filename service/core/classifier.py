"""The classify pipeline, the one core that REST and gRPC call.

resolve version -> admission (a slot of the model's lane, or 429 at once) -> that version's spec ->
decode and preprocess every input (``Decoder``: threads, or killable worker processes for heavy inputs)
-> backend predict pinned to that version -> probabilities, top-k and labels. The request's deadline is
checked between stages and bounds each of them.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus
from service.core.admission import Admission
from service.core.budgets import ByteBudget, HeapTrimmer
from service.core.decoding import Decoder
from service.core.loop_idle import nothing_else_ready
from service.core.names import check_call_names, check_model_name
from service.core.readiness import READY, Readiness
from service.core.schemas import (
    ClassifyCall,
    ClassifyResponse,
    InputLimitsInfo,
    ModelInfo,
    Prediction,
    ScoredLabel,
    VersionInfo,
)
from service.core.selfcheck import sample_input
from service.core.versions import resolve_version
from service.errors import (
    DeadlineExceeded,
    ModelNotReady,
    PayloadTooLarge,
    ServiceError,
)
from service.metrics import Metrics
from service.observability import tracing
from service.observability.observer import ClassificationObserver
from service.rollout.controller import Rollouts
from service.rollout.metrics import RolloutMetrics
from service.settings import Settings

log = logging.getLogger(__name__)
#: What GET /v1/models shows for a version that failed; the specific error is in the server log.
VERSION_FAILED = "the version failed to load; the cause is in the server log"


class Classifier:
    """Answers classify, list and describe requests for every surface, over one backend."""

    def __init__(self, settings: Settings, backend: ModelBackend, metrics: Metrics) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.admission = Admission(settings.admission, metrics)
        self.budget = ByteBudget(
            settings.admission.max_inflight_bytes,
            metrics,
            HeapTrimmer(settings.decoding.trim_after_bytes),
            retry_after_s=settings.admission.retry_after_s,
        )
        self.decoder = Decoder(settings)
        self._checked: set[tuple[str, int]] = set()
        self._observer = ClassificationObserver(settings, metrics)
        #: Rollout policy, canary routing and shadow runs; None unless ``settings.rollout.path`` is set.
        self.rollouts: Rollouts | None = None
        if settings.rollout.path is not None:
            self.rollouts = Rollouts(
                settings.rollout, RolloutMetrics(metrics.registry), poll_interval_s=settings.poll_interval_s
            )

    def close(self) -> None:
        """Release the decoding threads and processes (after in-flight requests have finished)."""
        self.admission.close()
        self.decoder.close()
        self._observer.close()

    # -- classify -----------------------------------------------------------------------------------

    async def classify(self, call: ClassifyCall, *, self_check: bool = False) -> ClassifyResponse:
        """Classify every input of ``call`` with one model version; answers are in input order.

        ``self_check=True`` (the readiness self-check) skips admission, which must not refuse it under load,
        and the observer: its made-up sample is no traffic, so it is neither a prediction-log line (which
        ``predlog export`` could put among retraining inputs) nor a confidence or drift sample.
        """
        check_call_names(call)  # before the name becomes a metric label or reaches a backend
        started = time.perf_counter()
        tracing.parsed()
        deadline = time.monotonic() + (call.timeout_s or self.settings.request_timeout_s)
        version: int | None = None
        status = "ok"
        response: ClassifyResponse | None = None
        failed = False
        try:
            if len(call.inputs) > self.settings.limits.max_instances:
                raise PayloadTooLarge(
                    f"{len(call.inputs)} instances in one request; the limit is {self.settings.limits.max_instances}"
                )
            version = await self.resolve_version(call.model, call.version, call.version_label)
            if self_check:
                response = await self._classify_admitted(call, version, deadline, started, observed=False)
            else:
                async with self.admission.slot(call.model, deadline):
                    response = await self._classify_admitted(call, version, deadline, started)
            version = response.version  # a retired version's request was answered by its successor
            return response
        except ServiceError as exc:
            status = type(exc).__name__
            failed = exc.http_status >= 500  # a client's mistake says nothing about the version
            raise
        except Exception:
            status = "ServiceError"
            failed = True
            raise
        finally:
            self._observe("total", started, call, version, status)
            tracing.annotate(status, model=call.model, version=version, instances=len(call.inputs))
            # A refusal or a client's mistake (no answer, not failed) says nothing about either version.
            if (
                self.rollouts is not None
                and version is not None
                and (response is not None or failed)
                and self._routed(call)
            ):
                # After the answer exists: counting is in memory, a shadow run is a task of its own.
                self.rollouts.answered(
                    call,
                    version,
                    time.perf_counter() - started,
                    response,
                    failed=failed,
                    busy=self._queueing,
                    predict=self._shadow_predict,
                )

    async def _classify_admitted(
        self, call: ClassifyCall, version: int, deadline: float, started: float, *, observed: bool = True
    ) -> ClassifyResponse:
        try:
            return await self._classify_with(call, version, deadline, started, observed=observed)
        except ModelNotReady:
            # An unpinned request can race a version swap: the version it resolved may retire before its
            # rows reach the backend. It then gets the new newest version, preprocessed with that spec.
            if call.version is not None or call.version_label is not None:
                raise
            retired, version = version, await self.resolve_version(call.model, None, None)
            if version == retired:
                raise
            return await self._classify_with(call, version, deadline, started, observed=observed)

    async def _classify_with(
        self, call: ClassifyCall, version: int, deadline: float, started: float, *, observed: bool = True
    ) -> ClassifyResponse:
        spec = await self.backend.get_spec(call.model, version)
        top_k = min(call.top_k or self.settings.default_top_k, len(spec.labels))

        t0 = time.perf_counter()
        with tracing.span("preprocess"):
            # No timer of its own: heavy inputs decode in worker processes killed at the deadline, small
            # ones are bounded by the input budgets, and the deadline is checked again before the model call.
            remaining, alone = self._remaining(deadline), self._alone(call.model)
            batch = await self.decoder.decode(call.model, call.inputs, spec, remaining, call.adapt_input, alone=alone)
        self._observe("preprocess", t0, call, version, "ok")

        t0 = time.perf_counter()
        # Asked again: requests that arrived while this one was decoded in a thread may now share its batch.
        remaining, alone = self._remaining(deadline), self._alone(call.model)
        probabilities = await self.backend.predict(call.model, version, batch, timeout=remaining, alone=alone)
        self._observe("backend", t0, call, version, "ok")
        threshold = call.min_confidence if call.min_confidence is not None else spec.min_confidence
        response = self._ranked_response(call.model, version, spec, probabilities, top_k, threshold)
        # The one observation point of every answered request, whatever surface it came from.
        if observed:
            self._observer.classified(call, version, spec, probabilities, response, time.perf_counter() - started)
        return response

    async def resolve_version(self, model: str, version: int | None, label: str | None) -> int:
        """The version a request gets: the one named, the one its label maps to (the rollout policy's labels
        over the settings'), else the rollout's split, else the newest AVAILABLE."""
        status = await self.backend.model_status(model)
        self.metrics.know_model(model)
        labels = self.settings.version_labels.get(model, {})
        if self.rollouts is not None:
            labels = self.rollouts.labels(model, labels)
            if version is None and label is None:
                routed = self.rollouts.route(status)
                if routed is not None:
                    return routed
        return resolve_version(status, version, label, labels)

    @staticmethod
    def _routed(call: ClassifyCall) -> bool:
        # Only requests that let the gateway choose take part in a rollout; a pinned version or label stays.
        return call.version is None and call.version_label is None

    def _alone(self, model: str) -> bool:
        # No other request of this model in its lane (holding a slot, queued, or through the REST door), and
        # nothing else ready on the loop: nothing to batch this one with or to overlap, so a cheap input is
        # better decoded, and a short model call better run, at once than handed to a thread (Decoder.decode,
        # backends.batching, core.loop_idle).
        lane = self.admission.lane(model)
        return (lane is None or lane.holds_one_at_most) and nothing_else_ready()

    def _queueing(self, model: str) -> bool:
        lane = self.admission.lane(model)
        return lane is not None and lane.waiting > 0

    async def _shadow_predict(self, call: ClassifyCall, version: int) -> tuple[tuple[str, ...], np.ndarray]:
        """``call``'s inputs on ``version`` within the shadow deadline, outside admission (bounded by the
        shadow runner instead) and unobserved: the probabilities only, for the rollout's comparison."""
        deadline = time.monotonic() + self.settings.rollout.shadow_timeout_s
        spec = await self.backend.get_spec(call.model, version)
        # The decoder bounds its own time (see _classify_with); the deadline is checked before the model call.
        batch = await self.decoder.decode(call.model, call.inputs, spec, self._remaining(deadline), call.adapt_input)
        probabilities = await self.backend.predict(call.model, version, batch, timeout=self._remaining(deadline))
        return spec.labels, probabilities

    def _ranked_response(
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
        check_model_name(name, ("name",))
        info = await self._describe(await self.backend.model_status(name))
        info.input_limits = InputLimitsInfo.model_validate(self.settings.limits.model_dump())
        return info

    async def _describe(self, status: ModelStatus) -> ModelInfo:
        available = status.available()
        spec = await self.backend.get_spec(status.name, available[0]) if available else None
        return ModelInfo(
            name=status.name,
            modality=spec.modality if spec else None,
            labels=list(spec.labels) if spec else [],
            # A load error names files and library versions: public answers say only that it failed (the
            # backend's own log and the gateway's version log carry the cause).
            versions=[
                VersionInfo(version=v.version, state=v.state.value, error=VERSION_FAILED if v.error else None)
                for v in status.versions
            ],
            default_version=self._default_version(status.name, available),
            version_labels=self._labels(status.name),
            spec_hash=spec.content_hash if spec else None,
        )

    def _default_version(self, model: str, available: list[int]) -> int | None:
        # Under a rollout policy, unpinned requests go to its stable version (the canary share aside).
        policy = self.rollouts.policy(model) if self.rollouts is not None else None
        if policy is not None and policy.stable in available:
            return policy.stable
        return available[0] if available else None

    def _labels(self, model: str) -> dict[str, int]:
        defaults = self.settings.version_labels.get(model, {})
        return defaults if self.rollouts is None else self.rollouts.labels(model, defaults)

    # -- readiness ----------------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """Per expected model, READY or why not. Ready means an AVAILABLE version has classified a
        real sample end to end (preprocess and predict) at least once."""
        report: dict[str, str] = {}
        try:
            statuses = {s.name: s for s in await self.backend.list_models()}
        except ServiceError as exc:
            return Readiness({"backend": exc.detail})
        names = self.settings.models if self.settings.models is not None else sorted(statuses)
        if not names:
            return Readiness({"models": "no model found in the repository"})
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
                        ClassifyCall(model=name, version=version, inputs=[sample_input(spec)], surface="rest"),
                        self_check=True,
                    )
                except ServiceError as exc:
                    report[name] = f"self-check of version {version} failed: {exc.detail}"
                    continue
                self._checked.add((name, version))
            report[name] = READY
        notes = {}
        if self.rollouts is not None and self.rollouts.store.error is not None:
            notes["rollout"] = self.rollouts.store.error
        readiness = Readiness(report, notes)
        self._observer.readiness_checked(readiness)
        return readiness

    # -- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def _remaining(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the request's deadline passed")
        return left

    def _observe(self, stage: str, started: float, call: ClassifyCall, version: int | None, status: str) -> None:
        self.metrics.observe_stage(
            stage,
            time.perf_counter() - started,
            model=call.model,
            version=version,
            surface=call.surface,
            status=status,
        )
