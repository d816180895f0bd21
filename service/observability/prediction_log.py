"""The prediction log: one JSON line per classified input, written by a thread of its own.

A request only decides whether it is sampled and puts one tuple of references (inputs, probabilities'
top-k, ids) on a bounded queue, without waiting: when the queue is full the record is dropped and
counted. The writer thread does the rest (SHA-256 of each input, base64, JSON) and appends through the
standard library's ``RotatingFileHandler``, so the file is rotated at ``max_bytes`` and at most
``backup_count`` old files are kept. The writer works in batches: woken by a record, it lets records
gather for ``BATCH_WAIT_S`` and writes all that are queued, in chunks of at most ``max_bytes`` (one write,
one rotation check and one flush per chunk), so under load it wakes a few dozen times a second, not once
per request. A failing sink (unwritable folder, full disk) is counted and logged
(at most once a minute) while serving goes on.

One line per input::

    {"time": "2026-11-28T21:40:00.123456+00:00", "request_id": "...", "model": "digits", "version": 3,
     "spec_hash": "sha256:...", "surface": "rest", "index": 0, "label": "7",
     "top_k": [["7", 0.98], ["1", 0.01]], "latency_ms": 4.2, "input_bytes": 1234,
     "input_sha256": "...", "input_kind": "bytes", "raw_b64": "..."}

``raw_text`` / ``raw_b64`` appear only with ``raw_inputs`` on and inputs up to ``raw_max_bytes``.
A file has one writer: a worker process (``service.workers``) writes ``NAME.wID.EXT`` beside the configured
path (``worker_log_path``), and ``python -m service.predlog export`` reads the configured file and every
worker's, with their rotated files.

Instruments (always registered, zero while off): ``classifier_prediction_log_written_total``,
``classifier_prediction_log_dropped_total``, ``classifier_prediction_log_errors_total``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import logging.handlers
import queue
import random
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from io import TextIOWrapper
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter

from service.settings import PredictionLogSettings

log = logging.getLogger(__name__)
_ERROR_LOG_INTERVAL_S = 60.0
#: How long the writer lets records gather after the first one wakes it.
BATCH_WAIT_S = 0.02
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, PredictionLogMetrics] = weakref.WeakKeyDictionary()


class PredictionLogMetrics:
    """Counters of the prediction log, once per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter("classifier_prediction_log_written", "Prediction log lines written.", registry=registry)
        self.dropped = Counter(
            "classifier_prediction_log_dropped",
            "Prediction log records dropped because the writer's queue was full.",
            registry=registry,
        )
        self.errors = Counter(
            "classifier_prediction_log_errors", "Prediction log lines that could not be written.", registry=registry
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> PredictionLogMetrics:
        """The instance of ``registry``."""
        found = _by_registry.get(registry)
        if found is None:
            found = _by_registry[registry] = cls(registry)
        return found


def worker_log_path(path: Path, worker_id: int | None) -> Path:
    """The file worker ``worker_id`` writes (``predictions.w0.jsonl`` for ``predictions.jsonl``); ``path``
    itself for a gateway that is not a worker."""
    if worker_id is None:
        return path
    return path.with_name(f"{path.stem}.w{worker_id}{path.suffix}")


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """What the writer needs of one answered request; built on the event loop, so references only."""

    time: float
    request_id: str | None
    model: str
    version: int
    spec_hash: str
    surface: str
    latency_s: float
    inputs: list[bytes | str]
    top_k: list[list[tuple[str, float]]]


class _CountingHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that counts and reports failures instead of printing tracebacks."""

    def __init__(self, sink: PredictionLog, settings: PredictionLogSettings) -> None:
        assert settings.path is not None
        super().__init__(
            settings.path, maxBytes=settings.max_bytes, backupCount=settings.backup_count, encoding="utf-8", delay=True
        )
        self._sink = sink

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: ARG002  (logging's signature)
        self._sink.failed()

    def _open(self) -> TextIOWrapper:
        # The path's folders are made when missing (as a log path that names a new folder is meant);
        # a failure here is one more write failure, counted by ``handleError``.
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


class PredictionLog:
    """The sampled, bounded, non-blocking prediction log of one gateway process."""

    def __init__(self, settings: PredictionLogSettings, metrics: PredictionLogMetrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._queue: queue.Queue[LoggedRequest | None] = queue.Queue(settings.queue_size)
        self._handler = _CountingHandler(self, settings)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._last_error_log = -_ERROR_LOG_INTERVAL_S
        self._chunk_failed = False  # set by ``failed`` during one ``handle``; the writer thread only
        self._chunk_lines = 0  # lines in the chunk being handled; the writer thread only
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def sampled(self) -> bool:
        """Whether this request is logged (decided once per request)."""
        rate = self._settings.sample_rate
        return rate >= 1.0 or random.random() < rate

    def submit(self, request: LoggedRequest) -> None:
        """Queue ``request`` for writing, or drop and count it when the queue is full; never waits."""
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._metrics.dropped.inc()

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (up to ``timeout_s``), then stop the thread and close the file."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)
        self._handler.close()

    def failed(self) -> None:
        """A chunk of lines could not be written (called by the handler, on the writer thread)."""
        self._chunk_failed = True
        self._metrics.errors.inc(self._chunk_lines)
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            log.warning("prediction log %s: cannot write; dropping lines, serving goes on", self._settings.path)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            if batch[0] is not None:
                time.sleep(BATCH_WAIT_S)  # let the records of the next moments join this write
            while True:  # at most queue_size records: the queue's bound is the batch's
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = None in batch
            self._write([line for request in batch if request is not None for line in self._lines(request)])
        self._handler.flush()

    def _write(self, lines: list[str]) -> None:
        # Chunks of at most max_bytes characters (RotatingFileHandler's own measure): a chunk is written
        # after a rotation check of its own, so no file grows past max_bytes for the batching.
        limit = self._settings.max_bytes
        chunk: list[str] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) + 1 > limit:
                self._emit(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            self._emit(chunk)

    def _emit(self, chunk: list[str]) -> None:
        self._chunk_failed = False
        self._chunk_lines = len(chunk)
        text = "\n".join(chunk)
        self._handler.handle(logging.LogRecord("prediction-log", logging.INFO, "", 0, text, None, None))
        if not self._chunk_failed:
            self._metrics.written.inc(len(chunk))

    def _lines(self, request: LoggedRequest) -> list[str]:
        settings = self._settings
        stamp = datetime.fromtimestamp(request.time, UTC).isoformat()
        lines = []
        for index, (raw, top) in enumerate(zip(request.inputs, request.top_k, strict=True)):
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            line: dict[str, object] = {
                "time": stamp,
                "request_id": request.request_id,
                "model": request.model,
                "version": request.version,
                "spec_hash": request.spec_hash,
                "surface": request.surface,
                "index": index,
                "label": top[0][0],
                "top_k": top,
                "latency_ms": round(request.latency_s * 1000, 3),
                "input_bytes": len(data),
                "input_sha256": hashlib.sha256(data).hexdigest(),
                "input_kind": "text" if isinstance(raw, str) else "bytes",
            }
            if settings.raw_inputs and len(data) <= settings.raw_max_bytes:
                if isinstance(raw, str):
                    line["raw_text"] = raw
                else:
                    line["raw_b64"] = base64.b64encode(raw).decode("ascii")
            lines.append(orjson.dumps(line).decode("utf-8"))
        return lines
