"""The prediction log's writer takes what is queued in one batch: every line is written once, each file
stays within ``max_bytes``, and the counters count lines, written or failed (a real file system, the real
writer thread and real prometheus_client counters)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from service.observability.prediction_log import LoggedRequest, PredictionLog, PredictionLogMetrics
from service.settings import PredictionLogSettings

RECORDS = 60


def _record(i: int) -> LoggedRequest:
    return LoggedRequest(
        time=time.time(),
        request_id=f"batch-{i}",
        model="m",
        version=1,
        spec_hash="sha256:0",
        surface="rest",
        latency_s=0.001,
        inputs=[f"text number {i}", f"another text {i}"],
        top_k=[[("a", 0.75), ("b", 0.25)], [("b", 0.5), ("a", 0.5)]],
    )


def _log(settings: PredictionLogSettings) -> tuple[PredictionLog, CollectorRegistry]:
    registry = CollectorRegistry()
    return PredictionLog(settings, PredictionLogMetrics(registry)), registry


def test_a_batch_is_written_whole_in_chunks_within_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "batched.jsonl"
    log, registry = _log(PredictionLogSettings(path=path, max_bytes=4000, backup_count=100))
    for i in range(RECORDS):  # faster than the writer's batch wait: they are written together
        log.submit(_record(i))
    log.close()

    files = list(tmp_path.glob("batched.jsonl*"))
    assert len(files) > 1
    assert all(f.stat().st_size <= 4000 for f in files)
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert sorted((line["request_id"], line["index"]) for line in lines) == sorted(
        (f"batch-{i}", index) for i in range(RECORDS) for index in (0, 1)
    )
    assert registry.get_sample_value("classifier_prediction_log_written_total") == 2 * RECORDS
    assert registry.get_sample_value("classifier_prediction_log_errors_total") == 0


def test_failed_lines_are_counted_one_by_one(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"  # missing folders are made; a file where one should be is a failure
    not_a_folder.write_text("")
    log, registry = _log(PredictionLogSettings(path=not_a_folder / "log.jsonl"))
    for i in range(RECORDS):
        log.submit(_record(i))
    log.close()

    assert registry.get_sample_value("classifier_prediction_log_errors_total") == 2 * RECORDS
    assert registry.get_sample_value("classifier_prediction_log_written_total") == 0
