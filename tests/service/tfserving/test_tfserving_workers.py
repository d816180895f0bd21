"""``CLASSIFIER_WORKERS=2``: a real supervisor with two TF Serving mode workers on shared ports.

One gateway process tree over the scripted model server, driven through its phases: both workers answer
on the same ports (the probe header names the worker), neither loads TensorFlow, metrics merge across
them, an API key's rate holds over both, concurrent requests share Predict RPCs, a killed worker is
restarted, and SIGTERM drains a request in flight before every process exits 0.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc
from prometheus_client.parser import text_string_to_metric_families
from tfserving_support import ROOT, free_port, model_server_config, scripted_server

from service.auth import cli as keys_cli
from training.testing import tiny_input

WORKER_HEADER = "X-Classifier-Worker"


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _add_key(keys_file: Path, *argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert keys_cli.main(["add", "--file", str(keys_file), *argv]) == 0
    return out.getvalue().strip().splitlines()[-1]


async def _workers_answering(url: str, expected: int, timeout_s: float = 180.0) -> set[str]:
    """Until ``expected`` distinct workers have answered /readyz 200 on fresh connections."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        while len(seen) < expected:
            assert time.monotonic() < deadline, f"only workers {seen} became ready"
            try:
                response = await http.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 200:
                seen.add(response.headers[WORKER_HEADER])
            else:
                await asyncio.sleep(0.05)
    return seen


def _sample(exposition: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_two_workers_share_ports_limits_and_metrics_restart_and_drain(embedded_backend, tiny_models, tmp_path):
    keys_file = tmp_path / "keys.json"
    limited = _add_key(keys_file, "--name", "limited", "--scope", "classify", "--rate", "0.001", "--burst", "4")
    free = _add_key(keys_file, "--name", "free", "--scope", "classify")
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    image = {"instances": [{"b64": base64.b64encode(tiny_input("tiny-image", "cross")).decode()}]}
    classify = "/v1/models/tiny-image:classify"

    async with scripted_server(embedded_backend, model_server_config(tiny_models)) as (tfs_port, tf_serving):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSIFIER_")}
        env.update(
            CLASSIFIER_WORKERS="2",
            CLASSIFIER_BACKEND="tfserving",
            CLASSIFIER_TFSERVING_TARGET=f"127.0.0.1:{tfs_port}",
            CLASSIFIER_MODELS_DIR=str(tiny_models),
            CLASSIFIER_PORT=str(port),
            CLASSIFIER_GRPC_PORT=str(grpc_port),
            CLASSIFIER_POLL_INTERVAL_S="0.2",
            CLASSIFIER_AUTH__KEYS_FILE=str(keys_file),
            CLASSIFIER_REQUEST_TIMEOUT_S="10",
        )
        log_file = (tmp_path / "gateway.log").open("w+")
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            # Both workers answer on the one port, each for itself.
            assert await _workers_answering(url, 2) == {"0", "1"}
            workers = _children(supervisor.pid)
            assert len(workers) == 2
            for pid in workers:  # TF Serving mode: no TensorFlow library mapped in any worker
                assert "tensorflow" not in Path(f"/proc/{pid}/maps").read_text()
                rss = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if "VmRSS" in line)
                print(f"\nworker pid {pid}: {rss.split(':')[1].strip()}")

            fresh = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=url, timeout=30, limits=fresh) as http:
                live = await http.get("/healthz")
                assert live.status_code == 200 and live.headers[WORKER_HEADER] in {"0", "1"}
                # The limited key's burst of 4 holds over both workers: 4 of 12 pass, wherever they land.
                codes = [
                    (await http.post(classify, json=image, headers={"Authorization": f"Bearer {limited}"})).status_code
                    for _ in range(12)
                ]
                assert sorted(codes) == [200] * 4 + [429] * 8
                # Any worker's /metrics counts every worker's answers.
                exposition = (await http.get("/metrics")).text
                assert _sample(exposition, "classifier_requests_total", surface="rest", code="429") == 8
                assert _sample(exposition, "classifier_model_ready", model="tiny-image") == 1

            async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {free}"}) as http:
                # Concurrent requests share Predict RPCs (per worker, within each one's batches).
                tf_serving.calls = 0
                answers = await asyncio.gather(*(http.post(classify, json=image) for _ in range(24)))
                assert {a.status_code for a in answers} == {200}
                assert {a.json()["predictions"][0]["label"] for a in answers} == {"cross"}
                print(f"24 concurrent requests over 2 workers -> {tf_serving.calls} Predict RPCs")
                assert tf_serving.calls < 24

            # The gRPC port is shared the same way (each worker bound it with SO_REUSEPORT to start at all).
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                request = pb.ClassifyRequest(
                    model="tiny-image", inputs=[pb.Input(image=tiny_input("tiny-image", "cross"))]
                )
                reply = await pb_grpc.ClassifierStub(channel).Classify(
                    request, metadata=(("authorization", f"Bearer {free}"),), timeout=30
                )
                assert reply.predictions[0].label == "cross"

            # A worker that dies is replaced, on the same port.
            victim = min(workers)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 120
            while len(_children(supervisor.pid) - {victim}) < 2:
                assert time.monotonic() < deadline, "the killed worker was not restarted"
                await asyncio.sleep(0.1)
            assert await _workers_answering(url, 2) == {"0", "1"}

            # SIGTERM: a request in flight (TF Serving now takes 1.5 s) is answered, then every process exits 0.
            tf_serving.delay_s = 1.5
            async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {free}"}) as http:
                calls_before = tf_serving.calls
                in_flight = asyncio.create_task(http.post(classify, json=image))
                while tf_serving.calls == calls_before:  # until its Predict RPC is being answered
                    await asyncio.sleep(0.02)
                supervisor.send_signal(signal.SIGTERM)
                answer = await in_flight
            assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "cross"
            assert await asyncio.to_thread(supervisor.wait, 120) == 0
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
                supervisor.wait()
            log_file.seek(0)
            output = log_file.read()
            log_file.close()
        assert output.count("gateway: stopped") == 2, output[-3000:]  # the survivor and the killed one's replacement
