"""Classify every file of a folder: ``python -m classifier_client classify-dir DIR --model NAME --out results.csv``.

Files are sent one request each, ``concurrency`` at a time (a bounded thread pool over one channel), each
read only when its turn comes. UNAVAILABLE and RESOURCE_EXHAUSTED are retried with backoff (the client's
``RetryPolicy``); a file that still fails is written to the CSV with its error and counted, never fatal.
When DIR holds one folder per label (``DIR/LABEL/FILE``) whose names are labels of the model, the true
label is recorded and the summary gives the accuracy. A progress bar is drawn on a terminal only.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import grpc

from classifier_client.client import ClassifierClient
from classifier_client.errors import ClassifierError
from classifier_client.messages import binary_inputs, text_inputs

SUFFIXES = {
    "image": frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}),
    "audio": frozenset({".wav"}),
    "text": frozenset({".txt"}),
}
CSV_COLUMNS = ("path", "true_label", "label", "score", "abstained", "error")
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file's answer, or the error that stopped it."""

    path: Path
    true_label: str | None
    label: str | None = None
    score: float | None = None
    abstained: bool = False
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals of a run; ``accuracy`` only when the folder is class-per-folder."""

    files: int
    answered: int
    failed: int
    abstained: int
    seconds: float
    by_label: dict[str, int]
    accuracy: float | None

    def format(self) -> str:
        lines = [
            f"{self.files} files in {self.seconds:.1f}s: {self.answered} answered, {self.failed} failed,"
            f" {self.abstained} abstained"
        ]
        if self.accuracy is not None:
            lines.append(f"accuracy {self.accuracy:.2%} over {self.answered} answered files with a label folder")
        lines += [f"  {label}: {count}" for label, count in sorted(self.by_label.items())]
        return "\n".join(lines)


def list_files(root: Path, modality: str, labels: tuple[str, ...]) -> list[tuple[Path, str | None]]:
    """Files of the model's modality under ``root``, each with its folder's label when that is a model label."""
    suffixes = SUFFIXES.get(modality, frozenset())
    found = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )
    known = set(labels)
    result: list[tuple[Path, str | None]] = []
    for path in found:
        parts = path.relative_to(root).parts
        result.append((path, parts[0] if len(parts) > 1 and parts[0] in known else None))
    return result


def classify_dir(
    client: ClassifierClient,
    root: Path,
    model: str,
    out: Path,
    *,
    concurrency: int = 8,
    min_confidence: float | None = None,
    timeout: float | None = None,
    progress: TextIO | None = None,
) -> Summary:
    """Classify every file under ``root`` with ``model``, write ``out`` (CSV), return the summary."""
    info = client.get_model(model, timeout=timeout)
    files = list_files(root, info.modality or "", info.labels)
    started = time.perf_counter()

    def one(item: tuple[Path, str | None]) -> FileResult:
        path, truth = item
        try:
            inputs = (
                text_inputs(path.read_bytes().decode("utf-8", errors="replace"))
                if info.modality == "text"
                else binary_inputs("image" if info.modality == "image" else "audio", path)
            )
            result = client.classify(model, inputs, min_confidence=min_confidence, timeout=timeout)
        except (ClassifierError, OSError) as exc:
            return FileResult(path, truth, error=f"{type(exc).__name__}: {exc}")
        prediction = result.prediction
        return FileResult(path, truth, prediction.label, prediction.score, prediction.abstained)

    results: list[FileResult] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle, ThreadPoolExecutor(max_workers=concurrency) as pool:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for result in _bounded_map(pool, one, files, concurrency * 2):
            results.append(result)
            writer.writerow(_row(result))
            if progress is not None:
                _draw(progress, len(results), len(files))
    if progress is not None and files:
        progress.write("\n")
    return _summarise(results, time.perf_counter() - started)


def _bounded_map(
    pool: ThreadPoolExecutor,
    function: Callable[[tuple[Path, str | None]], FileResult],
    items: list[tuple[Path, str | None]],
    window: int,
) -> Iterator[FileResult]:
    """Results in order, with at most ``window`` files submitted and not yet collected."""
    pending: deque[Future[FileResult]] = deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _row(result: FileResult) -> list[str]:
    return [
        str(result.path),
        result.true_label or "",
        result.label or "",
        "" if result.score is None else f"{result.score:.6f}",
        "true" if result.abstained else "false",
        result.error or "",
    ]


def _draw(stream: TextIO, done: int, total: int, width: int = 30) -> None:
    filled = width * done // max(total, 1)
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    stream.flush()


def _summarise(results: list[FileResult], seconds: float) -> Summary:
    answered = [r for r in results if r.error is None]
    labelled = [r for r in answered if r.true_label is not None]
    accuracy = sum(r.label == r.true_label for r in labelled) / len(labelled) if labelled else None
    return Summary(
        files=len(results),
        answered=len(answered),
        failed=len(results) - len(answered),
        abstained=sum(r.abstained for r in answered),
        seconds=seconds,
        by_label=dict(Counter(r.label for r in answered if r.label is not None)),
        accuracy=accuracy,
    )


def progress_stream() -> TextIO | None:
    """Standard error when it is a terminal; no bar in logs and pipes."""
    return sys.stderr if sys.stderr.isatty() else None
