"""Confidence and drift metrics per model version, recorded from the softmax of every answered request.

Instruments (labels ``model``, ``version``; shares add ``label``):

- ``classifier_prediction_confidence``: histogram of the top-1 probability of each prediction.
- ``classifier_prediction_entropy``: histogram of each softmax's entropy normalised by ``log(n_labels)``
  (0: all mass on one label, 1: uniform), comparable across models with different label counts.
- ``classifier_low_confidence_predictions_total``: predictions whose top-1 probability is below the
  threshold (the spec's ``min_confidence`` when it has one, else ``monitoring.low_confidence_threshold``).
- ``classifier_class_share``: share of each label among the version's last N predictions (the window).
- ``classifier_class_drift``: Jensen-Shannon divergence of that window against the version's baseline
  (``service.observability.drift``); absent for versions whose spec has no baseline.
- ``classifier_class_window_predictions``: predictions in the window, so alerts can wait for enough of them.
- ``classifier_class_window_count``: predictions of each label in the window, what shares and drift are
  computed from; ``classifier_class_baseline``: the version's baseline share of each label.

Shares and drift are computed when Prometheus scrapes (a collector), so a request only appends to a window.
A request's few rows are measured in plain Python (a dozen NumPy calls on a 1x2 array cost several times
more than the arithmetic); large answers go through NumPy. The event loop is the only writer, the scrape
reads under a lock.

Windows are per process. With worker processes (prometheus_client's multiprocess mode, ``shared=True``)
each worker mirrors its window's count of each label into a ``livesum`` gauge (one increment per prediction,
one decrement per prediction that slides out) and its baseline into a ``livemax`` gauge, both in the
multiprocess files; a scrape, on whichever worker it reaches, sums the counts of the live workers
(``WorkerWindows``) and computes shares, window size and drift from the sums, by the same function as a
single process. So the scraped window is the union of the live workers' windows (up to N x
``drift_window`` predictions), and a dead worker's predictions leave it with the worker.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from features.spec import ModelSpec
from service.observability.drift import ClassWindow, jensen_shannon

_SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: Up to this many probabilities (rows x labels) an answer is measured in Python, above it with NumPy.
PYTHON_MAX_VALUES = 256

_COUNT = "classifier_class_window_count"
_COUNT_HELP = "Predictions of each label in the version's sliding window (live worker processes summed)."
_BASELINE = "classifier_class_baseline"
_BASELINE_HELP = "The version's baseline share of each label (its held-out predictions), what drift compares to."

_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, PredictionMetrics] = weakref.WeakKeyDictionary()


class _VersionState:
    """One version's window, baseline and pre-bound instrument children."""

    def __init__(self, spec: ModelSpec, window: int, metrics: PredictionMetrics, model: str, version: str) -> None:
        self.labels = spec.labels
        self.baseline = spec.class_baseline
        mirror = None
        if metrics.shared is not None:
            counts, baseline = metrics.shared
            mirror = [counts.labels(model, version, label).inc for label in spec.labels]
            for label, share in zip(spec.labels, self.baseline or (), strict=False):
                baseline.labels(model, version, label).set(share)
        self.window = ClassWindow(len(spec.labels), window, mirror)
        self.confidence = metrics.confidence.labels(model, version)
        self.entropy = metrics.entropy.labels(model, version)
        self.low_confidence = metrics.low_confidence.labels(model, version)
        self.log_n = math.log(len(spec.labels)) or 1.0  # one label: its entropy is 0 whatever the divisor


class PredictionMetrics(Collector):
    """Records each answer's softmax; exposes confidence histograms and, at scrape time, shares and drift."""

    def __init__(self, registry: CollectorRegistry, *, window: int, shared: bool = False) -> None:
        self._window = window
        #: With worker processes: the gauges each window's counts and baseline are mirrored to. They are in no
        #: registry: the multiprocess files are what a scrape reads, and the collector below renders the
        #: same series from the window itself when there are no such files.
        self.shared: tuple[Gauge, Gauge] | None = None
        if shared:
            labels = ["model", "version", "label"]
            self.shared = (
                Gauge(_COUNT, _COUNT_HELP, labels, registry=None, multiprocess_mode="livesum"),
                Gauge(_BASELINE, _BASELINE_HELP, labels, registry=None, multiprocess_mode="livemax"),
            )
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, int], _VersionState] = {}
        self.confidence = Histogram(
            "classifier_prediction_confidence",
            "Top-1 probability of each prediction.",
            ["model", "version"],
            buckets=_SCORE_BUCKETS,
            registry=registry,
        )
        self.entropy = Histogram(
            "classifier_prediction_entropy",
            "Entropy of each prediction's probabilities divided by log(number of labels): 0 certain, 1 uniform.",
            ["model", "version"],
            buckets=_SCORE_BUCKETS,
            registry=registry,
        )
        self.low_confidence = Counter(
            "classifier_low_confidence_predictions",
            "Predictions whose top-1 probability is below the version's confidence threshold.",
            ["model", "version"],
            registry=registry,
        )
        registry.register(self)

    @classmethod
    def of(cls, registry: CollectorRegistry, *, window: int, shared: bool = False) -> PredictionMetrics:
        """The instance of ``registry`` (one per registry: its series may only be registered once);
        ``shared``: mirror the windows into the multiprocess files (worker processes)."""
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = cls(registry, window=window, shared=shared)
        return found

    def record(self, model: str, version: int, spec: ModelSpec, probabilities: np.ndarray, threshold: float) -> None:
        """Observe one answer's rows (``[rows, labels]`` softmax)."""
        state = self._versions.get((model, version))
        if state is None:
            state = _VersionState(spec, self._window, self, model, str(version))
            with self._lock:
                self._versions[(model, version)] = state
        if probabilities.size <= PYTHON_MAX_VALUES:
            top, low = _measure_rows(state, probabilities.tolist(), threshold)
        else:
            top, low = _measure_array(state, probabilities, threshold)
        if low:
            state.low_confidence.inc(low)
        with self._lock:
            state.window.add(top)

    def collect(self) -> Iterator[Metric]:
        """Counts, shares, window sizes and drift of every version this process has seen, computed now."""
        with self._lock:
            snapshot = [
                (model, str(version), state.labels, state.window.counts.tolist(), state.baseline)
                for (model, version), state in self._versions.items()
            ]
        count = GaugeMetricFamily(_COUNT, _COUNT_HELP, labels=["model", "version", "label"])
        baseline = GaugeMetricFamily(_BASELINE, _BASELINE_HELP, labels=["model", "version", "label"])
        for model, version, labels, counts, shares in snapshot:
            for label, value in zip(labels, counts, strict=True):
                count.add_metric([model, version, label], value)
            for label, share in zip(labels, shares or (), strict=False):
                baseline.add_metric([model, version, label], share)
        yield count
        yield baseline
        yield from _window_families(snapshot)


