"""The prediction log of a real gateway: its lines, sampling, raw-input rules, rotation, drops when its
writer is stuck, a failing sink, and the export to class-per-folder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from gateway_support import running_gateway
from observability_support import observed_settings, text_body
from prometheus_client.parser import text_string_to_metric_families

from service.settings import PredictionLogSettings
from training.testing import tiny_input

ROOT = Path(__file__).resolve().parents[3]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _predlog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.predlog", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


def _counter(exposition: str, name: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not exposed")


async def test_lines_name_request_model_version_top_k_and_hash(models_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "predictions.jsonl"
    settings = observed_settings(
        models_dir,
        models=["tiny-text", "tiny-image"],
        prediction_log=PredictionLogSettings(path=log_path, raw_inputs=True),
    )
    texts = [str(tiny_input("tiny-text", "sport", seed=3)), str(tiny_input("tiny-text", "food", seed=4))]
    image = tiny_input("tiny-image", "circle", seed=1)
    assert isinstance(image, bytes)
    started = datetime.now(UTC)
    async with running_gateway(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client:
            rest = await client.post(
                "/v1/models/tiny-text:classify", json=text_body(*texts), headers={"X-Request-ID": "log-me-1"}
            )
        async with grpc.aio.insecure_channel(gateway.grpc.address) as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            answer = await stub.Classify(
                pb.ClassifyRequest(model="tiny-image", inputs=[pb.Input(image=image)], top_k=2),
                metadata=(("x-request-id", "log-me-2"),),
                timeout=60,
            )
    assert rest.status_code == 200, rest.text
    lines = [line for line in _lines(log_path) if line["request_id"] in ("log-me-1", "log-me-2")]
    assert len(lines) == 3
    print("prediction log excerpt:", json.dumps(lines[0])[:400])  # shown with -s
    text_lines = [line for line in lines if line["request_id"] == "log-me-1"]
    for line, text, prediction in zip(text_lines, texts, rest.json()["predictions"], strict=True):
        assert line["model"] == "tiny-text" and line["version"] == 1 and line["surface"] == "rest"
        assert line["spec_hash"].startswith("sha256:")
        assert line["label"] == prediction["label"]
        assert line["top_k"] == [[s["label"], s["score"]] for s in prediction["top_k"]]
        assert line["input_bytes"] == len(text.encode())
        assert line["input_sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert line["raw_text"] == text
        assert line["latency_ms"] > 0
        assert started <= datetime.fromisoformat(line["time"]) <= datetime.now(UTC)
    (image_line,) = [line for line in lines if line["request_id"] == "log-me-2"]
    assert image_line["surface"] == "grpc" and image_line["label"] == answer.predictions[0].label
    assert len(image_line["top_k"]) == 2
    assert base64.b64decode(image_line["raw_b64"]) == image
    assert image_line["input_sha256"] == hashlib.sha256(image).hexdigest()

    # Export by predicted label: a subprocess, as an operator runs it.
    out = tmp_path / "review"
    window = ["--since", started.isoformat(), "--until", (datetime.now(UTC) + timedelta(minutes=1)).isoformat()]
    done = _predlog("export", "--log", str(log_path), "--out", str(out), *window)
    assert done.returncode == 0, done.stderr
    for line, text in zip(text_lines, texts, strict=True):
        exported = out / "tiny-text" / line["label"] / f"{line['input_sha256'][:20]}.txt"
        assert exported.read_text() == text
    assert (out / "tiny-image" / image_line["label"] / f"{image_line['input_sha256'][:20]}.png").read_bytes() == image

    later = tmp_path / "later"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    done = _predlog("export", "--log", str(log_path), "--out", str(later), "--since", future)
    assert done.returncode == 0, done.stderr
    assert "exported 0," in done.stdout
    assert not later.exists()


async def test_raw_inputs_stay_out_unless_enabled_and_small(models_dir: Path, tmp_path: Path) -> None:
    off = tmp_path / "off.jsonl"
    capped = tmp_path / "capped.jsonl"
    short, long = "rain", "sunny " * 20
    for path, raw in ((off, False), (capped, True)):
        settings = observed_settings(
            models_dir,
            models=["tiny-text"],
            grpc_enabled=False,
            prediction_log=PredictionLogSettings(path=path, raw_inputs=raw, raw_max_bytes=16),
        )
        async with (
            running_gateway(settings) as gateway,
            httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
        ):
            response = await client.post(
                "/v1/models/tiny-text:classify", json=text_body(short, long), headers={"X-Request-ID": "raw"}
            )
            assert response.status_code == 200
    off_lines = [line for line in _lines(off) if line["request_id"] == "raw"]
    assert len(off_lines) == 2 and not any("raw_text" in line or "raw_b64" in line for line in off_lines)
    capped_lines = [line for line in _lines(capped) if line["request_id"] == "raw"]
    assert [line.get("raw_text") for line in capped_lines] == [short, None]
    assert capped_lines[1]["input_sha256"] == hashlib.sha256(long.encode()).hexdigest()


async def test_rotation_bounds_the_files_and_sampling_zero_logs_nothing(models_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "rotated.jsonl"
    unsampled = tmp_path / "unsampled.jsonl"
    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        prediction_log=PredictionLogSettings(path=log_path, max_bytes=2000, backup_count=2, raw_inputs=True),
    )
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        for i in range(30):
            response = await client.post("/v1/models/tiny-text:classify", json=text_body(f"match {i} at noon"))
            assert response.status_code == 200
    files = sorted(p.name for p in tmp_path.glob("rotated.jsonl*"))
    assert files == ["rotated.jsonl", "rotated.jsonl.1", "rotated.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)
    assert all(_lines(tmp_path / name) for name in files)

    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        prediction_log=PredictionLogSettings(path=unsampled, sample_rate=0.0),
    )
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        assert (await client.post("/v1/models/tiny-text:classify", json=text_body("x"))).status_code == 200
    assert not unsampled.exists()


async def test_stuck_writer_drops_and_counts_while_requests_are_answered(models_dir: Path, tmp_path: Path) -> None:
    # A FIFO nobody reads: the writer thread blocks opening it, so the queue fills and records are dropped.
    fifo = tmp_path / "stuck.fifo"
    os.mkfifo(fifo)
    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        prediction_log=PredictionLogSettings(path=fifo, queue_size=2),
    )
    reader = None
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        try:
            for i in range(10):
                response = await client.post("/v1/models/tiny-text:classify", json=text_body(f"storm {i}"))
                assert response.status_code == 200
            exposition = (await client.get("/metrics")).text
        finally:
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer finish at shutdown
    os.close(reader)
    # 10 requests: at most 2 queued, and a batch of at most 1 + 2 taken by the writer before it blocked.
    assert _counter(exposition, "classifier_prediction_log_dropped_total") >= 5
    assert _counter(exposition, "classifier_prediction_log_written_total") == 0


async def test_missing_folders_of_the_log_path_are_made(models_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "new" / "folders" / "predictions.jsonl"
    settings = observed_settings(
        models_dir, models=["tiny-text"], grpc_enabled=False, prediction_log=PredictionLogSettings(path=log_path)
    )
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        response = await client.post("/v1/models/tiny-text:classify", json=text_body("fresh folders"))
        assert response.status_code == 200
    # The gateway's stop writes what is queued: the request's line is there, no write failed.
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [line["request_id"] for line in lines].count(response.headers["x-request-id"]) == 1
    assert lines[-1]["model"] == "tiny-text"


async def test_the_readiness_self_check_is_not_traffic(models_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "predictions.jsonl"
    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        prediction_log=PredictionLogSettings(path=log_path, raw_inputs=True),
    )
    async with (
        running_gateway(settings) as gateway,  # ready: the self-check has classified its sample
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post(
            "/v1/models/tiny-text:classify", json=text_body("only me"), headers={"X-Request-ID": "the-one"}
        )
        assert response.status_code == 200
    # Its made-up sample would otherwise be a line that `predlog export` puts among retraining inputs.
    assert [(line["request_id"], line.get("raw_text")) for line in _lines(log_path)] == [("the-one", "only me")]


async def test_unwritable_sink_is_counted_and_serving_goes_on(models_dir: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        prediction_log=PredictionLogSettings(path=not_a_folder / "predictions.jsonl"),
    )
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        for i in range(3):
            assert (await client.post("/v1/models/tiny-text:classify", json=text_body(f"bake {i}"))).status_code == 200
        exposition = ""
        for _ in range(100):  # the writer thread counts asynchronously
            exposition = (await client.get("/metrics")).text
            if _counter(exposition, "classifier_prediction_log_errors_total") >= 3:
                break
            await asyncio.sleep(0.05)
    assert _counter(exposition, "classifier_prediction_log_errors_total") >= 3
    assert _counter(exposition, "classifier_prediction_log_written_total") == 0


async def test_each_worker_writes_its_own_file_and_export_reads_them_all(models_dir: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "predictions.jsonl"
    texts = {0: "sunny and warm", 1: "rain all day"}
    for worker, text in texts.items():  # two workers of one gateway, one after the other (same config)
        settings = observed_settings(
            models_dir,
            models=["tiny-text"],
            grpc_enabled=False,
            worker_id=worker,
            prediction_log=PredictionLogSettings(path=log_path, raw_inputs=True),
        )
        async with (
            running_gateway(settings) as gateway,
            httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
        ):
            response = await client.post("/v1/models/tiny-text:classify", json=text_body(text))
            assert response.status_code == 200
    assert not log_path.exists()
    for worker, text in texts.items():
        logged = {line.get("raw_text") for line in _lines(tmp_path / f"predictions.w{worker}.jsonl")}
        assert logged == {text}  # its own request's line only: the readiness self-check is not logged
    out = tmp_path / "exported"
    done = _predlog("export", "--log", str(log_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    exported = {path.read_text() for path in out.rglob("*.txt")}
    assert set(texts.values()) <= exported
