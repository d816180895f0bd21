"""Export logged raw inputs into a class-per-folder layout by predicted label, for review and retraining.

Reads a prediction log and its rotated files (oldest first), and those of every worker process
(``NAME.wID.EXT``, ``service.observability.prediction_log.worker_log_path``), and writes each logged raw
input whose time is in ``[since, until)`` to ``OUT/MODEL/LABEL/SHA256-PREFIX.EXT``: ``.txt`` for text, and for bytes the
extension their first bytes name (PNG, JPEG, GIF, WebP, BMP, WAV; ``.bin`` otherwise). The same input
predicted the same way twice is one file. Lines without a raw input (``raw_inputs`` off, or over the size
cap) are counted, not exported; unreadable lines are counted and skipped.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"GIF8", 0, ".gif"),
    (b"BM", 0, ".bmp"),
    (b"WEBP", 8, ".webp"),
    (b"WAVE", 8, ".wav"),
)


@dataclass
class ExportReport:
    """What an export did."""

    exported: int = 0
    duplicates: int = 0
    without_raw: int = 0
    outside_window: int = 0
    unreadable: int = 0
    per_label: dict[str, int] = field(default_factory=dict)


def log_files(path: Path) -> list[Path]:
    """``path`` and its rotated files, oldest first (``path.N`` ... ``path.1``, ``path``)."""
    rotated = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), candidate))
    files = [p for _, p in sorted(rotated, reverse=True)]
    return [*files, path] if path.exists() else files


def all_log_files(path: Path) -> list[Path]:
    """``log_files`` of ``path`` and of each worker's file beside it (``NAME.w0.EXT``, ``NAME.w1.EXT`` ...)."""
    stem, suffix = re.escape(path.stem), re.escape(path.suffix)
    pattern = re.compile(rf"{stem}\.w(\d+){suffix}")
    found = sorted(
        (int(match.group(1)), candidate)
        for candidate in path.parent.glob(f"{path.stem}.w*{path.suffix}")
        if (match := pattern.fullmatch(candidate.name)) is not None
    )
    return [*log_files(path), *(f for _, worker_file in found for f in log_files(worker_file))]


def folder_name(label: str) -> str:
    """A label as a safe folder name (path separators and odd characters become ``_``)."""
    name = _UNSAFE.sub("_", label)
    return name if name.strip(".") else "_"


def extension_of(data: bytes) -> str:
    """The file extension that ``data``'s first bytes name."""
    for magic, offset, extension in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return extension
    return ".bin"


def _records(files: list[Path], report: ExportReport) -> Iterator[dict[str, object]]:
    for path in files:
        with path.open("rb") as lines:
            for line in lines:
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    report.unreadable += 1
                    continue
                if isinstance(record, dict):
                    yield record
                else:
                    report.unreadable += 1


def export(
    log_path: Path, out: Path, *, since: datetime | None, until: datetime | None, model: str | None = None
) -> ExportReport:
    """Write the raw inputs logged in ``[since, until)`` (of ``model``, or every model) under ``out``."""
    report = ExportReport()
    for record in _records(all_log_files(log_path), report):
        try:
            when = datetime.fromisoformat(str(record["time"]))
            record_model, label, digest = str(record["model"]), str(record["label"]), str(record["input_sha256"])
        except (KeyError, ValueError):
            report.unreadable += 1
            continue
        if model is not None and record_model != model:
            continue
        if (since is not None and when < since) or (until is not None and when >= until):
            report.outside_window += 1
            continue
        if "raw_text" in record:
            data, extension = str(record["raw_text"]).encode("utf-8"), ".txt"
        elif "raw_b64" in record:
            try:
                data = base64.b64decode(str(record["raw_b64"]), validate=True)
            except binascii.Error:
                report.unreadable += 1
                continue
            extension = extension_of(data)
        else:
            report.without_raw += 1
            continue
        target = out / folder_name(record_model) / folder_name(label) / f"{digest[:20]}{extension}"
        if target.exists():
            report.duplicates += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        report.exported += 1
        key = f"{record_model}/{label}"
        report.per_label[key] = report.per_label.get(key, 0) + 1
    return report