class WorkerWindows(Collector):
    """The multiprocess files' metrics (``inner``: a ``MultiProcessCollector``) plus the window series
    computed from them: the count of each label summed over the live workers, against the baseline."""

    def __init__(self, inner: Collector) -> None:
        self._inner = inner

    def collect(self) -> Iterator[Metric]:
        """Every merged metric as it is, then shares, window sizes and drift of the summed counts."""
        counts: dict[tuple[str, str], dict[str, float]] = {}
        baselines: dict[tuple[str, str], dict[str, float]] = {}
        for family in self._inner.collect():
            found = counts if family.name == _COUNT else baselines if family.name == _BASELINE else None
            if found is not None:
                for sample in family.samples:
                    key = (sample.labels["model"], sample.labels["version"])
                    found.setdefault(key, {})[sample.labels["label"]] = sample.value
            yield family
        windows = []
        for (model, version), by_label in counts.items():
            labels = list(by_label)
            baseline = baselines.get((model, version), {})
            shares = [baseline[label] for label in labels] if all(label in baseline for label in labels) else None
            windows.append((model, version, labels, [by_label[label] for label in labels], shares))
        yield from _window_families(windows)


def _window_families(
    windows: Iterable[tuple[str, str, Sequence[str], Sequence[float], Sequence[float] | None]],
) -> Iterator[Metric]:
    """Shares, window size and drift of each ``(model, version, labels, counts, baseline or None)`` window:
    the one rule for a process's own window and for the workers' summed ones."""
    share = GaugeMetricFamily(
        "classifier_class_share",
        "Share of each predicted label among the version's last N predictions (live worker processes summed).",
        labels=["model", "version", "label"],
    )
    drift = GaugeMetricFamily(
        "classifier_class_drift",
        "Jensen-Shannon divergence (bits, 0..1) of the window's label shares against the version's held-out baseline.",
        labels=["model", "version"],
    )
    size = GaugeMetricFamily(
        "classifier_class_window_predictions",
        "Predictions in the version's sliding window (live worker processes summed).",
        labels=["model", "version"],
    )
    for model, version, labels, counts, baseline in windows:
        total = math.fsum(counts)
        size.add_metric([model, version], total)
        shares = [value / total if total else 0.0 for value in counts]
        for label, value in zip(labels, shares, strict=True):
            share.add_metric([model, version, label], value)
        if baseline is not None and total:
            drift.add_metric([model, version], jensen_shannon(shares, baseline))
    yield share
    yield drift
    yield size


def _measure_rows(state: _VersionState, rows: list[list[float]], threshold: float) -> tuple[list[int], int]:
    """Observe each row's top-1 probability and normalised entropy; the top-1 indices and how many are low."""
    observe_confidence = state.confidence.observe
    observe_entropy = state.entropy.observe
    log_n = state.log_n
    log = math.log
    top: list[int] = []
    low = 0
    for row in rows:
        score = max(row)
        top.append(row.index(score))  # the first of equal maxima, as argmax
        observe_confidence(score)
        spread = -sum([p * log(p) for p in row if p > 0.0]) / log_n  # 0 log 0 is 0
        observe_entropy(min(1.0, max(0.0, spread)))
        if score < threshold:
            low += 1
    return top, low


def _measure_array(state: _VersionState, probabilities: np.ndarray, threshold: float) -> tuple[list[int], int]:
    """``_measure_rows`` for large answers, in NumPy (float64, as the Python path computes)."""
    values = probabilities.astype(np.float64)
    top = values.argmax(axis=1)
    confidence = values[np.arange(len(top)), top]
    logs = np.log(values, out=np.zeros_like(values), where=values > 0)
    entropy = -(values * logs).sum(axis=1) / state.log_n
    for score, spread in zip(confidence.tolist(), entropy.tolist(), strict=True):
        state.confidence.observe(score)
        state.entropy.observe(min(1.0, max(0.0, spread)))
    return top.tolist(), int((confidence < threshold).sum())
